-- The watch over orders that wait (mortard/sync/watch.py): whose turn it is per account, and the
-- drift it notices (orders changed in Heartland by hand after mortard took them there).

-- One row per Heartland account: the pass after next_at belongs to whichever daemon takes it
-- first, so several daemons make one pass an interval between them, not one each.
CREATE TABLE watch_turns (
    account   text PRIMARY KEY,
    next_at   timestamptz NOT NULL,
    owner     text NOT NULL
);

-- What staff changed in Heartland on an order mortard opened, closed or left pending: recorded
-- once per distinct change (fingerprint), with when the watch noticed it. Nothing is overwritten.
CREATE TABLE order_drift (
    id           bigserial PRIMARY KEY,
    shop         text NOT NULL,
    order_id     bigint NOT NULL,
    kind         text NOT NULL,           -- sync/states.py DRIFT_KINDS
    detail       jsonb NOT NULL,
    fingerprint  text NOT NULL,
    noticed_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop, order_id, fingerprint)
);
CREATE INDEX order_drift_order ON order_drift (shop, order_id, id);
