"""PostgreSQL side of the e-mail poller (migration 0007): the active e-mail triggers with their poll health, each
trigger's cursor, and the health the poller records.

The listing is one query on the partial index ``idx_email_triggers_active``; its rows are trigger_index rows
mapped as the deployment store maps them (``trigger_record``), so the ``FiringTarget`` is the firing path's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workflow_scheduler.adapters.deployment_store import trigger_record
from workflow_scheduler.adapters.postgres import Database, Row
from workflow_scheduler.domain.firing import FiringTarget
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord
from workflow_scheduler.domain.triggers.email.health import PollState
from workflow_scheduler.domain.triggers.email.poll import Cursor, MailboxAddress
from workflow_scheduler.domain.triggers.email.service import ListedTrigger

_STATE_COLUMNS = (
    "last_attempt_at",
    "last_success_at",
    "last_error_code",
    "last_error",
    "consecutive_failures",
    "failing_since",
    "backoff_until",
)
# Built once from the fixed column names above; every value is a bound parameter. A health row recorded for
# another configuration of the trigger does not count (the LEFT JOIN's config_hash).
ACTIVE_TRIGGERS_SQL = (
    "SELECT t.*, d.status AS d_status, d.owner AS d_owner, "  # noqa: S608
    + ", ".join(f"h.{c} AS h_{c}" for c in _STATE_COLUMNS)
    + " FROM trigger_index t JOIN deployments d ON d.workflow_id = t.workflow_id"
    " LEFT JOIN email_poll_health h ON h.workflow_id = t.workflow_id AND h.trigger_id = t.trigger_id"
    " AND h.config_hash = t.config_hash"
    " WHERE t.trigger_type = 'email' AND t.deployment_status = 'active' AND d.status = 'deployed'"
)
_SAVE_STATE = (
    "INSERT INTO email_poll_health (workflow_id, trigger_id, config_hash, "  # noqa: S608
    + ", ".join(_STATE_COLUMNS)
    + ") VALUES (%(workflow_id)s, %(trigger_id)s, %(config_hash)s, "
    + ", ".join(f"%({c})s" for c in _STATE_COLUMNS)
    + ") ON CONFLICT (workflow_id, trigger_id) DO UPDATE SET config_hash = EXCLUDED.config_hash, "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _STATE_COLUMNS)
    + ", updated_at = now()"
)


def firing_target(row: Row) -> FiringTarget:
    """A trigger_index row joined with its deployment's status (``d_status``) and owner (``d_owner``)."""
    return FiringTarget(
        deployment_status=DeploymentStatus(row["d_status"]), owner=row["d_owner"], trigger=trigger_record(row)
    )


def _state(row: Row, prefix: str = "") -> PollState:
    values: dict[str, Any] = {c: row[prefix + c] for c in _STATE_COLUMNS}
    if values["consecutive_failures"] is None:  # no health row (LEFT JOIN)
        return PollState()
    return PollState(**values)


class PostgresEmailStore:
    """``EmailTriggerStore`` and ``CursorStore`` of domain/triggers/email, and the health reads of the API."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the poller's listing and health

    def active_triggers(self) -> list[ListedTrigger]:
        rows = self._db.all(ACTIVE_TRIGGERS_SQL)
        return [ListedTrigger(firing_target(row), _state(row, "h_")) for row in rows]

    def save_states(self, states: Sequence[tuple[TriggerRecord, PollState]]) -> None:
        params = [
            {
                "workflow_id": record.workflow_id,
                "trigger_id": record.trigger_id,
                "config_hash": record.config_hash,
                **{c: getattr(state, c) for c in _STATE_COLUMNS},
            }
            for record, state in states
        ]
        if not params:
            return
        with self._db.session(transaction=True) as s:
            s.executemany(_SAVE_STATE, params)

    def poll_states(self, workflow_id: str) -> dict[str, PollState]:
        """The poll state of each e-mail trigger of a workflow, recorded for its current configuration
        (``GET .../triggers`` shows ``email_health`` of it)."""
        rows = self._db.all(
            "SELECT h.* FROM email_poll_health h JOIN trigger_index t ON t.workflow_id = h.workflow_id"
            " AND t.trigger_id = h.trigger_id AND t.config_hash = h.config_hash WHERE h.workflow_id = %s",
            (workflow_id,),
        )
        return {row["trigger_id"]: _state(row) for row in rows}

    def clear_state(self, workflow_id: str, trigger_id: str) -> None:
        """Forget a trigger's poll health (a deploy that checked its mailbox again starts it afresh)."""
        with self._db.session(transaction=False) as s:
            s.execute(
                "DELETE FROM email_poll_health WHERE workflow_id = %s AND trigger_id = %s", (workflow_id, trigger_id)
            )

    # -- cursors

    def load(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress) -> Cursor | None:
        row = self._db.one(
            "SELECT uidvalidity, last_uid FROM email_cursors"
            " WHERE workflow_id = %s AND trigger_id = %s AND mailbox = %s",
            (workflow_id, trigger_id, mailbox.identity),
        )
        return Cursor(row["uidvalidity"], row["last_uid"]) if row else None

    def save(self, workflow_id: str, trigger_id: str, mailbox: MailboxAddress, cursor: Cursor) -> None:
        with self._db.session(transaction=False) as s:
            s.execute(
                "INSERT INTO email_cursors (workflow_id, trigger_id, mailbox, folder, uidvalidity, last_uid)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (workflow_id, trigger_id) DO UPDATE SET"
                " mailbox = EXCLUDED.mailbox, folder = EXCLUDED.folder, uidvalidity = EXCLUDED.uidvalidity,"
                " last_uid = EXCLUDED.last_uid, updated_at = now()",
                (workflow_id, trigger_id, mailbox.identity, mailbox.folder, cursor.uidvalidity, cursor.last_uid),
            )

    def delete_cursor(self, workflow_id: str, trigger_id: str) -> None:
        """Remove a cursor (compensation of a deploy that started one and then failed)."""
        with self._db.session(transaction=False) as s:
            s.execute("DELETE FROM email_cursors WHERE workflow_id = %s AND trigger_id = %s", (workflow_id, trigger_id))
