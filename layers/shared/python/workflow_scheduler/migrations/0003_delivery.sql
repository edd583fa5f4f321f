-- Nothing accepted is lost.
-- The claim-check copy of large trigger data as its exact JSON text: JSONB cannot hold \u0000, TEXT holds the
-- escaped text byte for byte. The JSONB column stays readable for firings stored before this migration.
ALTER TABLE trigger_events ADD COLUMN payload_text TEXT;

-- Trigger health finds firings accepted but not resolved (queued or retrying without progress) with this
-- small index instead of a workflow's whole history.
CREATE INDEX idx_trigger_events_unresolved ON trigger_events (workflow_id, trigger_id, updated_at)
    WHERE claimed AND status IN ('queued', 'retrying');
