-- A webhook path stays the user's who first deployed it, also after its trigger is undeployed, removed or moved to
-- another path (security review 2026-12). Senders outside keep calling a URL long after its trigger is gone, with
-- its credentials in their headers: another user who took the path over would receive both. The user's own
-- workflows may use it again. Enforced here, where every write of trigger_index goes: a path held for another user
-- is refused like a path in use (the unique_violation of uq_webhook_path, which the deploy answers with 409).
CREATE TABLE webhook_path_owners (
    webhook_path  TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,  -- deployments.owner (the JWT sub) of the workflow that first used the path
    first_used_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The paths in use now; ones released before this migration are not known, and stay free.
INSERT INTO webhook_path_owners (webhook_path, owner)
SELECT t.webhook_path, d.owner FROM trigger_index t JOIN deployments d USING (workflow_id)
WHERE t.webhook_path IS NOT NULL
ON CONFLICT (webhook_path) DO NOTHING;

CREATE FUNCTION webhook_path_kept_for_owner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    deploying TEXT;
    holder    TEXT;
BEGIN
    SELECT owner INTO deploying FROM deployments WHERE workflow_id = NEW.workflow_id;
    -- A concurrent first use by another user waits here until that deploy commits or rolls back.
    INSERT INTO webhook_path_owners (webhook_path, owner) VALUES (NEW.webhook_path, deploying)
    ON CONFLICT (webhook_path) DO NOTHING;
    SELECT owner INTO holder FROM webhook_path_owners WHERE webhook_path = NEW.webhook_path;
    IF holder IS DISTINCT FROM deploying THEN
        RAISE EXCEPTION 'webhook path % is kept for the user who first deployed it', NEW.webhook_path
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_webhook_path';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER trg_webhook_path_kept_for_owner
    BEFORE INSERT OR UPDATE OF webhook_path ON trigger_index
    FOR EACH ROW WHEN (NEW.webhook_path IS NOT NULL)
    EXECUTE FUNCTION webhook_path_kept_for_owner();
