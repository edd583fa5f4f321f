"""Deploys record what they wrote to each schedule (issue 11): reconcile reads only what changed out of band.

EventBridge Scheduler in moto, the trigger index in PostgreSQL, deploys through the service as the api function makes
them. The rule under test: a deploy's record holds its definition hash and the window of its own clock around the
call (the API returns no modification date); a listed schedule whose date falls in that window, give or take
``CLOCK_SKEW``, and whose state and target match is the deploy's write, in step without a ``GetSchedule``.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

from tests.integration.conftest import create_state_table
from tests.integration.test_reconcile import counts, cron
from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.locks_dynamodb import DynamoDBLockManager
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.adapters.reconcile_store import PostgresReconcileStore
from workflow_scheduler.adapters.scheduler import EventBridgeSchedules, SchedulerTarget
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.triggers.cron.reconcile import Reconciler
from workflow_scheduler.domain.triggers.cron.schedules import CLOCK_SKEW, ScheduleWrite, schedule_name
from workflow_scheduler.settings import SchedulerSettings
from workflow_scheduler.wiring import deployment_service

pytestmark = pytest.mark.integration

GROUP = "deploy-writes"
TABLE = "deploy-writes-locks"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:cron"
ROLE_ARN = "arn:aws:iam::123456789012:role/scheduler"


@dataclass
class System:
    url: str
    service: DeploymentService
    client: Any  # the reconciler's Scheduler client: its GetSchedule calls are counted
    read: collections.Counter[str]

    def reconciler(self, **options: Any) -> Reconciler:
        schedules = EventBridgeSchedules(SchedulerTarget(GROUP, FUNCTION_ARN, ROLE_ARN), client=self.client)
        return Reconciler(PostgresReconcileStore(Database(self.url)), schedules, DynamoDBLockManager(TABLE), **options)

    def rows(self) -> dict[str, dict[str, Any]]:
        with psycopg.connect(self.url) as conn:
            cursor = conn.execute(
                "SELECT schedule_name, definition_hash, modified_at, written_from, checked_at FROM cron_schedule_writes"
            )
            names = [column.name for column in cursor.description or []]
            return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}

    def schedule(self, name: str) -> dict[str, Any]:
        return dict(self.client.get_schedule(Name=name, GroupName=GROUP))

    def names(self) -> set[str]:
        return {s["Name"] for s in self.client.list_schedules(GroupName=GROUP)["Schedules"]}


@pytest.fixture
def system(clean_database: str) -> Iterator[System]:
    with mock_aws():
        boto3.client("scheduler").create_schedule_group(Name=GROUP)
        create_state_table(TABLE)
        settings = SchedulerSettings(
            schedule_group_name=GROUP, cron_function_arn=FUNCTION_ARN, scheduler_role_arn=ROLE_ARN
        )
        db = Database(clean_database)
        read: collections.Counter[str] = collections.Counter()
        client = boto3.client("scheduler")
        client.meta.events.register(
            "provide-client-params.scheduler.GetSchedule", lambda params, **_: read.update([params["Name"]])
        )
        yield System(clean_database, deployment_service(db, settings), client, read)
        db.close()


def past_the_skew() -> None:
    """Let the deploys' windows (give or take the skew) end before what comes next."""
    time.sleep(CLOCK_SKEW.total_seconds() + 0.5)


def test_schedules_written_by_deploys_are_in_step_for_reconcile_without_a_read(system: System) -> None:
    service = system.service
    # Every write of the deployment path: creates (one trigger split in two schedules), an update in place and a
    # split that shrinks (update and delete), pause and resume (updates), an undeploy (deletes).
    service.deploy("wf-a", "alice", {"nodes": [cron("a", "0 9 * * *"), cron("b", "0 12 1 * MON")]})
    service.deploy("wf-a", "alice", {"nodes": [cron("a", "0 10 * * *"), cron("b", "0 12 * * *")]}, must_exist=True)
    service.pause("wf-a", "alice")
    service.resume("wf-a", "alice")
    service.deploy("wf-b", "alice", {"nodes": [cron("c", "0 8 * * *")]})
    service.undeploy("wf-b", "alice")
    deployed = {schedule_name("wf-a", "a", 0), schedule_name("wf-a", "b", 0)}
    assert system.names() == deployed
    rows = system.rows()
    assert set(rows) == deployed, "a record per schedule there is; the deleted ones' records are gone"
    assert all(row["written_from"] is not None and row["checked_at"] is None for row in rows.values())

    system.read.clear()
    # Right after the deploys, with the deployed settling time: nothing is deferred, nothing read.
    report = system.reconciler().run()
    assert counts(report) == {"in_step": 2}
    assert system.read == collections.Counter()
    # The listing's date is pinned: the record is now exact, as reconcile's own are.
    for name, row in system.rows().items():
        assert row["written_from"] is None and row["checked_at"] is not None
        assert row["modified_at"] == system.schedule(name)["LastModificationDate"]
    system.read.clear()
    assert counts(system.reconciler().run()) == {"in_step": 2}
    assert system.read == collections.Counter()


def test_a_schedule_changed_by_hand_after_its_deploy_is_read_and_repaired(system: System) -> None:
    system.service.deploy("wf-h", "alice", {"nodes": [cron("a", "0 9 * * *"), cron("b", "30 6 * * *")]})
    edited, untouched = schedule_name("wf-h", "a", 0), schedule_name("wf-h", "b", 0)
    past_the_skew()
    found = system.schedule(edited)
    keys = ("Name", "GroupName", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target", "State")
    # State and target unchanged: only the listing's modification date, past the deploy's window, shows it.
    system.client.update_schedule(**{key: found[key] for key in keys}, ScheduleExpression="cron(5 5 * * ? *)")

    system.read.clear()
    assert counts(system.reconciler(settle_seconds=0).run()) == {"repaired": 1, "in_step": 1}
    assert system.read == collections.Counter([edited])
    assert system.schedule(edited)["ScheduleExpression"] == "cron(0 9 * * ? *)"
    assert untouched not in system.read


def test_a_rolled_back_deploy_leaves_no_record_and_what_its_compensation_wrote_is_read_once(system: System) -> None:
    service = system.service
    service.deploy("wf-r", "alice", {"nodes": [cron("a", "0 9 * * *")]})
    kept = schedule_name("wf-r", "a", 0)
    before = system.rows()[kept]
    past_the_skew()
    # The new trigger's schedule name is taken: its create fails, the deploy rolls back and the update of the
    # first trigger's schedule is undone (one more modification, after the first deploy's window).
    taken = schedule_name("wf-r", "z", 0)
    system.client.create_schedule(
        Name=taken,
        GroupName=GROUP,
        ScheduleExpression="cron(0 0 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=system.schedule(kept)["Target"],
    )
    with pytest.raises(RegistrationFailed):
        service.deploy("wf-r", "alice", {"nodes": [cron("a", "0 10 * * *"), cron("z", "0 11 * * *")]})
    assert system.schedule(kept)["ScheduleExpression"] == "cron(0 9 * * ? *)"  # compensated
    assert system.rows() == {kept: before}, "the failed deploy's writes left no record"

    system.read.clear()
    # The compensated schedule is read once and found as the first deploy left it; the taken name is an orphan.
    assert counts(system.reconciler(settle_seconds=0).run()) == {"verified": 1, "deleted": 1}
    assert system.read == collections.Counter([kept])
    system.read.clear()
    assert counts(system.reconciler(settle_seconds=0).run()) == {"in_step": 1}
    assert system.read == collections.Counter()


def test_a_deploys_record_does_not_replace_what_reconcile_did_within_the_skew_of_its_call(system: System) -> None:
    system.service.deploy("wf-c", "alice", {"nodes": [cron("a", "0 9 * * *")]})
    name = schedule_name("wf-c", "a", 0)
    system.reconciler().run()  # pins the deploy's write: reconcile's record now
    row = system.rows()[name]
    store = PostgresDeploymentStore(Database(system.url))

    def deploy_wrote(after_check: timedelta) -> None:
        # A deploy whose call began that long after reconcile checked the schedule, committing after it too.
        started = row["checked_at"] + after_check
        with store.transaction() as tx:
            tx.remember_schedule_write(ScheduleWrite(name, "wf-c", "a", "newer", started, started))

    # Within the clocks' skew, which of the two wrote last is unknown: reconcile's record stays (the deploy's date
    # is later than it, so the next run reads the schedule).
    deploy_wrote(CLOCK_SKEW - timedelta(seconds=1))
    assert system.rows()[name] == row
    # Clearly after: the deploy's record replaces it.
    deploy_wrote(CLOCK_SKEW + timedelta(seconds=1))
    assert system.rows()[name]["definition_hash"] == "newer"
