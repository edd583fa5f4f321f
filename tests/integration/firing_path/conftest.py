"""The firing path in-process: the api and webhook functions of a module's moto account (tests/integration/conftest.py)
on real PostgreSQL, with what they queue on the dispatch queue and record in ``trigger_events``."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient
from tests.support.queues import take_messages


@dataclass
class System:
    api: ApiClient
    webhook: ModuleType
    queue_url: str
    database_url: str

    def messages(self) -> list[dict[str, Any]]:
        """The firings queued since the last call (taken off the dispatch queue)."""
        return take_messages(self.queue_url)

    def events(self, workflow_id: str) -> list[tuple[str, str, bool, str | None]]:
        """(execution_id, status, claimed, error) of the workflow's recorded firings, oldest first."""
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(
                "SELECT execution_id, status, claimed, error FROM trigger_events"
                " WHERE workflow_id = %s ORDER BY fired_at",
                (workflow_id,),
            ).fetchall()


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    return System(stack.api(), stack.load("webhook"), stack.queue_url, stack.database_url)


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    system.messages()  # what an earlier test left
    return system
