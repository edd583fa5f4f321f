"""Versioned schema migrations: numbered SQL files applied in order, recorded in ``schema_migrations``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from workflow_scheduler.domain.errors import StoreUnavailable

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed number: it keeps two concurrent `migrate` runs from applying the same file twice.
_ADVISORY_LOCK = 0x5753_4D49


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    folder = resources.files("workflow_scheduler") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


def _connect(conninfo: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable("the database cannot be reached to migrate it") from exc


def apply_migrations(conninfo: str) -> list[str]:
    """Apply every migration not applied yet; return the names applied (empty when up to date)."""
    applied_now = []
    conn = _connect(conninfo)
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
            for migration in available_migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied_now.append(f"{migration.version:04d}_{migration.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK,))
    return applied_now


def run_once(conninfo: str, name: str, task: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """Run ``task`` unless ``one_time_tasks`` records it as done; record it with its report once it returned.

    Its report, or None when it was done before. A task that raises is not recorded: the next run starts it
    again, so a task must be idempotent. The migrations' lock keeps two runs apart (the second finds it done).
    """
    conn = _connect(conninfo)
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK,))
        try:
            if conn.execute("SELECT 1 FROM one_time_tasks WHERE name = %s", (name,)).fetchone():
                return None
            report = task()
            conn.execute("INSERT INTO one_time_tasks (name, report) VALUES (%s, %s)", (name, Jsonb(report)))
            return report
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK,))
