-- Firings: one row owns each execution id ("claimed"); refused and duplicate firings are audit rows beside it.

ALTER TABLE trigger_events
    ADD COLUMN claimed       BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN attempts      INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN latency_ms    INTEGER,
    ADD COLUMN dispatched_at TIMESTAMPTZ,
    -- Trigger data too large for a queue message (claim check); NULL when it travels in the message.
    ADD COLUMN payload       JSONB,
    ADD CONSTRAINT trigger_events_status_check CHECK (
        status IN ('queued', 'retrying', 'dispatched', 'failed', 'parked', 'refused', 'duplicate')
    );

CREATE UNIQUE INDEX uq_trigger_events_claimed_execution ON trigger_events (execution_id) WHERE claimed;
CREATE INDEX idx_trigger_events_trigger ON trigger_events (workflow_id, trigger_id, fired_at DESC);
