"""What the benchmarks share: a throw-away database and a count of AWS calls."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import psycopg

from workflow_scheduler.adapters.migrations import apply_migrations

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_database(admin_url: str = DEFAULT_ADMIN_URL) -> Iterator[str]:
    """A new database with every migration applied, dropped afterwards."""
    name = f"ws_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def on_aws_call(record: Callable[[str, str], None]) -> None:
    """Call ``record(service, operation)`` for every AWS API call botocore makes in this process."""
    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(self: Any, operation: str, params: Any) -> Any:
        record(self.meta.service_model.service_name, operation)
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counted  # type: ignore[attr-defined]
