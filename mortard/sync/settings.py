"""Per-shop sync settings: what a merchant chooses about how orders land in Heartland.

Defaults are what a merchant expects without configuring anything (auto-invoice on, email then
phone customer matching, route by location priority, prefer one location per order).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ShopSettings:
    # Invoice automatically after distributing; off = create, distribute, open and stop.
    auto_invoice: bool = True
    # Heartland public_id = prefix + Shopify order name ("#1001" -> "S-#1001" with prefix "S-").
    order_prefix: str = ""
    # Customer matching rule, tried in order.
    customer_match: tuple[str, ...] = ("email", "phone")
    # The Heartland order-source location (public_id), where revenue is booked.
    source_location: str = "ONLINE"
    # "priority" routes by location_priority; "shopify_location" follows Shopify's location_id.
    routing: str = "priority"
    # Ship-from locations (public_ids) in preference order; empty = every location but the source.
    location_priority: tuple[str, ...] = ()
    # Shopify location id (as text) -> Heartland location public_id, for routing = "shopify_location".
    shopify_location_map: dict[str, str] = field(default_factory=dict)
    # Try one location that can fill the whole order before routing line by line.
    prefer_single_location: bool = True
    # Allow one line's quantity to be split across locations.
    allow_split: bool = True
    # Order tag -> the only locations (public_ids) an order with that tag may ship from.
    tag_locations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # A location that takes lines nobody can fill (its stock may go negative); None = leave undistributed.
    backorder_location: str | None = None
    # Which Heartland item field the Shopify SKU matches: "public_id" or "custom@<key>".
    item_match: str = "public_id"
    # A SKU with no Heartland item: "pending" (order waits for staff) or "placeholder".
    unknown_item: str = "pending"
    placeholder_item: str = "MISC"
    # Heartland custom field key -> source: "const:<text>", "note:<attribute name>",
    # "tag:<tag>" (yes/no), "shopify:order_id", "shopify:name".
    custom_fields: dict[str, str] = field(default_factory=lambda: {"shopify_order_id": "shopify:order_id"})
    # Shopify gateway -> Heartland payment type name ("*" is the fallback).
    payment_types: dict[str, str] = field(default_factory=lambda: {"*": "Shopify", "gift_card": "Gift Card"})
    # Tag filters: with an allow list only tagged orders sync; an ignore tag always skips.
    tag_allow: tuple[str, ...] = ()
    tag_ignore: tuple[str, ...] = ()
    skip_test_orders: bool = True
    # Non-inventory item for money-only refunds (shipping refunds, goodwill refunds).
    refund_item: str = "REFUND"
    # Where return tickets land (public_id); None = the source location.
    restock_location: str | None = None
    # Orders waiting for stock are re-planned (and, with auto_invoice, invoiced) when stock arrives;
    # off leaves them to staff.
    finish_when_stock_arrives: bool = True
    # The shop's currency, which its Heartland account books in; an order in another one is refused.
    currency: str = "USD"

    def __post_init__(self) -> None:
        if self.routing not in ("priority", "shopify_location"):
            raise ValueError(f"routing must be 'priority' or 'shopify_location', not {self.routing!r}")
        if self.unknown_item not in ("pending", "placeholder"):
            raise ValueError(f"unknown_item must be 'pending' or 'placeholder', not {self.unknown_item!r}")
        for rule in self.customer_match:
            if rule not in ("email", "phone"):
                raise ValueError(f"customer_match entries must be 'email' or 'phone', not {rule!r}")
        if not (self.item_match == "public_id" or self.item_match.startswith("custom@")):
            raise ValueError(f"item_match must be 'public_id' or 'custom@<key>', not {self.item_match!r}")
        for key, source in self.custom_fields.items():
            kind = source.split(":", 1)[0]
            if kind not in ("const", "note", "tag", "shopify"):
                raise ValueError(f"custom_fields.{key}: source must start with const:, note:, tag: or shopify:")
