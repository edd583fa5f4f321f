"""One PostgreSQL connection per process, reused across warm invocations and replaced after a failure."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from workflow_scheduler.domain.errors import StoreUnavailable

Row = dict[str, Any]
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE"})


class Database:
    """Owns the connection; counts statements so benchmarks and tests can see what a call costs."""

    def __init__(self, conninfo: Callable[..., str] | str, connect_timeout: int = 5) -> None:
        """``conninfo`` may be a callable taking ``fresh=True`` to bypass a credentials cache (see settings)."""
        if callable(conninfo):
            self._conninfo = conninfo
        else:

            def fixed(*, fresh: bool = False) -> str:
                return conninfo

            self._conninfo = fixed
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Row] | None = None
        self._lock = threading.RLock()
        self.statements = 0
        self.writes = 0

    def sibling(self) -> Database:
        """Another ``Database`` on the same server with a connection of its own: for work on other threads while a
        transaction holds this one (a deploy's side effects, run side by side)."""
        return Database(self._conninfo, self._connect_timeout)

    def _connection(self) -> psycopg.Connection[Row]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            try:
                conn = psycopg.connect(
                    self._conninfo(),
                    autocommit=True,
                    row_factory=dict_row,
                    connect_timeout=self._connect_timeout,
                )
            except psycopg.OperationalError as exc:
                raise StoreUnavailable("the database cannot be reached") from exc
            self._conn = conn
        return conn

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    @contextmanager
    def session(self, *, transaction: bool) -> Iterator[Session]:
        """A session on the shared connection, optionally inside one transaction (committed on success)."""
        with self._lock:
            conn = self._connection()
            try:
                if transaction:
                    with conn.transaction():
                        yield Session(self, conn)
                else:
                    yield Session(self, conn)
            except psycopg.OperationalError as exc:
                self._discard()
                raise StoreUnavailable("the database connection failed; try again") from exc

    def one(self, sql: str, params: Any = None) -> Row | None:
        """The first row of one statement run on its own (no transaction)."""
        with self.session(transaction=False) as s:
            return s.one(sql, params)

    def all(self, sql: str, params: Any = None) -> list[Row]:
        """Every row of one statement run on its own (no transaction)."""
        with self.session(transaction=False) as s:
            return s.all(sql, params)

    def close(self) -> None:
        with self._lock:
            self._discard()


class Session:
    def __init__(self, db: Database, conn: psycopg.Connection[Row]) -> None:
        self._db = db
        self._conn = conn

    def execute(self, sql: str, params: Any = None) -> psycopg.Cursor[Row]:
        self._db.statements += 1
        if sql.lstrip()[:6].upper() in _WRITES:
            self._db.writes += 1
        return self._conn.execute(sql, params)

    def one(self, sql: str, params: Any = None) -> Row | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Any = None) -> list[Row]:
        return self.execute(sql, params).fetchall()

    def executemany(self, sql: str, params: Sequence[Any]) -> None:
        """One statement for many parameter sets, pipelined (one round trip, not one per set)."""
        self._db.statements += 1
        if sql.lstrip()[:6].upper() in _WRITES:
            self._db.writes += 1
        with self._conn.cursor() as cursor:
            cursor.executemany(sql, params)
