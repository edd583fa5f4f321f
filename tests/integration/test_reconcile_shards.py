"""Reconcile in shards (issue 11) against EventBridge Scheduler in moto and 3,000 cron triggers in PostgreSQL.

A lost group is recreated shard by shard with one shard crashing midway: its retry resumes from its checkpoint and
no schedule is created twice. Then the group is broken every way at once (schedules deleted, orphans, states and
expressions changed by hand, a definition the service no longer writes) and a shard crashes again, in the middle
of its listing: the result is exact, and only the schedules changed by hand are read.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

from tests.integration.conftest import create_state_table
from tests.support.databases import own_database
from tests.support.events import load_event
from tests.support.scale import TEMPLATE_ID, clone_id, clone_workflows, template_body
from workflow_scheduler.adapters.locks_dynamodb import DynamoDBLockManager
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.adapters.reconcile_store import PostgresReconcileStore
from workflow_scheduler.adapters.scheduler import EventBridgeSchedules, SchedulerTarget
from workflow_scheduler.domain.locks import LockNotAcquired, StaleFencingToken
from workflow_scheduler.domain.triggers.cron.reconcile import (
    SHARD_LEASE_SECONDS,
    Checkpoint,
    Counter,
    Phase,
    Reconciler,
    ReconcileReport,
    ShardLeaseLost,
    shard_lock_name,
)
from workflow_scheduler.domain.triggers.cron.schedules import schedule_name, schedule_stem
from workflow_scheduler.local.functions import load_handler_module
from workflow_scheduler.local.invoke import LocalContext
from workflow_scheduler.settings import SchedulerSettings
from workflow_scheduler.wiring import deployment_service

pytestmark = pytest.mark.integration

GROUP = "reconcile-shards"
TABLE = "reconcile-shard-locks"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:cron"
ROLE_ARN = "arn:aws:iam::123456789012:role/scheduler"
WORKFLOWS = 1500  # copies of the template: 2 cron triggers each, one schedule each
SHARD_SIZE = 400  # cron triggers per shard: 8 shards


class Crash(Exception):
    """The invocation dies right after an AWS call succeeded, before anything else is recorded."""


@dataclass
class Calls:
    """Scheduler calls by operation and the names created; crashes after the ``crash_after``-th call of
    ``crash_on`` once armed."""

    operations: collections.Counter[str] = field(default_factory=collections.Counter)
    created: collections.Counter[str] = field(default_factory=collections.Counter)
    read: collections.Counter[str] = field(default_factory=collections.Counter)
    crash_on: frozenset[str] = frozenset()
    crash_after: int | None = None

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.operations[model.name] += 1
        if model.name == "CreateSchedule":
            self.created[params["Name"]] += 1
        if model.name == "GetSchedule":
            self.read[params["Name"]] += 1

    def after(self, model: Any, **_: Any) -> None:
        if self.crash_after is not None and model.name in self.crash_on:
            self.crash_after -= 1
            if self.crash_after == 0:
                self.crash_after = None
                raise Crash(model.name)

    def reset(self) -> None:
        self.operations.clear()
        self.created.clear()
        self.read.clear()


@dataclass
class Loaded:
    url: str
    db: Database
    calls: Calls
    client: Any

    def reconciler(self, **options: Any) -> Reconciler:
        schedules = EventBridgeSchedules(SchedulerTarget(GROUP, FUNCTION_ARN, ROLE_ARN), client=self.client)
        store = PostgresReconcileStore(self.db)
        return Reconciler(
            store, schedules, DynamoDBLockManager(TABLE), shard_size=SHARD_SIZE, settle_seconds=0, **options
        )

    def names(self) -> set[str]:
        paginator = boto3.client("scheduler").get_paginator("list_schedules")
        return {s["Name"] for page in paginator.paginate(GroupName=GROUP) for s in page["Schedules"]}


def expected_names() -> set[str]:
    ids = [TEMPLATE_ID] + [clone_id(n) for n in range(WORKFLOWS)]
    return {schedule_name(wid, trigger, 0) for wid in ids for trigger in ("nightly", "office")}


@pytest.fixture(scope="module")
def loaded() -> Iterator[Loaded]:
    with own_database("ws_reconcile") as url, mock_aws():
        boto3.client("scheduler").create_schedule_group(Name=GROUP)
        create_state_table(TABLE)
        db = Database(url)
        settings = SchedulerSettings(
            schedule_group_name=GROUP, cron_function_arn=FUNCTION_ARN, scheduler_role_arn=ROLE_ARN
        )
        deployment_service(db, settings).deploy(TEMPLATE_ID, "alice", template_body(TEMPLATE_ID)["workflow_spec"])
        clone_workflows(url, 0, WORKFLOWS)  # in the index only: their schedules are "lost"
        calls = Calls()
        client = boto3.client("scheduler")
        client.meta.events.register("provide-client-params.scheduler", calls.before)
        client.meta.events.register("after-call.scheduler", calls.after)
        yield Loaded(url, db, calls, client)
        db.close()


def run_with_one_crash(reconciler: Reconciler, calls: Calls, *, crash_on: set[str], after: int) -> ReconcileReport:
    """Every shard in turn; the shard that crashes is tried again, as the state machine's retry does."""
    plan = reconciler.plan()
    calls.crash_on, calls.crash_after = frozenset(crash_on), after
    crashed = []
    for number in range(plan.shards):
        try:
            done = reconciler.work(plan.run_id, number)
        except Crash:
            crashed.append(number)
            done = reconciler.work(plan.run_id, number)
        assert done
    assert len(crashed) == 1, "the crash happened in exactly one shard"
    return reconciler.finish(plan.run_id)


def counts(report: ReconcileReport) -> dict[str, int]:
    return {counter.value: report.count(counter) for counter in Counter if report.count(counter)}


def test_a_lost_group_is_recreated_in_shards_and_a_crashed_shard_resumes(loaded: Loaded) -> None:
    reconciler = loaded.reconciler()
    store = PostgresReconcileStore(loaded.db)
    loaded.calls.reset()
    plan = reconciler.plan()
    shards = [store.shard(plan.run_id, n)[0] for n in range(plan.shards)]
    assert plan.shards >= 6 and all(shard.triggers <= SHARD_SIZE for shard in shards)
    assert sum(shard.triggers for shard in shards) == 2 * (WORKFLOWS + 1)
    probes = {probe for shard in shards for probe in shard.probes}
    largest = max(range(plan.shards), key=lambda n: shards[n].triggers)
    assert shards[largest].triggers > 250

    for number in range(plan.shards):
        if number == largest:
            # 220 creates in: past its first page of 200 triggers, whose checkpoint is written.
            loaded.calls.crash_on, loaded.calls.crash_after = frozenset({"CreateSchedule"}), 220
            with pytest.raises(Crash):
                reconciler.work(plan.run_id, number)
            _, checkpoint = store.shard(plan.run_id, number)
            assert checkpoint.phase == Phase.MISSING and checkpoint.after is not None  # where the retry resumes
        assert reconciler.work(plan.run_id, number)
    report = reconciler.finish(plan.run_id)

    assert loaded.names() == expected_names()
    # The template's two schedules are as its deploy recorded writing them: in step, not read. Every other one was
    # created once. The create the crash interrupted was made, not counted: the invocation died before it could
    # count it.
    assert counts(report) == {"created": 2 * WORKFLOWS - 1, "in_step": 2}
    assert len(loaded.calls.created) == 2 * WORKFLOWS and set(loaded.calls.created.values()) == {1}
    assert loaded.calls.read == collections.Counter(probes)  # each prefix split, once (no orphan)
    assert set(loaded.calls.operations) == {"ListSchedules", "CreateSchedule", "GetSchedule"}

    # The next run reads that one (it has nothing remembered); after it, nothing but the listing and the probes.
    assert counts(reconciler.run()) == {"in_step": 2 * (WORKFLOWS + 1) - 1, "verified": 1}
    loaded.calls.reset()
    assert counts(reconciler.run()) == {"in_step": 2 * (WORKFLOWS + 1)}
    assert set(loaded.calls.operations) == {"ListSchedules", "GetSchedule"} and set(loaded.calls.read) == probes
    prefixes = sum(len(shard.prefixes) for shard in shards)
    assert loaded.calls.operations["ListSchedules"] <= 2 * (WORKFLOWS + 1) / 100 + prefixes


def test_drift_of_every_kind_is_repaired_exactly_and_only_changed_schedules_are_read(loaded: Loaded) -> None:
    reconciler = loaded.reconciler()
    client = boto3.client("scheduler")
    reconciler.run()  # in step, whatever the test before left
    expected = sorted(expected_names())
    plan = reconciler.plan()
    probes = [p for n in range(plan.shards) for p in PostgresReconcileStore(loaded.db).shard(plan.run_id, n)[0].probes]
    reconciler.finish(plan.run_id)
    assert probes, "the shared id prefix made the plan split prefixes"

    deleted = expected[0:20]
    for name in deleted:
        client.delete_schedule(Name=name, GroupName=GROUP)
    template = client.get_schedule(Name=expected[100], GroupName=GROUP)
    orphans = [schedule_name(f"gone-{n}", "nightly", 0) for n in range(15)] + ["manual", probes[0]]
    for name in orphans:
        client.create_schedule(
            Name=name,
            GroupName=GROUP,
            ScheduleExpression="cron(0 0 * * ? *)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=template["Target"],
        )
    edited = expected[200:210]  # by hand, state and target unchanged: only the modification date shows it
    for name in edited:
        client.update_schedule(**{**definition(client, name), "ScheduleExpression": "cron(5 5 * * ? *)"})
    disabled = expected[300:305]
    for name in disabled:
        client.update_schedule(**{**definition(client, name), "State": "DISABLED"})
    # A trigger whose version moved on without its schedule following (a compensation that failed).
    with psycopg.connect(loaded.url, autocommit=True) as conn:
        conn.execute("UPDATE trigger_index SET version = version + 1 WHERE workflow_id = %s", (clone_id(900),))
    bumped = {schedule_name(clone_id(900), trigger, 0) for trigger in ("nightly", "office")}

    loaded.calls.reset()
    # A shard dies right after the third deletion, in its listing phase (that deletion is done, never counted).
    report = run_with_one_crash(reconciler, loaded.calls, crash_on={"DeleteSchedule"}, after=3)

    assert loaded.names() == expected_names()
    assert counts(report) == {
        "created": 20,
        "deleted": len(orphans) - 1,
        "repaired": len(edited) + len(disabled) + len(bumped),
        "in_step": len(expected) - 20 - len(edited) - len(disabled) - len(bumped),
    }
    operations = loaded.calls.operations
    # Read: the hand-edited ones, once each, and the names of split prefixes (the orphan among them was taken).
    assert {name: n for name, n in loaded.calls.read.items() if name not in probes} == dict.fromkeys(edited, 1)
    assert (operations["CreateSchedule"], operations["DeleteSchedule"]) == (20, len(orphans))
    assert operations["UpdateSchedule"] == len(edited) + len(disabled) + len(bumped)
    for name in [*edited, *disabled]:
        found = client.get_schedule(Name=name, GroupName=GROUP)
        assert found["State"] == "ENABLED" and found["ScheduleExpression"] != "cron(5 5 * * ? *)"
    for name in bumped:
        assert json.loads(client.get_schedule(Name=name, GroupName=GROUP)["Target"]["Input"])["version"] == 2


def definition(client: Any, name: str) -> dict[str, Any]:
    found = client.get_schedule(Name=name, GroupName=GROUP)
    keys = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target")
    return {key: found[key] for key in keys} | {"State": found["State"]}


def test_a_listing_whose_token_expired_is_listed_again(loaded: Loaded) -> None:
    reconciler = loaded.reconciler()
    reconciler.run()
    spoiled: list[str] = []

    def spoil(params: dict[str, Any], **_: Any) -> None:
        if "NextToken" in params and not spoiled:
            spoiled.append(params["NextToken"])
            params["NextToken"] = "expired"

    loaded.client.meta.events.register("provide-client-params.scheduler.ListSchedules", spoil)
    try:
        assert counts(reconciler.run()) == {"in_step": 2 * (WORKFLOWS + 1)}
    finally:
        loaded.client.meta.events.unregister("provide-client-params.scheduler.ListSchedules", spoil)
    assert spoiled


def test_a_slow_shard_renews_its_lease_and_one_that_lost_it_stops(loaded: Loaded) -> None:
    loaded.reconciler().run()  # in step, whatever the tests before left
    now = [time.time()]
    lock_writes: list[str] = []
    dynamodb = boto3.client("dynamodb")
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.UpdateItem",
        lambda params, **_: lock_writes.append(params["UpdateExpression"].split()[0]),
    )
    reconciler = Reconciler(
        PostgresReconcileStore(loaded.db),
        EventBridgeSchedules(SchedulerTarget(GROUP, FUNCTION_ARN, ROLE_ARN), client=loaded.client),
        DynamoDBLockManager(TABLE, dynamodb, clock=lambda: now[0]),
        shard_size=SHARD_SIZE,
        settle_seconds=0,
        clock=lambda: datetime.fromtimestamp(now[0], UTC),
    )
    step = [40.0]  # seconds each listing page takes

    def slow(**_: Any) -> None:
        now[0] += step[0]

    loaded.client.meta.events.register("provide-client-params.scheduler.ListSchedules", slow)
    try:
        plan = reconciler.plan()
        lock_writes.clear()
        # Several pages of 40 s each: far past the 120 s lease, which is renewed as the shard goes.
        assert reconciler.work(plan.run_id, 0)
        acquired, *renewed, released = lock_writes
        assert (acquired, released) == ("SET", "REMOVE") and len(renewed) >= 2 and set(renewed) == {"SET"}
        step[0] = SHARD_LEASE_SECONDS + 1  # one page outlasts the whole lease: another attempt may hold it now
        with pytest.raises(ShardLeaseLost):
            reconciler.work(plan.run_id, 1)
        step[0] = 1
        assert all(reconciler.work(plan.run_id, n) for n in range(1, plan.shards))
        assert counts(reconciler.finish(plan.run_id)) == {"in_step": 2 * (WORKFLOWS + 1)}
    finally:
        loaded.client.meta.events.unregister("provide-client-params.scheduler.ListSchedules", slow)


def test_a_shard_has_one_worker_at_a_time_and_a_stale_one_cannot_move_its_checkpoint(loaded: Loaded) -> None:
    reconciler = loaded.reconciler()
    store = PostgresReconcileStore(loaded.db)
    locks = DynamoDBLockManager(TABLE)
    plan = reconciler.plan()
    try:
        with locks.hold(shard_lock_name(plan.run_id, 0), 60) as first, pytest.raises(LockNotAcquired):
            reconciler.work(plan.run_id, 0)
        assert reconciler.work(plan.run_id, 0)  # a newer lease: a larger fencing token
        with pytest.raises(StaleFencingToken):
            store.save_checkpoint(plan.run_id, 0, first.fencing_token, Checkpoint(Phase.LISTING), 0)
    finally:
        reconciler.finish(plan.run_id)


def test_the_stem_is_computed_alike_in_python_and_postgresql(loaded: Loaded) -> None:
    ids = [
        ("wf", "t"),
        ("Ünïcödé wf", "tr 1"),
        ("a" * 80, "b" * 80),
        ("x😀y", "[]{}"),
        ("  ", "\t\n"),
        ("ß€", "İı"),
        ("a.b", "c-d_e"),
        ("-", "."),
        ("\uff41", "\uff5a"),  # fullwidth letters
    ]
    with psycopg.connect(loaded.url) as conn:
        for workflow_id, trigger_id in ids:
            (stem,) = conn.execute("SELECT cron_schedule_stem(%s, %s)", (workflow_id, trigger_id)).fetchone() or ("",)
            assert stem == schedule_stem(workflow_id, trigger_id)


def test_the_function_runs_the_steps_and_logs_its_report(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in {
        "DATABASE_URL": loaded.url,
        "SCHEDULE_GROUP_NAME": GROUP,
        "CRON_FUNCTION_ARN": FUNCTION_ARN,
        "SCHEDULER_ROLE_ARN": ROLE_ARN,
        "STATE_TABLE_NAME": TABLE,
        "RECONCILE_SHARD_SIZE": str(SHARD_SIZE),
        "RECONCILE_CALLS_PER_SECOND": "10000",
    }.items():
        monkeypatch.setenv(name, value)
    handler = load_handler_module("reconcile", fresh=True).lambda_handler

    def invoke(event: dict[str, Any]) -> Any:
        return handler(event, LocalContext(function_name="reconcile"))

    # The daily event of a direct invocation: a whole run here.
    report = invoke(load_event("reconcile", "daily"))
    assert (report["status"], report["dry_run"], report["shards"]) == ("done", False, 8)
    # Every schedule counted once (what a deploy wrote in the last two minutes is left alone: "deferred").
    assert sum(report[c] for c in ("created", "verified", "repaired", "in_step", "deferred")) == 2 * (WORKFLOWS + 1)
    # One line with the report nested: its "created" would clash with the log record's own attribute.
    (line,) = [record for record in caplog.records if record.getMessage() == "schedules_reconciled"]
    assert line.__dict__["report"] == report and line.__dict__["status"] == "done"

    # The state machine's steps: plan, every shard (until done), finish.
    plan = invoke({"action": "plan", "dry_run": True})
    assert plan["shards"] == list(range(8)) and plan["dry_run"] is True
    for number in plan["shards"]:
        answer = invoke({"action": "shard", "run_id": plan["run_id"], "shard": number})
        assert answer == {"run_id": plan["run_id"], "shard": number, "done": True}
    finished = invoke({"action": "finish", "run_id": plan["run_id"]})
    assert finished["in_step"] + finished["deferred"] == 2 * (WORKFLOWS + 1) and finished["dry_run"] is True
    with pytest.raises(ValueError, match="unknown action"):
        invoke({"action": "everything"})
