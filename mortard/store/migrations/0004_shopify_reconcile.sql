-- Reconciliation with Shopify's Admin API: where each event came from, and each shop's durable watermark.

-- webhook (through Kafka), reconcile (the periodic Admin API sweep) or resync (an operator's command).
ALTER TABLE events ADD COLUMN source text NOT NULL DEFAULT 'webhook';

-- One row per shop: the highest Shopify updated_at whose orders are all durable in the inbox.
CREATE TABLE shopify_reconcile (
    shop            text PRIMARY KEY,
    watermark       timestamptz,
    last_run_at     timestamptz,
    last_ok_at      timestamptz,
    last_error      text,
    recovered       bigint NOT NULL DEFAULT 0,
    -- One daemon of a group reconciles a shop at a time (the others would spend the same API cost).
    leader          text,
    leader_until    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
