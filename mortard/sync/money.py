"""Money: Decimal to the cent, and discounts allocated so that line sums are exact."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_money(value: Any) -> Decimal:
    """Parse an amount (Shopify sends strings) to Decimal cents. Floats go through str, never binary."""
    if isinstance(value, float):
        value = repr(value)
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"amount {value!r} is not finite")
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class PriceGroup:
    """`qty` units sold at `unit_price` each."""

    qty: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.qty


def unit_price_groups(unit_price: Decimal, qty: int, discount: Decimal) -> tuple[PriceGroup, ...]:
    """Spread a line's discount over its units so that the groups sum exactly to the net line value.

    Heartland lines carry one adjusted unit price, so a discount that doesn't divide evenly becomes
    two groups one cent apart: 3 × 10.00 less 1.00 = 2 × 9.67 + 1 × 9.66 = 29.00.
    """
    if qty <= 0:
        return ()
    net_cents = int(((unit_price * qty - discount) / CENT).to_integral_value())
    base, extra = divmod(net_cents, qty)
    groups = []
    if extra:
        groups.append(PriceGroup(extra, (Decimal(base + 1) * CENT).quantize(CENT)))
    if qty - extra:
        groups.append(PriceGroup(qty - extra, (Decimal(base) * CENT).quantize(CENT)))
    return tuple(groups)


def take_units(groups: tuple[PriceGroup, ...], qty: int) -> tuple[PriceGroup, ...]:
    """The first `qty` units of a line, in group order (the dearer cent first, deterministically)."""
    out = []
    left = qty
    for g in groups:
        if left <= 0:
            break
        n = min(left, g.qty)
        out.append(PriceGroup(n, g.unit_price))
        left -= n
    return tuple(out)


def allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` in proportion to `weights`, to the cent, summing exactly (largest remainder)."""
    if not weights:
        return []
    weight_sum = sum(weights, ZERO)
    if weight_sum == 0:
        shares = [ZERO] * len(weights)
        shares[0] = total
        return shares
    total_cents = int((total / CENT).to_integral_value())
    raw = [Decimal(total_cents) * w / weight_sum for w in weights]
    floors = [int(r.to_integral_value(rounding="ROUND_FLOOR")) for r in raw]
    left = total_cents - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [(Decimal(c) * CENT).quantize(CENT) for c in floors]
