-- Scale (issue 11): request paths answered from small indexes, and the firing history partitioned by month so
-- that retention drops whole months (adapters/history_partitions.py) instead of deleting rows one by one.
-- Month boundaries are UTC whatever the server's or the session's time zone.
SET LOCAL TimeZone = 'UTC';

-- Reconcile reads the cron triggers in key pages from this index alone, never the whole trigger index.
CREATE INDEX idx_trigger_index_cron ON trigger_index (workflow_id, trigger_id) WHERE trigger_type = 'cron';
-- Every firing's lookup joins its deployment for the status and the owner: answered from this index alone.
CREATE UNIQUE INDEX idx_deployments_lookup ON deployments (workflow_id) INCLUDE (status, owner);

-- Execution-id uniqueness, which a partitioned table cannot enforce across partitions: one row per claimed
-- execution id, removed with the month of history it belongs to. Filled before its key is built (faster).
CREATE TABLE trigger_claims (
    execution_id  TEXT NOT NULL,
    fired_at      TIMESTAMPTZ NOT NULL
);
INSERT INTO trigger_claims (execution_id, fired_at) SELECT execution_id, fired_at FROM trigger_events WHERE claimed;
ALTER TABLE trigger_claims ADD PRIMARY KEY (execution_id);
CREATE INDEX idx_trigger_claims_fired_at ON trigger_claims (fired_at);

-- The existing history becomes the first partition as it is (no copy): it holds everything before the first
-- month partition and is dropped whole once that month is past the retention. Its old indexes give way to the
-- partitioned ones below; the unresolved index is equal to the new one and is adopted as it is.
ALTER TABLE trigger_events RENAME TO trigger_events_legacy;
ALTER TABLE trigger_events_legacy DROP CONSTRAINT trigger_events_pkey;
DROP INDEX idx_trigger_events_workflow, idx_trigger_events_trigger, idx_trigger_events_execution,
    uq_trigger_events_claimed_execution;
ALTER INDEX idx_trigger_events_unresolved RENAME TO trigger_events_legacy_unresolved_idx;

CREATE TABLE trigger_events (LIKE trigger_events_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (fired_at);

DO $$
DECLARE
    first_month timestamptz;
    month timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM trigger_events_legacy) THEN
        SELECT date_trunc('month', GREATEST(now(), max(fired_at))) + interval '1 month' INTO first_month
            FROM trigger_events_legacy;
        EXECUTE format('ALTER TABLE trigger_events ATTACH PARTITION trigger_events_legacy'
                       ' FOR VALUES FROM (MINVALUE) TO (%L)', first_month);
    ELSE
        DROP TABLE trigger_events_legacy;
        first_month := date_trunc('month', now());
    END IF;
    -- This month and the next two; the daily retention run keeps creating them ahead.
    month := first_month;
    WHILE month < date_trunc('month', now()) + interval '3 months' LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF trigger_events FOR VALUES FROM (%L) TO (%L)',
                       'trigger_events_' || to_char(month, '"y"YYYY"m"MM'), month, month + interval '1 month');
        month := month + interval '1 month';
    END LOOP;
END $$;
-- A firing whose month has no partition (the retention run stopped for months, or a redriven firing of a month
-- already dropped) is kept here rather than refused; the retention run moves such rows into their month.
CREATE TABLE trigger_events_default PARTITION OF trigger_events DEFAULT;

ALTER TABLE trigger_events ADD PRIMARY KEY (id, fired_at);
-- The events page (newest first, keyset on fired_at and id) and the per-trigger newest rows.
CREATE INDEX idx_trigger_events_workflow ON trigger_events (workflow_id, fired_at DESC, id DESC);
CREATE INDEX idx_trigger_events_trigger ON trigger_events (workflow_id, trigger_id, fired_at DESC, id DESC);
-- The dispatcher finds a firing's claimed row by execution id.
CREATE INDEX idx_trigger_events_claimed_execution ON trigger_events (execution_id) WHERE claimed;
CREATE INDEX idx_trigger_events_unresolved ON trigger_events (workflow_id, trigger_id, updated_at)
    WHERE claimed AND status IN ('queued', 'retrying');
