-- GitHub App deliveries and installations (issue 9).

-- One row per X-GitHub-Delivery: written by the github function before it answers, then by the router. A delivery
-- that matched nothing stays visible here with why; a redelivery (same id) finds its row and is not processed again.
CREATE TABLE github_webhook_events (
    delivery_id      TEXT PRIMARY KEY,
    event            TEXT NOT NULL,
    action           TEXT,
    repository       TEXT,
    installation_id  BIGINT,
    sender           TEXT,
    status           TEXT NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'routed', 'failed')),
    candidates       INTEGER,  -- triggers of the repository and event the router considered
    matched          INTEGER,  -- of them, those whose filters matched (each fired, or was refused with a reason)
    outcomes         JSONB,    -- per candidate: workflow_id, trigger_id, outcome, reason, execution_id
    note             TEXT,     -- why nothing was routed (an installation event, a suspended installation, ...)
    error            TEXT,     -- the last routing attempt's failure
    attempts         INTEGER NOT NULL DEFAULT 0,
    payload_text     TEXT,     -- the raw body, byte for byte, until the delivery is routed
    received_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The sweep deletes old rows (their ids are long past GitHub's 3-day redelivery window).
CREATE INDEX idx_github_webhook_events_received ON github_webhook_events (received_at);

-- The App's installations as `installation` and `installation_repositories` events describe them. A suspended or
-- removed installation fires nothing; one never seen here still fires (the App may predate the service).
CREATE TABLE github_installations (
    installation_id       BIGINT PRIMARY KEY,
    account_login         TEXT,
    account_type          TEXT,
    state                 TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'removed')),
    repository_selection  TEXT,
    repositories          TEXT[] NOT NULL DEFAULT '{}',  -- owner/name, as the events list them
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
