-- mortard's schema: the inbox of Shopify events, the orders' sync state and Heartland mirror, the
-- journal of every Heartland mutation, the documents mortard created, and the dead letters.

-- Per-shop settings set by operators (`mortard shops set`); they override the config file's.
CREATE TABLE shops (
    shop               text PRIMARY KEY,
    heartland_account  text,
    settings           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Every accepted Shopify event, once. dedupe_key = webhook id, else event id, else Kafka coordinates.
CREATE TABLE events (
    id            bigserial PRIMARY KEY,
    shop          text NOT NULL,
    order_id      bigint NOT NULL,
    topic         text NOT NULL,
    dedupe_key    text NOT NULL,
    webhook_id    text,
    event_id      text,
    triggered_at  timestamptz,
    kafka_topic   text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset  bigint NOT NULL,
    stale         boolean NOT NULL DEFAULT false,
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop, dedupe_key)
);
CREATE INDEX events_order ON events (shop, order_id, id);

-- One row per Shopify order: its newest snapshot, its sync state and what mortard knows of Heartland.
CREATE TABLE orders (
    shop               text NOT NULL,
    order_id           bigint NOT NULL,
    order_name         text,
    snapshot           jsonb,                -- newest orders/* payload (by updated_at)
    snapshot_updated_at timestamptz,
    refunds            jsonb NOT NULL DEFAULT '{}'::jsonb,  -- refund id -> refund, merged
    transactions       jsonb NOT NULL DEFAULT '{}'::jsonb,  -- transaction id -> transaction, merged
    sync_state         text NOT NULL DEFAULT 'received',
    state_changed_at   timestamptz NOT NULL DEFAULT now(),
    heartland_account  text,
    heartland_order_id bigint,
    mirror             jsonb NOT NULL DEFAULT '{}'::jsonb,  -- Heartland state as mortard last saw it
    mirror_dirty       boolean NOT NULL DEFAULT false,      -- re-read Heartland before planning
    pending_reasons    jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{code, message}]
    attempts           integer NOT NULL DEFAULT 0,
    last_error         text,
    -- due_seq counts events; done_seq is the due_seq the last converged run saw.
    due_seq            bigint NOT NULL DEFAULT 0,
    done_seq           bigint NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,
    lease_owner        text,
    lease_until        timestamptz,
    first_event_at     timestamptz NOT NULL DEFAULT now(),
    invoiced_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, order_id)
);
CREATE INDEX orders_due ON orders (next_attempt_at) WHERE due_seq > done_seq OR next_attempt_at IS NOT NULL;
CREATE INDEX orders_state ON orders (sync_state);
CREATE INDEX orders_name ON orders (shop, order_name);

-- Shopify line item -> Heartland order line(s) (a split line has one row per location).
CREATE TABLE order_lines (
    shop               text NOT NULL,
    order_id           bigint NOT NULL,
    shopify_line_id    bigint NOT NULL,
    heartland_line_id  bigint NOT NULL,
    item_id            bigint NOT NULL,
    qty                integer NOT NULL,
    ship_from_location_id bigint,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, order_id, heartland_line_id)
);

-- Every Heartland document mortard created: orders, invoices, tickets, customers.
CREATE TABLE heartland_documents (
    id            bigserial PRIMARY KEY,
    shop          text NOT NULL,
    order_id      bigint,
    kind          text NOT NULL,             -- order | invoice | ticket | customer | address | payment
    heartland_id  bigint NOT NULL,
    public_id     text,
    location_id   bigint,
    amount        numeric(14, 2),
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop, kind, heartland_id)
);
CREATE INDEX heartland_documents_order ON heartland_documents (shop, order_id);

-- Every mutating Heartland call, written before it is sent and completed after the answer.
CREATE TABLE journal (
    id            bigserial PRIMARY KEY,
    shop          text NOT NULL,
    order_id      bigint NOT NULL,
    action        text NOT NULL,
    fingerprint   text NOT NULL,
    request       jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'sent',   -- sent | ok | failed | ambiguous | resolved
    heartland_id  bigint,
    http_status   integer,
    response      jsonb,
    error         text,
    sent_at       timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX journal_order ON journal (shop, order_id, id);
CREATE INDEX journal_open ON journal (shop, order_id) WHERE status IN ('sent', 'ambiguous');

-- State changes and notes, for the order's timeline.
CREATE TABLE order_history (
    id          bigserial PRIMARY KEY,
    shop        text NOT NULL,
    order_id    bigint NOT NULL,
    kind        text NOT NULL,        -- state | plan | change | note
    from_state  text,
    to_state    text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_history_order ON order_history (shop, order_id, id);

-- Records that could not be taken in, with everything needed to look at them or replay them.
CREATE TABLE dead_letters (
    id              bigserial PRIMARY KEY,
    kafka_topic     text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    key             bytea,
    value           bytea,
    headers         jsonb NOT NULL DEFAULT '[]'::jsonb,   -- [[name, base64 value], ...]
    reason          text NOT NULL,
    detail          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    replayed_at     timestamptz,
    UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);
