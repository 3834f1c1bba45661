"""A shop named the short way (`acme` for `acme.myshopify.com`), resolved against the config."""
from __future__ import annotations

from collections.abc import Iterable

from mortard.operator.errors import UserError


def full_shop_name(name: str, configured: Iterable[str]) -> str:
    """The configured shop `name` means: itself when configured, else the one shop whose domain's
    first label is `name` (or that is `name`.myshopify.com). Left as given when no shop matches —
    Postgres may still hold orders of a shop no longer in the config, under its full name."""
    shops = sorted(set(configured))
    if name in shops:
        return name
    matches = [s for s in shops if s.split(".", 1)[0] == name or s == f"{name}.myshopify.com"]
    if len(matches) > 1:
        raise UserError(f"shop {name!r} could be {', '.join(matches)}: give the full domain")
    return matches[0] if matches else name
