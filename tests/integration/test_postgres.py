"""The PostgreSQL adapter: migrations, reconnection, and the index constraints behind the domain's checks."""

from __future__ import annotations

import threading

import psycopg
import pytest

from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.migrations import apply_migrations, available_migrations
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.errors import StoreUnavailable, WebhookPathTaken
from workflow_scheduler.wiring import deployment_service


def webhook_spec(path: str) -> dict[str, object]:
    node = {"id": "h", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {"webhook_path": path}}
    return {"nodes": [node]}


def test_migrations_are_recorded_and_not_applied_twice(database_url: str) -> None:
    assert apply_migrations(database_url) == []
    with psycopg.connect(database_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in available_migrations()]


def test_index_layout_of_the_seed(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        indexes = dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'trigger_index'"))
    assert "USING gin (github_events)" in indexes["idx_github_events"]
    assert "(github_repository)" in indexes["idx_github_repository"]
    assert indexes["uq_webhook_path"].startswith("CREATE UNIQUE INDEX")


def test_connection_is_reused_and_replaced_after_the_server_drops_it(clean_database: str) -> None:
    db = Database(clean_database)
    with db.session(transaction=False) as s:
        pid = s.one("SELECT pg_backend_pid() AS pid")["pid"]  # type: ignore[index]
    with db.session(transaction=False) as s:
        assert s.one("SELECT pg_backend_pid() AS pid")["pid"] == pid  # type: ignore[index]
    with psycopg.connect(clean_database, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StoreUnavailable), db.session(transaction=False) as s:
        s.one("SELECT 1")
    with db.session(transaction=False) as s:
        assert s.one("SELECT pg_backend_pid() AS pid")["pid"] != pid  # type: ignore[index]
    db.close()


def test_unreachable_database_is_store_unavailable() -> None:
    db = Database("postgresql://postgres@127.0.0.1:1/none", connect_timeout=1)
    with pytest.raises(StoreUnavailable), db.session(transaction=False):
        pass


def test_concurrent_deploys_of_one_path_leave_exactly_one_owner(clean_database: str) -> None:
    """Two deploys race for one webhook path: the index settles it, the loser gets a conflict, no 5xx."""
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def deploy(n: int) -> None:
        db = Database(clean_database)
        service = deployment_service(db)
        barrier.wait()
        try:
            service.deploy(f"wf-{n}", "alice", webhook_spec("team/contested"))
            outcomes.append("ok")
        except WebhookPathTaken:
            outcomes.append("conflict")
        finally:
            db.close()

    threads = [threading.Thread(target=deploy, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    store = PostgresDeploymentStore(Database(clean_database))
    owners = [n for n in range(8) if store.get_deployment(f"wf-{n}") is not None]
    assert len(owners) == 1
