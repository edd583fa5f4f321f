-- E-mail triggers (issue 10): each trigger's cursor in its folder and the health of its polls.

-- Where a trigger has read up to: every message of the folder up to last_uid (under this UIDVALIDITY) was dealt
-- with. mailbox is the account and folder the UIDs belong to (user@host/folder): a cursor of another mailbox is
-- no cursor for the trigger.
CREATE TABLE email_cursors (
    workflow_id  TEXT NOT NULL,
    trigger_id   TEXT NOT NULL,
    mailbox      TEXT NOT NULL,
    folder       TEXT NOT NULL,
    uidvalidity  BIGINT NOT NULL CHECK (uidvalidity > 0),
    last_uid     BIGINT NOT NULL CHECK (last_uid >= 0),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, trigger_id)
);

-- What the poller last saw of each trigger. config_hash is the trigger's configuration it was recorded for: a
-- redeploy with other settings (a new password_ref, another host) starts with a clean slate, not a back-off.
CREATE TABLE email_poll_health (
    workflow_id           TEXT NOT NULL,
    trigger_id            TEXT NOT NULL,
    config_hash           TEXT NOT NULL,
    last_attempt_at       TIMESTAMPTZ,
    last_success_at       TIMESTAMPTZ,
    last_error_code       TEXT,
    last_error            TEXT,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    failing_since         TIMESTAMPTZ,
    backoff_until         TIMESTAMPTZ,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, trigger_id)
);

-- The poller's listing reads every active e-mail trigger each minute: a partial index holds exactly those rows,
-- so the listing never scans the other types' triggers.
CREATE INDEX idx_email_triggers_active ON trigger_index (workflow_id, trigger_id)
    WHERE trigger_type = 'email' AND deployment_status = 'active';

-- A cursor and a health row live as long as their e-mail trigger. Not a foreign key: the deploy starts the cursor
-- (at the folder's UIDNEXT) before its transaction commits the trigger row, which a foreign key could not see.
CREATE FUNCTION email_trigger_state_cleanup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.trigger_type <> 'email' THEN
        DELETE FROM email_cursors WHERE workflow_id = OLD.workflow_id AND trigger_id = OLD.trigger_id;
        DELETE FROM email_poll_health WHERE workflow_id = OLD.workflow_id AND trigger_id = OLD.trigger_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_email_trigger_state_cleanup
    AFTER DELETE OR UPDATE OF trigger_type ON trigger_index
    FOR EACH ROW WHEN (OLD.trigger_type = 'email')
    EXECUTE FUNCTION email_trigger_state_cleanup();
