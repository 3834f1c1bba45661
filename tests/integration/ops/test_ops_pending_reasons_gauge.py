"""The pending-reasons gauge counts what `orders list` shows: pending orders by reason code."""
from __future__ import annotations

from mortard.store.stats import pending_reasons
from mortard.ops.metrics import Metrics


async def test_pending_orders_are_counted_by_reason_code(pool):
    rows = [(1, "pending", [{"code": "payment_after_close", "message": "10.00 paid after close"}]),
            (2, "pending", [{"code": "payment_after_close", "message": "x"}, {"code": "total_mismatch", "message": "y"}]),
            (3, "invoiced", [{"code": "payment_after_close", "message": "an old reason of a settled order"}]),
            (4, "pending", [])]
    for order_id, state, reasons in rows:
        await pool.execute("INSERT INTO orders (shop, order_id, sync_state, pending_reasons) VALUES ($1, $2, $3, $4)",
                           "s.myshopify.com", order_id, state, reasons)
    m = Metrics()
    m.set_pending_reasons(await pending_reasons(pool))
    value = m.registry.get_sample_value
    assert value("mortard_orders_pending_reasons", {"code": "payment_after_close"}) == 2
    assert value("mortard_orders_pending_reasons", {"code": "total_mismatch"}) == 1
