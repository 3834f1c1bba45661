-- Which Heartland customer (and which of their addresses) a Shopify buyer turned out to be, per
-- Heartland account, so a returning buyer costs no customer search nor address listing
-- (mortard/store/customers.py). Only a shortcut: when Heartland no longer has the customer or an
-- address, the daemon forgets the row and searches Heartland again.
CREATE TABLE customer_memory (
    account       text   NOT NULL,
    match_key     text   NOT NULL,        -- "email:<address>" or "phone:<number>", as searched
    customer_id   bigint NOT NULL,
    addresses     jsonb  NOT NULL DEFAULT '[]'::jsonb,   -- [[heartland address id, {fields}], ...]
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, match_key)
);
