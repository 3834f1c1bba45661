-- What the daemon's health checks found last, kept in Postgres so every process (the console, the
-- CLI, other daemons) sees it: each Heartland account's token check (mortard/heartland/token_check.py)
-- and each shop's webhook-subscription check (mortard/reconcile/subscriptions.py).

-- One row per Heartland account: the last token check. `refused` when Heartland answered 401 or 403.
CREATE TABLE heartland_token_checks (
    account        text PRIMARY KEY,
    refused        boolean NOT NULL,
    status         integer,                 -- the HTTP status answered; NULL when no answer came
    detail         text NOT NULL DEFAULT '',
    refused_since  timestamptz,             -- since when it has refused (NULL while accepted)
    checked_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per shop: the last webhook-subscription check against Shopify's Admin API.
CREATE TABLE webhook_subscription_checks (
    shop         text PRIMARY KEY,
    address      text NOT NULL,
    api_version  text NOT NULL,
    missing      integer NOT NULL,
    topics       jsonb NOT NULL,            -- [{topic, status}], status ok | missing | elsewhere | version
    checked_at   timestamptz NOT NULL DEFAULT now()
);
