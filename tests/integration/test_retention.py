"""Bounded firing history (issue 11): the migration to month partitions keeps the history, a retention run drops
whole months past the retention without touching the last 30 days, claimed execution ids inside the window still
refuse duplicates afterwards, and the months ahead are there before any firing needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.support.databases import own_database
from tests.support.events import load_event
from tests.support.fakes import MemoryQueue
from workflow_scheduler.adapters.firing_store import PostgresFiringStore
from workflow_scheduler.adapters.history_partitions import PostgresHistoryPartitions, partition_name
from workflow_scheduler.adapters.migrations import apply_migrations
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.firing import FiringService, FiringStatus, FiringTarget, TriggerEvent
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus
from workflow_scheduler.domain.retention import HistoryRetention, month_start, next_month
from workflow_scheduler.domain.spec import TriggerType
from workflow_scheduler.local.functions import load_handler_module
from workflow_scheduler.local.invoke import LocalContext

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
TARGET = FiringTarget(
    DeploymentStatus.DEPLOYED,
    "alice",
    TriggerRecord("orders", "hook", TriggerType.WEBHOOK, {}, "hash", 1, TriggerStatus.ACTIVE),
)


@pytest.fixture
def url() -> Iterator[str]:
    with own_database("ws_retention") as created:
        yield created


@pytest.fixture
def db(url: str) -> Iterator[Database]:
    database = Database(url)
    yield database
    database.close()


def fire(db: Database, key: str, at: datetime) -> tuple[FiringStatus, str]:
    """A webhook call with ``Idempotency-Key: key`` accepted at ``at``: its status and execution id."""
    outcome = FiringService(PostgresFiringStore(db), MemoryQueue(), clock=lambda: at).fire(
        TARGET, f"idempotency-key:{key}", {"body": key}
    )
    return outcome.status, outcome.execution_id


def retention(db: Database, now: datetime = NOW, days: int = 30) -> HistoryRetention:
    return HistoryRetention(PostgresHistoryPartitions(db), days, clock=lambda: now)


def month_ago(months: int) -> datetime:
    start = month_start(NOW)
    for _ in range(months):
        start = month_start(start - timedelta(days=1))
    return start


_CHILDREN = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'trigger_events'::regclass"
)


def partitions_of(url: str) -> dict[str, str]:
    """Each stored firing's execution id and the partition that holds it."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT execution_id, tableoid::regclass::text FROM trigger_events").fetchall()
    return dict(rows)


def claims(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT execution_id FROM trigger_claims")}


def test_the_migration_keeps_the_history_and_its_claims() -> None:
    """A database of the release before: its firings stay readable, claimed ids stay claimed."""
    with own_database("ws_retention", migrate_to=4) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO trigger_events (workflow_id, trigger_id, trigger_type, execution_id, status, claimed,"
                " fired_at) SELECT 'orders', 'hook', 'webhook', 'exec_old_' || i, 'dispatched', i % 2 = 0,"
                " now() - i * interval '3 days' FROM generate_series(0, 59) i"
            )
            before = conn.execute("SELECT * FROM trigger_events ORDER BY execution_id").fetchall()
        assert apply_migrations(url)[0] == "0005_scale"
        with psycopg.connect(url) as conn:
            after = conn.execute(
                "SELECT id, workflow_id, trigger_id, trigger_type, version, execution_id, status, error, detail,"
                " fired_at, updated_at, claimed, attempts, latency_ms, dispatched_at, payload, payload_text"
                " FROM trigger_events ORDER BY execution_id"
            ).fetchall()
            (partition,) = {row[0] for row in conn.execute("SELECT tableoid::regclass::text FROM trigger_events")}
        assert after == before
        assert partition == "trigger_events_legacy"  # attached as it was, not copied
        assert claims(url) == {f"exec_old_{i}" for i in range(0, 60, 2)}
        database = Database(url)
        try:
            old = TriggerEvent(
                execution_id="exec_old_0",
                workflow_id="orders",
                trigger_id="hook",
                trigger_type=TriggerType.WEBHOOK,
                version=1,
                data={},
                fired_at=NOW,
            )
            with PostgresFiringStore(database).claim(old) as claimed:
                assert not claimed  # still claimed: a duplicate
            assert fire(database, "new", NOW)[0] == FiringStatus.QUEUED
        finally:
            database.close()
        with psycopg.connect(url) as conn:
            names = {row[0] for row in conn.execute(_CHILDREN)}
        # The old rows' partition runs to the end of this month; the next two months are ready.
        first = next_month(month_start(NOW))
        ahead = {partition_name(first), partition_name(next_month(first))}
        assert names == {"trigger_events_legacy", "trigger_events_default"} | ahead


def test_retention_drops_old_months_and_keeps_the_last_30_days(url: str, db: Database) -> None:
    store = PostgresHistoryPartitions(db)
    for months in (4, 3, 2, 1):  # the months a service running for a while has filled
        store.create(month_ago(months), next_month(month_ago(months)))
    ages = [0, 1, 10, 29, 30 - 1 / 24, 45, 62, 75, 100, 400]  # days; 400 has no partition: the catch-all one
    fired = {age: fire(db, f"key-{age}", NOW - timedelta(days=age))[1] for age in ages}
    assert partitions_of(url)[fired[400]] == "trigger_events_default"

    report = retention(db).run()

    left = partitions_of(url)
    # The last 30 days are all there; whole months wholly older than that are gone, with their claims.
    assert all(fired[age] in left for age in ages if age < 30)
    assert all(fired[age] not in left for age in ages if age >= 62)
    assert all(fired[age] not in claims(url) for age in ages if age >= 30)
    assert all(fired[age] in claims(url) for age in ages if age < 30)
    assert report.keep_from == month_start(NOW - timedelta(days=30))
    assert set(report.dropped) >= {partition_name(month_ago(4)), partition_name(month_ago(3))}
    assert report.unpartitioned_expired == 1 and report.skipped == []
    # Kept at most a month longer than the retention: nothing older than the month 30 days ago started.
    with psycopg.connect(url) as conn:
        (oldest,) = conn.execute("SELECT min(fired_at) FROM trigger_events").fetchone() or (None,)
    assert oldest is not None and oldest >= report.keep_from


def test_claims_inside_the_window_still_refuse_duplicates_afterwards(db: Database) -> None:
    recent = NOW - timedelta(hours=23)  # inside the 24 h an Idempotency-Key is promised, and the 30 days kept
    older = NOW - timedelta(days=29)
    assert fire(db, "order-7", recent)[0] == FiringStatus.QUEUED
    assert fire(db, "order-8", older)[0] == FiringStatus.QUEUED

    retention(db).run()
    retention(db, days=1).run()  # even the shortest retention the setting allows keeps the promised day

    assert fire(db, "order-7", NOW)[0] == FiringStatus.DUPLICATE
    # Past a 1-day retention the key is forgotten: the same call is a new execution (history is bounded).
    assert fire(db, "order-8", NOW)[0] == FiringStatus.QUEUED


def test_months_ahead_are_created_so_firings_always_find_their_partition(url: str, db: Database) -> None:
    in_three_months = next_month(next_month(next_month(month_start(NOW))))
    # Past the months the migration made: kept in the catch-all partition, never refused.
    status, waiting = fire(db, "far", in_three_months + timedelta(days=3))
    assert status == FiringStatus.QUEUED
    assert partitions_of(url)[waiting] == "trigger_events_default"

    a_month_later = retention(db, now=next_month(month_start(NOW)) + timedelta(days=1)).run()

    assert f"{in_three_months:%Y-%m}" in a_month_later.created and a_month_later.moved == 1
    assert partitions_of(url)[waiting] == partition_name(in_three_months)
    status, landed = fire(db, "next", in_three_months + timedelta(days=10))
    assert partitions_of(url)[landed] == partition_name(in_three_months)
    assert retention(db, now=next_month(month_start(NOW)) + timedelta(days=2)).run().created == []


def test_a_long_reader_delays_a_drop_by_seconds_only_and_the_next_run_does_it(url: str, db: Database) -> None:
    store = PostgresHistoryPartitions(db)
    store.create(month_ago(4), next_month(month_ago(4)))
    old = partition_name(month_ago(4))
    with psycopg.connect(url) as reader:
        reader.execute("SELECT count(*) FROM trigger_events")  # holds its locks until this transaction ends
        started = time.monotonic()
        busy = retention(db).run()
        assert time.monotonic() - started < 10
    assert old not in busy.dropped and busy.skipped and "locked" in busy.skipped[0]
    assert old in retention(db).run().dropped


def test_one_run_at_a_time(url: str, db: Database) -> None:
    other = Database(url)
    try:
        with PostgresHistoryPartitions(other).exclusive() as held:
            assert held
            assert retention(db).run().busy
    finally:
        other.close()
    assert not retention(db).run().busy


def test_the_cli_refuses_a_retention_shorter_than_the_idempotency_window(url: str) -> None:
    command = [sys.executable, "-m", "workflow_scheduler.cli", "retention", "--dry-run"]
    env = {**os.environ, "DATABASE_URL": url}
    refused = subprocess.run([*command, "--days", "0"], capture_output=True, text=True, env=env, check=False)
    assert refused.returncode == 2
    assert "shorter than the 24 h a webhook Idempotency-Key is remembered" in refused.stderr
    assert json.loads(subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout)["dry_run"]


def test_the_function_runs_it_and_returns_its_report(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FIRING_RETENTION_DAYS", "45")
    handler = load_handler_module("retention", fresh=True)
    report = handler.lambda_handler(load_event("retention", "daily"), LocalContext(function_name="retention"))
    assert report["retention_days"] == 45 and report["dry_run"] is False and report["skipped"] == []
    assert report["keep_from"] == month_start(NOW - timedelta(days=45)).isoformat()
    monkeypatch.setenv("FIRING_RETENTION_DAYS", "0")
    with pytest.raises(ValueError, match="shorter than the 24 h a webhook Idempotency-Key is remembered"):
        load_handler_module("retention", fresh=True)
