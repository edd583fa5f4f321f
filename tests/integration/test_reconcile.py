"""Reconcile against EventBridge Scheduler in moto and the real trigger index, under the DynamoDB lock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.integration.conftest import create_state_table
from workflow_scheduler.adapters.locks_dynamodb import DynamoDBLockManager
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.adapters.reconcile_store import PostgresReconcileStore
from workflow_scheduler.adapters.scheduler import EventBridgeSchedules, SchedulerTarget
from workflow_scheduler.domain.locks import LockNotAcquired
from workflow_scheduler.domain.triggers.cron.reconcile import LOCK_NAME, Counter, Reconciler, ReconcileReport
from workflow_scheduler.settings import SchedulerSettings
from workflow_scheduler.wiring import deployment_service

GROUP = "reconcile-test"
TABLE = "reconcile-locks"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("scheduler").create_schedule_group(Name=GROUP)
        create_state_table(TABLE)
        yield


def cron(node_id: str, expression: str) -> dict[str, Any]:
    return {
        "id": node_id,
        "node_type": "TRIGGER_NODE",
        "subtype": "TRIGGER_CRON",
        "parameters": {"cron_expression": expression},
    }


def test_reconcile_repairs_orphans_gaps_and_drift(aws: None, clean_database: str) -> None:
    scheduler = SchedulerSettings(
        schedule_group_name=GROUP,
        cron_function_arn="arn:aws:lambda:us-east-1:123456789012:function:cron",
        scheduler_role_arn="arn:aws:iam::123456789012:role/scheduler",
    )
    db = Database(clean_database)
    service = deployment_service(db, scheduler)
    service.deploy("wf-r", "alice", {"nodes": [cron("a", "0 9 * * *"), cron("b", "0 12 1 * MON")]})
    client = boto3.client("scheduler")
    names = sorted(s["Name"] for s in client.list_schedules(GroupName=GROUP)["Schedules"])
    assert len(names) == 3

    target = SchedulerTarget(GROUP, scheduler.cron_function_arn or "", scheduler.scheduler_role_arn or "")
    schedules = EventBridgeSchedules(target)
    locks = DynamoDBLockManager(TABLE)
    store = PostgresReconcileStore(db)
    # No settling time: the test changes schedules by hand and reconciles at once.
    reconciler = Reconciler(store, schedules, locks, settle_seconds=0)
    # The deploy recorded what it wrote: the listing shows its schedules as written, none is read.
    assert counts(reconciler.run()) == {"in_step": 3}
    assert counts(reconciler.run()) == {"in_step": 3}

    # Break it three ways: a schedule deleted by hand, an orphan, a state switched by hand.
    client.delete_schedule(Name=names[0], GroupName=GROUP)
    orphan = {**client.get_schedule(Name=names[1], GroupName=GROUP)}
    client.create_schedule(
        Name="orphan.x.0000000000-0",
        GroupName=GROUP,
        ScheduleExpression="cron(0 0 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=orphan["Target"],
    )
    drifted = client.get_schedule(Name=names[2], GroupName=GROUP)
    client.update_schedule(
        Name=names[2],
        GroupName=GROUP,
        ScheduleExpression=drifted["ScheduleExpression"],
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=drifted["Target"],
        State="DISABLED",
    )  # and the time zone is lost too: update replaces the whole schedule

    preview = reconciler.run(dry_run=True)
    assert counts(preview) == {"created": 1, "deleted": 1, "repaired": 1, "in_step": 1} and preview.dry_run
    assert "orphan.x.0000000000-0" in [s["Name"] for s in client.list_schedules(GroupName=GROUP)["Schedules"]]

    assert counts(reconciler.run()) == {"created": 1, "deleted": 1, "repaired": 1, "in_step": 1}
    assert sorted(s["Name"] for s in client.list_schedules(GroupName=GROUP)["Schedules"]) == names
    repaired = client.get_schedule(Name=names[2], GroupName=GROUP)
    assert repaired["State"] == "ENABLED" and json.loads(repaired["Target"]["Input"])["workflow_id"] == "wf-r"
    assert counts(reconciler.run()) == {"in_step": 3}

    # The expression changed by hand: the listing shows only a newer modification date, so that one is read.
    client.update_schedule(**{**schedule_definition(client, names[1]), "ScheduleExpression": "cron(1 1 * * ? *)"})
    assert counts(reconciler.run()) == {"repaired": 1, "in_step": 2}
    assert client.get_schedule(Name=names[1], GroupName=GROUP)["ScheduleExpression"] != "cron(1 1 * * ? *)"

    # The stack replaced the cron function: every schedule still aims at the old one until reconcile runs.
    moved_target = SchedulerTarget(GROUP, "arn:aws:lambda:us-east-1:123456789012:function:cron-v2", target.role_arn)
    moved = Reconciler(store, EventBridgeSchedules(moved_target), locks, settle_seconds=0)
    assert counts(moved.run()) == {"repaired": 3}
    assert {s["Target"]["Arn"] for s in (client.get_schedule(Name=n, GroupName=GROUP) for n in names)} == {
        "arn:aws:lambda:us-east-1:123456789012:function:cron-v2"
    }

    with locks.hold(LOCK_NAME, 30), pytest.raises(LockNotAcquired):
        reconciler.run()


def counts(report: ReconcileReport) -> dict[str, int]:
    """The report's non-zero counts."""
    return {counter.value: report.count(counter) for counter in Counter if report.count(counter)}


def schedule_definition(client: Any, name: str) -> dict[str, Any]:
    """What update_schedule needs to write a schedule back as it is."""
    found = client.get_schedule(Name=name, GroupName=GROUP)
    keys = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target")
    return {key: found[key] for key in keys} | {"State": found["State"]}
