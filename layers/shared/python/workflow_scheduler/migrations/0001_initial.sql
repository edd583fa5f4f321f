-- Deployments, the trigger index (seed 10.2) and the audit of firings.

CREATE TABLE deployments (
    workflow_id    TEXT PRIMARY KEY,
    deployment_id  UUID NOT NULL,
    owner          TEXT NOT NULL,
    spec           JSONB NOT NULL,
    version        INTEGER NOT NULL CHECK (version > 0),
    status         TEXT NOT NULL CHECK (status IN ('deployed', 'paused', 'undeployed')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_deployments_owner ON deployments (owner);

CREATE TABLE trigger_index (
    id                      UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id             TEXT NOT NULL REFERENCES deployments (workflow_id) ON DELETE CASCADE,
    trigger_id              TEXT NOT NULL,
    trigger_type            TEXT NOT NULL CHECK (trigger_type IN ('cron', 'manual', 'webhook', 'email', 'github')),
    trigger_config          JSONB NOT NULL,
    config_hash             TEXT NOT NULL,
    -- The deployment version that last (re)registered this trigger: a firing carrying another is stale.
    version                 INTEGER NOT NULL,
    deployment_status       TEXT NOT NULL DEFAULT 'active' CHECK (deployment_status IN ('active', 'paused', 'disabled')),
    -- Type-specific lookup columns.
    cron_expression         TEXT,
    timezone                TEXT,
    webhook_path            TEXT,
    email_filter            TEXT,
    github_repository       TEXT,
    github_events           TEXT[],
    github_installation_id  BIGINT,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (workflow_id, trigger_id)
);
CREATE INDEX idx_trigger_type ON trigger_index (trigger_type);
CREATE INDEX idx_trigger_status ON trigger_index (deployment_status);
CREATE INDEX idx_github_repository ON trigger_index (github_repository) WHERE trigger_type = 'github';
CREATE INDEX idx_github_events ON trigger_index USING GIN (github_events) WHERE trigger_type = 'github';
-- Rows exist only for deployed workflows (active or paused): a paused workflow keeps its path.
CREATE UNIQUE INDEX uq_webhook_path ON trigger_index (webhook_path) WHERE webhook_path IS NOT NULL;

CREATE TABLE trigger_events (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id    TEXT NOT NULL,
    trigger_id     TEXT NOT NULL,
    trigger_type   TEXT NOT NULL,
    version        INTEGER,
    execution_id   TEXT NOT NULL,
    status         TEXT NOT NULL,
    error          TEXT,
    detail         JSONB,
    fired_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_trigger_events_workflow ON trigger_events (workflow_id, fired_at DESC);
CREATE INDEX idx_trigger_events_execution ON trigger_events (execution_id);
