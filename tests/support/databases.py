"""Databases of their own, for tests that reshape the history's partitions or load many rows: the session database
that the other integration tests share stays as they expect it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from workflow_scheduler.adapters.migrations import apply_migrations, available_migrations

ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def own_database(prefix: str, *, migrate_to: int | None = None) -> Iterator[str]:
    """A new database with the migrations applied (up to version ``migrate_to`` only, when given), dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        if migrate_to is None:
            apply_migrations(url)
        else:
            _apply_up_to(url, migrate_to)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _apply_up_to(url: str, version: int) -> None:
    """The schema as a deployment of an older release left it: its migrations applied and recorded."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for migration in available_migrations():
            if migration.version <= version:
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (migration.version, migration.name)
                )
