"""SQL conditions on `orders o` that several queries share, so each is written once."""
from __future__ import annotations


def reason_is(param: str) -> str:
    """The order has a reason with code `param` (a text parameter such as `$2`); NULL matches any."""
    return (f"({param}::text IS NULL OR o.pending_reasons @> "
            f"jsonb_build_array(jsonb_build_object('code', {param}::text)))")
