"""PostgreSQL implementation of the deployment store and its transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from workflow_scheduler.adapters.postgres import Database, Row, Session
from workflow_scheduler.domain.errors import WebhookPathTaken
from workflow_scheduler.domain.models import Deployment, DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.secret_adoption import SecretReference
from workflow_scheduler.domain.triggers.cron.schedules import CLOCK_SKEW, ScheduleWrite

LOOKUP_COLUMNS = (
    "cron_expression",
    "timezone",
    "webhook_path",
    "email_filter",
    "github_repository",
    "github_events",
    "github_installation_id",
)
_TRIGGER_COLUMNS = (
    "workflow_id, trigger_id, trigger_type, trigger_config, config_hash, version, deployment_status, "
    + ", ".join(LOOKUP_COLUMNS)
)
_TRIGGER_VALUES = ", ".join(f"%({c})s" for c in _TRIGGER_COLUMNS.split(", "))
_ASSIGNMENTS = ", ".join(f"{c} = %({c})s" for c in _TRIGGER_COLUMNS.split(", ")[2:])
# Built once from the fixed column names above; every value is a bound parameter.
_INSERT_TRIGGER = f"INSERT INTO trigger_index ({_TRIGGER_COLUMNS}) VALUES ({_TRIGGER_VALUES})"  # noqa: S608
# Webhook triggers naming a secret under a prefix, in keyset pages on the (workflow_id, trigger_id) unique index.
_REFERENCE_PAGE = (
    "SELECT t.workflow_id, t.trigger_id, d.owner, t.trigger_config->'auth'->>'secret_ref' AS secret_ref"
    " FROM trigger_index t JOIN deployments d ON d.workflow_id = t.workflow_id"
    " WHERE t.trigger_type = %(trigger_type)s AND starts_with(t.trigger_config->'auth'->>'secret_ref', %(prefix)s)"
    " AND (t.workflow_id, t.trigger_id) > (%(after_workflow)s, %(after_trigger)s)"
    " ORDER BY t.workflow_id, t.trigger_id LIMIT %(limit)s"
)
_REPLACE_TRIGGER = (
    f"UPDATE trigger_index SET {_ASSIGNMENTS}, updated_at = now()"  # noqa: S608
    " WHERE workflow_id = %(workflow_id)s AND trigger_id = %(trigger_id)s"
)

# A deploy's write of a schedule, for reconcile: the hash, and the call's window (written_from .. modified_at; no
# checked_at: no run has seen it yet). A record reconcile made after the window began stays (see the port).
_REMEMBER_WRITE = (
    "INSERT INTO cron_schedule_writes"
    " (schedule_name, workflow_id, trigger_id, definition_hash, modified_at, written_from, checked_at)"
    " VALUES (%(name)s, %(workflow_id)s, %(trigger_id)s, %(hash)s, %(ended)s, %(started)s, NULL)"
    " ON CONFLICT (schedule_name) DO UPDATE SET workflow_id = EXCLUDED.workflow_id, trigger_id = EXCLUDED.trigger_id,"
    " definition_hash = EXCLUDED.definition_hash, modified_at = EXCLUDED.modified_at,"
    " written_from = EXCLUDED.written_from, checked_at = NULL"
    " WHERE cron_schedule_writes.checked_at IS NULL OR cron_schedule_writes.checked_at < %(started)s - %(skew)s"
)


def _deployment(row: Row) -> Deployment:
    return Deployment(
        workflow_id=row["workflow_id"],
        deployment_id=str(row["deployment_id"]),
        owner=row["owner"],
        spec=row["spec"],
        version=row["version"],
        status=DeploymentStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def trigger_record(row: Row) -> TriggerRecord:
    """A trigger_index row as the record the domain uses (the firing store reads the same rows)."""
    return TriggerRecord(
        workflow_id=row["workflow_id"],
        trigger_id=row["trigger_id"],
        type=TriggerType(row["trigger_type"]),
        config=row["trigger_config"],
        config_hash=row["config_hash"],
        version=row["version"],
        status=TriggerStatus(row["deployment_status"]),
        lookup={c: row[c] for c in LOOKUP_COLUMNS if row[c] is not None},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _trigger_params(record: TriggerRecord) -> dict[str, Any]:
    unknown = set(record.lookup) - set(LOOKUP_COLUMNS)
    if unknown:
        raise ValueError(f"no lookup column for {sorted(unknown)}")
    params: dict[str, Any] = {c: record.lookup.get(c) for c in LOOKUP_COLUMNS}
    params.update(
        workflow_id=record.workflow_id,
        trigger_id=record.trigger_id,
        trigger_type=record.type.value,
        trigger_config=Jsonb(record.config),
        config_hash=record.config_hash,
        version=record.version,
        deployment_status=record.status.value,
    )
    return params


@contextmanager
def _webhook_path_unique(record: TriggerRecord) -> Iterator[None]:
    # The registrar checks first for a clear message; the unique index settles a race between two deploys.
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "uq_webhook_path":
            raise WebhookPathTaken(record.lookup.get("webhook_path", "?"), record.trigger_id) from exc
        raise


class PostgresDeploymentTx:
    def __init__(self, session: Session) -> None:
        self._s = session

    def lock_deployment(self, workflow_id: str) -> Deployment | None:
        # Serialises concurrent deploys of one workflow id, including the first (no row to lock yet).
        self._s.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (workflow_id,))
        row = self._s.one("SELECT * FROM deployments WHERE workflow_id = %s FOR UPDATE", (workflow_id,))
        return _deployment(row) if row else None

    def list_triggers(self, workflow_id: str) -> list[TriggerRecord]:
        rows = self._s.all(
            "SELECT * FROM trigger_index WHERE workflow_id = %s ORDER BY created_at, trigger_id",
            (workflow_id,),
        )
        return [trigger_record(r) for r in rows]

    def save_deployment(self, deployment: Deployment) -> None:
        self._s.execute(
            "INSERT INTO deployments (workflow_id, deployment_id, owner, spec, version, status, created_at, updated_at)"
            " VALUES (%(workflow_id)s, %(deployment_id)s, %(owner)s, %(spec)s, %(version)s, %(status)s,"
            " %(created_at)s, %(updated_at)s)"
            " ON CONFLICT (workflow_id) DO UPDATE SET deployment_id = EXCLUDED.deployment_id,"
            " owner = EXCLUDED.owner, spec = EXCLUDED.spec, version = EXCLUDED.version,"
            " status = EXCLUDED.status, updated_at = EXCLUDED.updated_at",
            {
                "workflow_id": deployment.workflow_id,
                "deployment_id": deployment.deployment_id,
                "owner": deployment.owner,
                "spec": Jsonb(deployment.spec),
                "version": deployment.version,
                "status": deployment.status.value,
                "created_at": deployment.created_at,
                "updated_at": deployment.updated_at,
            },
        )

    def insert_trigger(self, record: TriggerRecord) -> None:
        with _webhook_path_unique(record):
            self._s.execute(_INSERT_TRIGGER, _trigger_params(record))

    def replace_trigger(self, record: TriggerRecord) -> None:
        with _webhook_path_unique(record):
            self._s.execute(_REPLACE_TRIGGER, _trigger_params(record))

    def delete_trigger(self, workflow_id: str, trigger_id: str) -> None:
        self._s.execute(
            "DELETE FROM trigger_index WHERE workflow_id = %s AND trigger_id = %s", (workflow_id, trigger_id)
        )

    def set_trigger_status(self, workflow_id: str, trigger_id: str, status: TriggerStatus) -> None:
        self._s.execute(
            "UPDATE trigger_index SET deployment_status = %s, updated_at = now()"
            " WHERE workflow_id = %s AND trigger_id = %s",
            (status.value, workflow_id, trigger_id),
        )

    def webhook_path_owner(self, path: str) -> tuple[str, str] | None:
        row = self._s.one("SELECT workflow_id, trigger_id FROM trigger_index WHERE webhook_path = %s", (path,))
        return (row["workflow_id"], row["trigger_id"]) if row else None

    def github_installation_linked(self, installation_id: int, workflow_id: str) -> bool:
        row = self._s.one(
            "SELECT 1 FROM deployments d JOIN github_installation_owners o ON o.owner = d.owner"
            " WHERE d.workflow_id = %s AND o.installation_id = %s",
            (workflow_id, installation_id),
        )
        return row is not None

    def remember_schedule_write(self, write: ScheduleWrite) -> None:
        self._s.execute(
            _REMEMBER_WRITE,
            {
                "name": write.name,
                "workflow_id": write.workflow_id,
                "trigger_id": write.trigger_id,
                "hash": write.definition_hash,
                "started": write.started,
                "ended": write.ended,
                "skew": CLOCK_SKEW,
            },
        )

    def forget_schedule_write(self, name: str) -> None:
        self._s.execute("DELETE FROM cron_schedule_writes WHERE schedule_name = %s", (name,))


class PostgresDeploymentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def transaction(self) -> Iterator[PostgresDeploymentTx]:
        with self._db.session(transaction=True) as session:
            yield PostgresDeploymentTx(session)

    def get_deployment(self, workflow_id: str) -> Deployment | None:
        with self._db.session(transaction=False) as s:
            row = s.one("SELECT * FROM deployments WHERE workflow_id = %s", (workflow_id,))
        return _deployment(row) if row else None

    def list_triggers(self, workflow_id: str) -> list[TriggerRecord]:
        with self._db.session(transaction=False) as s:
            return PostgresDeploymentTx(s).list_triggers(workflow_id)

    def webhook_secret_refs(self, prefix: str, page_size: int = 500) -> Iterator[SecretReference]:
        """Every webhook trigger whose ``secret_ref`` starts with ``prefix``, with its owner, read a page at a time
        (the connection is free between pages: the caller calls Secrets Manager for each row)."""
        after = ("", "")  # sorts before every id: ids are never empty
        while True:
            with self._db.session(transaction=False) as s:
                rows = s.all(
                    _REFERENCE_PAGE,
                    {
                        "trigger_type": TriggerType.WEBHOOK.value,
                        "prefix": prefix,
                        "after_workflow": after[0],
                        "after_trigger": after[1],
                        "limit": page_size,
                    },
                )
            for row in rows:
                yield SecretReference(row["workflow_id"], row["trigger_id"], row["owner"], row["secret_ref"])
            if len(rows) < page_size:
                return
            after = (rows[-1]["workflow_id"], rows[-1]["trigger_id"])
