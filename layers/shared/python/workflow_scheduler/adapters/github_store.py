"""PostgreSQL side of GitHub deliveries: the delivery record and the App's installations (the router's candidates are
``ByGithubEvent`` in adapters/firing_store.py)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from workflow_scheduler.adapters.postgres import Database, Row, Session
from workflow_scheduler.domain.triggers.github.deliveries import (
    Delivery,
    DeliveryStatus,
    Installation,
    InstallationChange,
    InstallationLink,
    InstallationState,
    RecordedDelivery,
    RoutingSummary,
)

_RECORD = (
    "INSERT INTO github_webhook_events (delivery_id, event, action, repository, installation_id, sender, status,"
    " note, payload_text) VALUES (%(delivery_id)s, %(event)s, %(action)s, %(repository)s, %(installation_id)s,"
    " %(sender)s, %(status)s, %(note)s, %(payload_text)s)"
    " ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id"
)
# One statement per event: the row is created if the installation was never seen.
_INSTALLATION = (
    "INSERT INTO github_installations AS i (installation_id, account_login, account_type, state,"
    " repository_selection, repositories)"
    " VALUES (%(id)s, %(login)s, %(type)s, COALESCE(%(state)s::text, 'active'), %(selection)s,"
    "  ARRAY(SELECT DISTINCT r FROM unnest(COALESCE(%(repositories)s::text[], %(added)s::text[])) AS r"
    "   WHERE NOT r = ANY(%(removed)s::text[]) ORDER BY r))"
    " ON CONFLICT (installation_id) DO UPDATE SET"
    " account_login = COALESCE(EXCLUDED.account_login, i.account_login),"
    " account_type = COALESCE(EXCLUDED.account_type, i.account_type),"
    " state = COALESCE(%(state)s::text, i.state),"
    " repository_selection = COALESCE(EXCLUDED.repository_selection, i.repository_selection),"
    " repositories = ARRAY(SELECT DISTINCT r FROM"
    "  unnest(COALESCE(%(repositories)s::text[], i.repositories || %(added)s::text[]))"
    "  AS r WHERE NOT r = ANY(%(removed)s::text[]) ORDER BY r),"
    " updated_at = now()"
)
_DELIVERY = "SELECT * FROM github_webhook_events WHERE delivery_id = %s"
_INSTALLATION_ROW = "SELECT * FROM github_installations WHERE installation_id = %s"


def _delivery(row: Row) -> Delivery:
    return Delivery(
        delivery_id=row["delivery_id"],
        event=row["event"],
        action=row["action"],
        repository=row["repository"],
        installation_id=row["installation_id"],
        sender=row["sender"],
        body=row["payload_text"],
        status=DeliveryStatus(row["status"]),
    )


def _recorded_delivery(row: Row) -> RecordedDelivery:
    return RecordedDelivery(
        delivery=_delivery(row),
        candidates=row["candidates"],
        matched=row["matched"],
        outcomes=row["outcomes"],
        note=row["note"],
        error=row["error"],
        attempts=row["attempts"],
        received_at=row["received_at"],
    )


def _installation(row: Row) -> Installation:
    return Installation(
        installation_id=row["installation_id"],
        state=InstallationState(row["state"]),
        account_login=row["account_login"],
        repositories=tuple(row["repositories"]),
    )


class PostgresGithubStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- ingress -------------------------------------------------------------------------------------------------

    @contextmanager
    def record(
        self, delivery: Delivery, *, note: str | None, installation: InstallationChange | None
    ) -> Iterator[bool]:
        params = {
            **delivery.described(),
            "status": (DeliveryStatus.RECEIVED if note is None else DeliveryStatus.ROUTED).value,
            "note": note,
            "payload_text": delivery.body if note is None else None,
        }
        with self._db.session(transaction=True) as s:
            if s.one(_RECORD, params) is None:
                yield False
                return
            if installation is not None:
                _apply(s, installation)
            yield True

    # -- router --------------------------------------------------------------------------------------------------

    def delivery(self, delivery_id: str) -> Delivery | None:
        row = self._db.one(_DELIVERY, (delivery_id,))
        return _delivery(row) if row else None

    def installation_state(self, installation_id: int) -> InstallationState | None:
        row = self._db.one("SELECT state FROM github_installations WHERE installation_id = %s", (installation_id,))
        return InstallationState(row["state"]) if row else None

    def linked_owners(self, installation_id: int) -> frozenset[str]:
        rows = self._db.all(
            "SELECT owner FROM github_installation_owners WHERE installation_id = %s", (installation_id,)
        )
        return frozenset(r["owner"] for r in rows)

    def mark_routed(self, delivery_id: str, summary: RoutingSummary) -> None:
        with self._db.session(transaction=False) as s:
            s.execute(
                "UPDATE github_webhook_events SET status = 'routed', candidates = %s, matched = %s, outcomes = %s,"
                " note = %s, error = NULL, payload_text = NULL, attempts = attempts + 1, updated_at = now()"
                " WHERE delivery_id = %s",
                (summary.candidates, summary.matched, Jsonb(summary.outcomes_json()), summary.note, delivery_id),
            )

    def mark_failed(self, delivery_id: str, error: str) -> None:
        with self._db.session(transaction=False) as s:
            s.execute(
                "UPDATE github_webhook_events SET status = 'failed', error = %s, attempts = attempts + 1,"
                " updated_at = now() WHERE delivery_id = %s AND status <> 'routed'",
                (error, delivery_id),
            )

    # -- sweep ---------------------------------------------------------------------------------------------------

    def recorded(self, delivery_ids: Collection[str]) -> set[str]:
        rows = self._db.all(
            "SELECT delivery_id FROM github_webhook_events WHERE delivery_id = ANY(%s)", (list(delivery_ids),)
        )
        return {r["delivery_id"] for r in rows}

    def prune(self, received_before: datetime) -> int:
        with self._db.session(transaction=False) as s:
            return s.execute("DELETE FROM github_webhook_events WHERE received_at < %s", (received_before,)).rowcount

    # -- what an operator reads ----------------------------------------------------------------------------------

    def recorded_delivery(self, delivery_id: str) -> RecordedDelivery | None:
        row = self._db.one(_DELIVERY, (delivery_id,))
        return _recorded_delivery(row) if row else None

    def installation(self, installation_id: int) -> Installation | None:
        row = self._db.one(_INSTALLATION_ROW, (installation_id,))
        return _installation(row) if row else None

    # -- who may use an installation (the operator's `workflow-scheduler github link`) ---------------------------

    def link(self, installation_id: int, owner: str) -> bool:
        """Link the installation to a user of the service; False when it was linked already."""
        return self._changed(
            "INSERT INTO github_installation_owners (installation_id, owner) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (installation_id, owner),
        )

    def unlink(self, installation_id: int, owner: str) -> bool:
        """Remove the link; False when there was none. The user's triggers stay deployed and fire nothing."""
        return self._changed(
            "DELETE FROM github_installation_owners WHERE installation_id = %s AND owner = %s", (installation_id, owner)
        )

    def _changed(self, sql: str, params: tuple[int, str]) -> bool:
        with self._db.session(transaction=False) as s:
            return bool(s.execute(sql, params).rowcount == 1)

    def links(self, installation_id: int | None = None) -> list[InstallationLink]:
        """Every link, or those of one installation, by installation then owner."""
        rows = self._db.all(
            "SELECT installation_id, owner, linked_at FROM github_installation_owners"
            " WHERE %(id)s::bigint IS NULL OR installation_id = %(id)s ORDER BY installation_id, owner",
            {"id": installation_id},
        )
        return [InstallationLink(r["installation_id"], r["owner"], r["linked_at"]) for r in rows]


def _apply(s: Session, change: InstallationChange) -> None:
    params: dict[str, Any] = {
        "id": change.installation_id,
        "login": change.account_login,
        "type": change.account_type,
        "state": change.state.value if change.state is not None else None,
        "selection": change.repository_selection,
        "repositories": list(change.repositories) if change.repositories is not None else None,
        "added": list(change.added),
        "removed": list(change.removed),
    }
    s.execute(_INSTALLATION, params)
