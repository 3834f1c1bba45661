"""A write Heartland applied whose answer is lost to a dropped connection reaches mortard as
ambiguous, sent once: never silently re-sent by the HTTP library and refused the second time."""
from __future__ import annotations

import pytest

from mortard.heartland import HeartlandAccount, HeartlandAmbiguous, HeartlandClient
from stack import start_sandbox


async def test_a_dropped_put_is_ambiguous_and_sent_once(http):
    """aiohttp re-sends PUT and DELETE on a reused connection that drops (`_no_silent_resend`)."""
    method = "PUT"
    runner, url = await start_sandbox()
    try:
        account = HeartlandAccount(name="acme", token="sandbox-token-acme", base_url=f"{url}/acme/api/",
                                   rate_per_second=500, burst=100)
        async with HeartlandClient(account) as client:
            (loc, *_) = [x for x in await client.list_locations() if x["stations"]]   # a kept-alive connection
            customer = await client.create_customer({"first_name": "A", "last_name": "B", "email": "a@b.c"})
            order = await client.create_order({"customer_id": customer, "source_location_id": loc["id"],
                                               "station_id": loc["stations"][0]["id"]})
            route = f"{method} /api/sales/orders/*"
            async with http.put(f"{url}/_sandbox/faults", json={"accounts": {"acme": {"drop_rate": 1.0, "routes": [route]}}}) as r:
                r.raise_for_status()
            with pytest.raises(HeartlandAmbiguous):
                await client.set_order_status(order, client.dialect.status_cancelled)
            async with http.get(f"{url}/_sandbox/requests") as r:
                counts = (await r.json())["acme"]["requests"]
        sent = {k: v for k, v in counts.items() if k.startswith(method)}
        assert sum(sum(by_status.values()) for by_status in sent.values()) == 1, sent
    finally:
        await runner.cleanup()
