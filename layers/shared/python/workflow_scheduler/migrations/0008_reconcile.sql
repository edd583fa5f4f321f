-- Reconcile in bounded shards (issue 11, part 1): domain/triggers/cron/reconcile.py and shards.py.

-- What every schedule name of a cron trigger starts with, as domain/triggers/cron/schedules.py schedule_stem()
-- computes it (change both or neither; tests/integration/test_reconcile_shards.py compares them). Declared
-- immutable though convert_to is only stable: its result depends on the database's encoding alone, which is fixed
-- when the database is created. The regular expression reads its input in the "C" collation: its ranges are
-- then code point ranges, as in Python.
CREATE FUNCTION cron_schedule_stem(workflow_id TEXT, trigger_id TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT left(regexp_replace((workflow_id || '.' || trigger_id) COLLATE "C", '[^0-9A-Za-z_.-]+', '_', 'g'), 51)
            || '.' || left(encode(sha256(convert_to(workflow_id || chr(31) || trigger_id, 'UTF8')), 'hex'), 10)
    $$;

-- Reconcile's shards are key ranges of this index: stems in byte order, the order of the names ListSchedules
-- lists by prefix (a shard is a run of name prefixes). Key pages continue on (stem, workflow_id, trigger_id).
CREATE INDEX idx_trigger_index_cron_stem
    ON trigger_index ((cron_schedule_stem(workflow_id, trigger_id) COLLATE "C"), workflow_id, trigger_id)
    WHERE trigger_type = 'cron';

-- What reconcile last wrote to a schedule, or read and found in step: its definition's hash and the schedule's
-- LastModificationDate then. A listed schedule modified since, or never seen, is read; the others are not.
-- Removed with the trigger. Deploys do not write here: a schedule a deploy changed is read once by the next run.
CREATE TABLE cron_schedule_writes (
    schedule_name    TEXT COLLATE "C" PRIMARY KEY,
    workflow_id      TEXT NOT NULL,
    trigger_id       TEXT NOT NULL,
    definition_hash  TEXT NOT NULL,
    modified_at      TIMESTAMPTZ NOT NULL,
    checked_at       TIMESTAMPTZ NOT NULL,  -- when reconcile wrote or read it
    FOREIGN KEY (workflow_id, trigger_id) REFERENCES trigger_index (workflow_id, trigger_id) ON DELETE CASCADE
);
CREATE INDEX idx_cron_schedule_writes_trigger ON cron_schedule_writes (workflow_id, trigger_id);

-- A run: its plan and its lock's lease (the plan step takes it, the finish step releases it). Runs older than
-- 30 days are deleted by the next plan.
CREATE TABLE reconcile_runs (
    run_id           UUID PRIMARY KEY,
    dry_run          BOOLEAN NOT NULL,
    status           TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    shards           INTEGER NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    lock_owner       TEXT,
    lock_fence       BIGINT,
    lock_expires_at  TIMESTAMPTZ
);
CREATE INDEX idx_reconcile_runs_started ON reconcile_runs (started_at);

-- A shard: its name prefixes, its checkpoint (written only with a fencing token at least the last one's) and its
-- counts (each added in the transaction that remembers the write it counts).
CREATE TABLE reconcile_shards (
    run_id         UUID NOT NULL REFERENCES reconcile_runs ON DELETE CASCADE,
    shard          INTEGER NOT NULL,
    prefixes       TEXT[] NOT NULL,
    probes         TEXT[] NOT NULL,
    triggers       INTEGER NOT NULL,
    phase          TEXT NOT NULL DEFAULT 'listing' CHECK (phase IN ('listing', 'missing', 'done')),
    prefixes_done  INTEGER NOT NULL DEFAULT 0,
    after_stem     TEXT COLLATE "C",
    after_workflow TEXT,
    after_trigger  TEXT,
    fence          BIGINT NOT NULL DEFAULT 0,
    created        INTEGER NOT NULL DEFAULT 0,
    deleted        INTEGER NOT NULL DEFAULT 0,
    repaired       INTEGER NOT NULL DEFAULT 0,
    verified       INTEGER NOT NULL DEFAULT 0,
    in_step        INTEGER NOT NULL DEFAULT 0,
    deferred       INTEGER NOT NULL DEFAULT 0,
    unreadable     INTEGER NOT NULL DEFAULT 0,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, shard)
);

-- Reconcile no longer reads the cron triggers in (workflow_id, trigger_id) order: the stem index above replaces
-- migration 0005's partial index.
DROP INDEX idx_trigger_index_cron;
