"""`mortard demo`: the whole system on embedded servers with a Shopify day played through it —
`run.py` (the run and the command), `stack.py` (the servers), `scenario.py` (the day: `day.py`,
`order_shapes.py`, `follow_ups.py`), `play.py` (the webhooks sent), `progress.py`, `summary.py`."""
