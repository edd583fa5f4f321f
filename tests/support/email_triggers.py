"""E-mail triggers written straight into the deployment store, as a deploy would leave them (a deployment row and a
trigger_index row) but without the deploy's mailbox check: for tests of the poller alone."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.models import Deployment, DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType


def empty_email_tables(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE deployments, trigger_index, trigger_events, email_cursors, email_poll_health, webhook_path_owners"
            " CASCADE"
        )


def store_trigger(
    db: Database,
    workflow_id: str,
    trigger_id: str,
    config: dict[str, Any],
    *,
    owner: str = "owner",
    trigger_type: TriggerType = TriggerType.EMAIL,
    status: TriggerStatus = TriggerStatus.ACTIVE,
    deployment_status: DeploymentStatus = DeploymentStatus.DEPLOYED,
) -> TriggerRecord:
    """Add the trigger (and its workflow's deployment when it has none); its record as the store holds it."""
    now = datetime.now(UTC)
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    record = TriggerRecord(workflow_id, trigger_id, trigger_type, config, config_hash, 1, status)
    deployments = PostgresDeploymentStore(db)
    with deployments.transaction() as tx:
        if tx.lock_deployment(workflow_id) is None:
            spec: dict[str, Any] = {"nodes": []}
            tx.save_deployment(Deployment(workflow_id, str(uuid.uuid4()), owner, spec, 1, deployment_status, now, now))
        tx.insert_trigger(record)
    return next(r for r in deployments.list_triggers(workflow_id) if r.trigger_id == trigger_id)


def change_config(db: Database, record: TriggerRecord, **changes: Any) -> TriggerRecord:
    """A redeploy that changed the trigger's parameters."""
    config = {**record.config, **changes}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    changed = TriggerRecord(
        record.workflow_id, record.trigger_id, record.type, config, config_hash, record.version + 1, record.status
    )
    deployments = PostgresDeploymentStore(db)
    with deployments.transaction() as tx:
        tx.replace_trigger(changed)
    return next(r for r in deployments.list_triggers(record.workflow_id) if r.trigger_id == record.trigger_id)
