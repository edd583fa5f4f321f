"""PostgreSQL side of the firing path: find what a firing targets, and record every firing in ``trigger_events``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, assert_never

from psycopg.types.json import Jsonb

from workflow_scheduler.adapters.deployment_store import trigger_record
from workflow_scheduler.adapters.postgres import Database, Row, Session
from workflow_scheduler.domain.firing import (
    ByGithubEvent,
    ByTrigger,
    ByWebhookPath,
    ByWorkflow,
    FiringStatus,
    FiringTarget,
    IdempotencyKeyReused,
    TargetQuery,
    TriggerEvent,
)
from workflow_scheduler.domain.history import Cursor, Firing
from workflow_scheduler.domain.models import DeploymentStatus

_TARGET = (
    "SELECT t.*, d.status AS d_status, d.owner AS d_owner FROM trigger_index t JOIN deployments d USING (workflow_id)"
)
# The literal 'github' matches the partial indexes' predicate (a bound parameter would not, in a generic plan);
# @> is the array operator the GIN index on github_events serves. Repositories are indexed in lower case.
GITHUB_CANDIDATES = (
    f"{_TARGET} WHERE t.trigger_type = 'github' AND t.github_repository = %(repository)s"
    " AND t.github_events @> ARRAY[%(event)s]::text[] ORDER BY t.workflow_id, t.trigger_id"
)
_INSERT = (
    "INSERT INTO trigger_events (workflow_id, trigger_id, trigger_type, version, execution_id, status, error,"
    " detail, fired_at, claimed, payload_text)"
    " VALUES (%(workflow_id)s, %(trigger_id)s, %(trigger_type)s, %(version)s, %(execution_id)s, %(status)s,"
    " %(error)s, %(detail)s, %(fired_at)s, %(claimed)s, %(payload_text)s)"
)


def _target(row: Row) -> FiringTarget:
    return FiringTarget(
        deployment_status=DeploymentStatus(row["d_status"]),
        owner=row["d_owner"],
        trigger=trigger_record(row),
    )


_FIRING_COLUMNS = (
    "id, execution_id, trigger_id, trigger_type, version, status, error, attempts, latency_ms, fired_at,"
    " updated_at, dispatched_at"
)


def _firing(row: Row) -> Firing:
    return Firing(**{**row, "id": str(row["id"])})


def _request(event: TriggerEvent) -> dict[str, str]:
    """What identifies the request behind a caller's key, kept with the firing (FiringStore.claim compares it)."""
    return {"request": event.request_fingerprint} if event.request_fingerprint is not None else {}


def _row(event: TriggerEvent, status: FiringStatus, error: str | None, claimed: bool) -> dict[str, Any]:
    return {
        "workflow_id": event.workflow_id,
        "trigger_id": event.trigger_id,
        "trigger_type": event.trigger_type.value,
        "version": event.version,
        "execution_id": event.execution_id,
        "status": status.value,
        "error": error,
        "detail": Jsonb({"data_keys": sorted(event.data), **_request(event)}),
        "fired_at": event.fired_at,
        "claimed": claimed,
        "payload_text": None,
    }


def _take_claim(s: Session, row: dict[str, Any]) -> bool:
    """Own the firing's execution id (trigger_claims: the partitioned history cannot keep ids unique itself)."""
    taken = s.one(
        "INSERT INTO trigger_claims (execution_id, fired_at) VALUES (%(execution_id)s, %(fired_at)s)"
        " ON CONFLICT (execution_id) DO NOTHING RETURNING execution_id",
        row,
    )
    return taken is not None


class PostgresFiringStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- lookups -----------------------------------------------------------------------------------------

    def targets(self, query: TargetQuery) -> list[FiringTarget]:
        """What a firing targets: one indexed query per kind of lookup."""
        with self._db.session(transaction=False) as s:
            match query:
                case ByWebhookPath(path=path):  # uq_webhook_path
                    rows = s.all(f"{_TARGET} WHERE t.webhook_path = %s", (path,))
                case ByTrigger(workflow_id=workflow_id, trigger_id=trigger_id):
                    rows = s.all(f"{_TARGET} WHERE t.workflow_id = %s AND t.trigger_id = %s", (workflow_id, trigger_id))
                case ByWorkflow(workflow_id=workflow_id):
                    rows = s.all(f"{_TARGET} WHERE t.workflow_id = %s ORDER BY t.trigger_id", (workflow_id,))
                case ByGithubEvent(repository=repository, event=event):  # idx_github_repository, idx_github_events
                    rows = s.all(GITHUB_CANDIDATES, {"repository": repository.lower(), "event": event})
                case _:
                    assert_never(query)
        return [_target(r) for r in rows]

    def payload(self, execution_id: str) -> dict[str, Any] | None:
        """The stored data of a firing too large for its queue message (older firings: the JSONB copy)."""
        row = self._db.one(
            "SELECT COALESCE(payload_text, payload::text) AS data FROM trigger_events"
            " WHERE execution_id = %s AND claimed",
            (execution_id,),
        )
        if row is None or row["data"] is None:
            return None
        data: dict[str, Any] = json.loads(row["data"])
        return data

    # -- recording ---------------------------------------------------------------------------------------

    @contextmanager
    def claim(self, event: TriggerEvent, store_payload: bool = False) -> Iterator[bool]:
        row = _row(event, FiringStatus.QUEUED, None, claimed=True)
        if store_payload:  # the exact JSON text: the data was checked to have one (FiringService.fire)
            row["payload_text"] = json.dumps(event.data, ensure_ascii=False, allow_nan=False)
        with self._db.session(transaction=True) as s:
            claimed = _take_claim(s, row)
            if claimed:
                s.execute(_INSERT, row)
            elif event.request_fingerprint is not None:
                first = s.one(
                    "SELECT detail->>'request' AS request FROM trigger_events WHERE execution_id = %s AND claimed",
                    (event.execution_id,),
                )
                # A claim without one (a row the dispatcher recreated, or older) is taken as the same request.
                if first is not None and first["request"] not in (None, event.request_fingerprint):
                    raise IdempotencyKeyReused()
            yield claimed

    def record(self, event: TriggerEvent, status: FiringStatus, error: str | None = None) -> None:
        with self._db.session(transaction=False) as s:
            s.execute(_INSERT, _row(event, status, error, claimed=False))

    def update(
        self,
        event: TriggerEvent,
        status: FiringStatus,
        *,
        attempts: int,
        error: str | None = None,
        latency_ms: int | None = None,
        dispatched_at: datetime | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Move the claimed row of a firing to a new status; recreate it if its claim was never committed."""
        params = {
            **_row(event, status, error, claimed=True),
            "attempts": attempts,
            "latency_ms": latency_ms,
            "dispatched_at": dispatched_at,
            "detail": Jsonb(detail or {}),
        }
        # The claim first: it waits for a claim of the same id still being committed, and the statement after it
        # then sees that firing's row (each statement of the transaction reads what was committed before it).
        with self._db.session(transaction=True) as s:
            if _take_claim(s, params):
                s.execute(
                    "INSERT INTO trigger_events (workflow_id, trigger_id, trigger_type, version, execution_id, status,"
                    " error, detail, fired_at, claimed, attempts, latency_ms, dispatched_at)"
                    " VALUES (%(workflow_id)s, %(trigger_id)s, %(trigger_type)s, %(version)s, %(execution_id)s,"
                    " %(status)s, %(error)s, %(detail)s, %(fired_at)s, true, %(attempts)s, %(latency_ms)s,"
                    " %(dispatched_at)s)",
                    params,
                )
                return
            s.execute(
                "UPDATE trigger_events SET status = %(status)s, error = %(error)s, detail = detail || %(detail)s,"
                " attempts = GREATEST(attempts, %(attempts)s), latency_ms = %(latency_ms)s,"
                " dispatched_at = %(dispatched_at)s, updated_at = now()"
                " WHERE execution_id = %(execution_id)s AND claimed"
                # A firing the engine accepted stays accepted, whatever a late or repeated delivery reports.
                " AND status <> 'dispatched'",
                params,
            )

    def mark(self, execution_id: str, status: FiringStatus, *, attempts: int, error: str) -> bool:
        """Set the status of a firing not yet resolved; a dispatched or failed firing keeps its outcome."""
        row = self._db.one(
            "UPDATE trigger_events SET status = %s, error = %s, attempts = GREATEST(attempts, %s),"
            " updated_at = now() WHERE execution_id = %s AND claimed"
            " AND status IN ('queued', 'retrying', 'parked') RETURNING id",
            (status.value, error, attempts, execution_id),
        )
        return row is not None

    # -- history -----------------------------------------------------------------------------------------

    def firings(
        self, workflow_id: str, limit: int, before: Cursor | None, status: str | None, trigger_id: str | None
    ) -> list[Firing]:
        conditions, params = ["workflow_id = %(workflow_id)s"], {"workflow_id": workflow_id, "limit": limit}
        if before is not None:
            conditions.append("(fired_at, id) < (%(fired_at)s, %(id)s::uuid)")
            params.update(fired_at=before[0], id=before[1])
        if status is not None:
            conditions.append("status = %(status)s")
            params["status"] = status
        if trigger_id is not None:
            conditions.append("trigger_id = %(trigger_id)s")
            params["trigger_id"] = trigger_id
        where = " AND ".join(conditions)  # fixed fragments only; every value is bound
        rows = self._db.all(
            f"SELECT {_FIRING_COLUMNS} FROM trigger_events WHERE {where}"  # noqa: S608
            " ORDER BY fired_at DESC, id DESC LIMIT %(limit)s",
            params,
        )
        return [_firing(r) for r in rows]

    def last_firings(self, workflow_id: str, trigger_ids: Sequence[str]) -> dict[str, Firing]:
        """The newest firing of each trigger: one index probe per trigger, whatever the length of its history."""
        rows = self._db.all(
            f"SELECT e.* FROM unnest(%(ids)s::text[]) AS t(trigger_id) CROSS JOIN LATERAL"  # noqa: S608
            f" (SELECT {_FIRING_COLUMNS} FROM trigger_events WHERE workflow_id = %(workflow_id)s"
            " AND trigger_id = t.trigger_id ORDER BY fired_at DESC, id DESC LIMIT 1) e",
            {"ids": list(trigger_ids), "workflow_id": workflow_id},
        )
        return {r["trigger_id"]: _firing(r) for r in rows}

    def recent_firings(self, workflow_id: str, trigger_ids: Sequence[str], per_trigger: int) -> dict[str, list[Firing]]:
        """Each trigger's newest accepted firings, newest first: one short index scan per trigger."""
        rows = self._db.all(
            f"SELECT e.* FROM unnest(%(ids)s::text[]) AS t(trigger_id) CROSS JOIN LATERAL"  # noqa: S608
            f" (SELECT {_FIRING_COLUMNS} FROM trigger_events WHERE workflow_id = %(workflow_id)s"
            " AND trigger_id = t.trigger_id AND claimed ORDER BY fired_at DESC, id DESC LIMIT %(n)s) e"
            " ORDER BY e.trigger_id, e.fired_at DESC, e.id DESC",
            {"ids": list(trigger_ids), "workflow_id": workflow_id, "n": per_trigger},
        )
        found: dict[str, list[Firing]] = {}
        for row in rows:
            found.setdefault(row["trigger_id"], []).append(_firing(row))
        return found

    def stuck_firings(self, workflow_id: str, unchanged_since: datetime) -> dict[str, Firing]:
        """Each trigger's oldest firing still queued or retrying, unchanged since then (a partial index)."""
        rows = self._db.all(
            f"SELECT DISTINCT ON (trigger_id) {_FIRING_COLUMNS} FROM trigger_events"  # noqa: S608
            " WHERE workflow_id = %s AND claimed AND status IN ('queued', 'retrying') AND updated_at < %s"
            " ORDER BY trigger_id, updated_at",
            (workflow_id, unchanged_since),
        )
        return {r["trigger_id"]: _firing(r) for r in rows}
