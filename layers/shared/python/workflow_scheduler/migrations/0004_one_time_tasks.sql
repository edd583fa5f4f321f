-- One-time data tasks the migrate function runs after the schema migrations (adapters/migrations.py run_once),
-- each recorded here once it completed, so that later runs skip it. The first: adopt_legacy_secret_tags.
CREATE TABLE one_time_tasks (
    name          TEXT PRIMARY KEY,
    completed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    report        JSONB NOT NULL
);
