"""Fixtures of the end-to-end tests; the local system itself is started by ``local_system.start_system``.

``system`` is one local system on the defaults of ``make dev`` (embedded PostgreSQL, moto, the engine stub) for the
whole run: the modules that need nothing else share it, each with workflow ids of its own, and look only at what
their own requests did (their executions, their log lines). A module that needs other settings (an outside engine,
outside services, a mailbox, GitHub App credentials) or stops its system starts one of its own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.e2e.local_system import CREATED, LocalSystem, postmaster_running, start_system

ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def new_database() -> Iterator[str]:
    """An empty database on the PostgreSQL at 127.0.0.1:5432 (its URL), dropped afterwards."""
    name = f"ws_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def fresh_database() -> Iterator[str]:
    """An empty database for the whole run."""
    with new_database() as url:
        yield url


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    """The local system the modules share; at the end it must stop cleanly and leave nothing running."""
    # Without GitHub App credentials whatever the environment holds (tests/e2e/test_github_local.py counts on it).
    local = start_system(tmp_path_factory.mktemp("shared") / "state", GITHUB_APP_ID="", GITHUB_APP_PRIVATE_KEY="")
    yield local
    assert local.stop() == 0, local.output()
    assert not (local.state_dir / "dev.json").exists(), "the running system's environment is left behind"
    assert not postmaster_running(local.state_dir), "PostgreSQL is still running"


@pytest.fixture(scope="session", autouse=True)
def _remove_state_folders() -> Iterator[None]:
    """The local systems' state folders (outside pytest's own, see ``private_dir``), once every system stopped."""
    yield
    for folder in CREATED:
        shutil.rmtree(folder, ignore_errors=True)
