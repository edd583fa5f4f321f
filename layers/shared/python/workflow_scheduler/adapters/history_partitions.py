"""The month partitions of ``trigger_events`` and the claims beside them (migration 0005, domain/retention.py).

Every change to a partition runs in its own short transaction under ``lock_timeout``: it waits at most that long
for the queries reading the history, and never holds them up for longer (the next daily run tries again).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
from psycopg import sql

from workflow_scheduler.adapters.postgres import Database, Session
from workflow_scheduler.domain.retention import HistoryBusy, Partition

PARENT = "trigger_events"
CATCH_ALL = "trigger_events_default"
LOCK_TIMEOUT = "2s"
CLAIM_BATCH = 5000
# Any fixed number (the migrations use another): one retention run at a time.
_ADVISORY_LOCK = 0x5753_5245
# A partition's bounds as PostgreSQL prints them (with the offset, so the cast back is exact in any time zone).
_PARTITIONS = (
    "SELECT c.relname AS name,"
    " (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz AS start,"
    " (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS end"
    " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass"
)


def partition_name(start: datetime) -> str:
    """The name of a month's partition, as the migration names them: ``trigger_events_y2027m03``."""
    return f"{PARENT}_y{start:%Y}m{start:%m}"


class PostgresHistoryPartitions:
    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        row = self._db.one("SELECT pg_try_advisory_lock(%s) AS held", (_ADVISORY_LOCK,))
        held = bool(row and row["held"])
        try:
            yield held
        finally:
            if held:
                with self._db.session(transaction=False) as s:
                    s.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK,))

    def partitions(self) -> list[Partition]:
        rows = self._db.all(_PARTITIONS, (PARENT,))
        # The catch-all partition has no bounds.
        return [Partition(r["name"], r["start"], r["end"]) for r in rows if r["end"] is not None]

    def create(self, start: datetime, end: datetime) -> int:
        """Made beside the table and then attached: attaching holds back no reader or writer of the history
        (CREATE TABLE ... PARTITION OF would lock it whole). Firings of the month that waited in the catch-all
        partition move in first, in the same transaction, or the catch-all partition would refuse the month."""
        name = sql.Identifier(partition_name(start))
        bounds = (start, end)
        # DDL takes no bound parameters: the bounds are literals (ISO text with the offset).
        literal = (sql.Literal(start.isoformat()), sql.Literal(end.isoformat()))
        with self._ddl() as s:
            s.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
                .format(name, sql.Identifier(PARENT))
                .as_string()
            )
            moved = s.execute(
                sql.SQL(
                    "WITH moved AS (DELETE FROM {} WHERE fired_at >= %s AND fired_at < %s RETURNING *)"
                    " INSERT INTO {} SELECT * FROM moved"
                )
                .format(sql.Identifier(CATCH_ALL), name)
                .as_string(),
                bounds,
            ).rowcount
            s.execute(
                sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})")
                .format(sql.Identifier(PARENT), name, *literal)
                .as_string()
            )
        return moved

    def drop(self, name: str) -> None:
        with self._ddl() as s:
            s.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)).as_string())

    def expire_claims(self, before: datetime) -> int:
        """In batches of their own transactions: a day of claims never holds one long lock or transaction."""
        expired = 0
        while True:
            with self._db.session(transaction=False) as s:
                count = s.execute(
                    "DELETE FROM trigger_claims WHERE execution_id IN"
                    " (SELECT execution_id FROM trigger_claims WHERE fired_at < %s LIMIT %s)",
                    (before, CLAIM_BATCH),
                ).rowcount
            expired += count
            if count < CLAIM_BATCH:
                return expired

    def expire_unpartitioned(self, before: datetime) -> int:
        with self._db.session(transaction=False) as s:
            query = sql.SQL("DELETE FROM {} WHERE fired_at < %s").format(sql.Identifier(CATCH_ALL)).as_string()
            return s.execute(query, (before,)).rowcount

    @contextmanager
    def _ddl(self) -> Iterator[Session]:
        with self._db.session(transaction=True) as s:
            s.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            try:
                yield s
            except psycopg.errors.LockNotAvailable as exc:  # rolled back; the connection stays good
                raise HistoryBusy(f"the history stayed locked by other queries for more than {LOCK_TIMEOUT}") from exc
