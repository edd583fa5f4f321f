"""Cron triggers end to end in-process: schedules in EventBridge Scheduler (moto), the cron function, the queue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, deploy_body, manual
from tests.support.events import load_event
from tests.support.queues import take_messages
from workflow_scheduler.local.invoke import LocalContext

GROUP = "workflow-scheduler-test"


def cron(node_id: str, expression: str, **parameters: Any) -> dict[str, Any]:
    params = {"cron_expression": expression, **parameters}
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_CRON", "parameters": params}


@dataclass
class System:
    api: ApiClient
    cron: ModuleType
    queue_url: str
    database_url: str

    def schedules(self) -> dict[str, dict[str, Any]]:
        client = boto3.client("scheduler")
        names = [s["Name"] for s in client.list_schedules(GroupName=GROUP)["Schedules"]]
        return {n: client.get_schedule(Name=n, GroupName=GROUP) for n in names}

    def fire(self, workflow_id: str, trigger_id: str, version: int, scheduled: str) -> dict[str, Any]:
        event = load_event("cron", "scheduled", workflow_id=workflow_id, trigger_id=trigger_id, version=version)
        event["scheduled_time"] = scheduled
        return self.cron.lambda_handler(event, LocalContext(function_name="cron"))  # type: ignore[no-any-return]

    def messages(self) -> list[dict[str, Any]]:
        return take_messages(self.queue_url)


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    stack.scheduler(
        GROUP,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:cron",
        role_arn="arn:aws:iam::123456789012:role/scheduler",
        dlq_arn="arn:aws:sqs:us-east-1:123456789012:schedules-dlq",
    )
    return System(stack.api(), stack.load("cron"), stack.queue_url, stack.database_url)


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    client = boto3.client("scheduler")
    for name in system.schedules():
        client.delete_schedule(Name=name, GroupName=GROUP)
    system.messages()
    return system


def test_deploy_creates_one_schedule_per_expression(fresh: System) -> None:
    body = deploy_body(
        cron("daily", "0 9 * * MON-FRI", timezone="America/New_York"),
        cron("split", "0 12 1,15 * MON"),
        cron("off", "*/5 * * * *", enabled=False),
    )
    reply = fresh.api.call("deploy", "wf-c", body)
    assert reply.status == 200, reply.body
    daily, split, off = reply.body["triggers"]
    assert daily["schedules"] == ["cron(0 9 ? * MON-FRI *)"] and daily["status"] == "active"
    assert len(daily["next_run_times"]) == 5 and daily["next_run_times"][0].endswith(("-05:00", "-04:00"))
    assert split["schedules"] == ["cron(0 12 1,15 * ? *)", "cron(0 12 ? * MON *)"]
    assert off["status"] == "disabled"

    schedules = fresh.schedules()
    assert len(schedules) == 4 and all(len(name) <= 64 for name in schedules)
    by_expression = {s["ScheduleExpression"]: s for s in schedules.values()}
    ny = by_expression["cron(0 9 ? * MON-FRI *)"]
    assert ny["ScheduleExpressionTimezone"] == "America/New_York"
    assert ny["FlexibleTimeWindow"] == {"Mode": "OFF"} and ny["State"] == "ENABLED"
    assert ny["Target"]["Arn"].endswith(":function:cron")
    assert ny["Target"]["DeadLetterConfig"]["Arn"].endswith(":schedules-dlq")
    assert ny["Target"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert json.loads(ny["Target"]["Input"]) == {
        "workflow_id": "wf-c",
        "trigger_id": "daily",
        "version": 1,
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "schedule_arn": "<aws.scheduler.schedule-arn>",
    }
    assert by_expression[off["schedules"][0]]["State"] == "DISABLED"


def test_pause_resume_update_and_undeploy(fresh: System) -> None:
    body = deploy_body(cron("a", "0 9 * * *"), cron("b", "30 18 * * *", timezone="Europe/Berlin"))
    assert fresh.api.call("deploy", "wf-c", body).status == 200
    fresh.api.call("pause", "wf-c")
    assert {s["State"] for s in fresh.schedules().values()} == {"DISABLED"}
    fresh.api.call("resume", "wf-c")
    states = {
        s["ScheduleExpression"]: (s["State"], s["ScheduleExpressionTimezone"]) for s in fresh.schedules().values()
    }
    assert states == {"cron(0 9 * * ? *)": ("ENABLED", "UTC"), "cron(30 18 * * ? *)": ("ENABLED", "Europe/Berlin")}

    before = fresh.schedules()
    body["workflow_spec"]["nodes"][0]["parameters"]["cron_expression"] = "15 9 * * *"
    assert fresh.api.call("update", "wf-c", body).body["version"] == 2
    after = fresh.schedules()
    assert set(after) == set(before)
    changed = [n for n in after if after[n]["ScheduleExpression"] != before[n]["ScheduleExpression"]]
    assert len(changed) == 1 and after[changed[0]]["ScheduleExpression"] == "cron(15 9 * * ? *)"
    assert json.loads(after[changed[0]]["Target"]["Input"])["version"] == 2
    untouched = next(n for n in after if n not in changed)
    assert json.loads(after[untouched]["Target"]["Input"])["version"] == 1
    assert after[untouched]["ScheduleExpressionTimezone"] == "Europe/Berlin"

    assert fresh.api.call("undeploy", "wf-c").status == 200
    assert fresh.schedules() == {}


def test_failed_deploy_removes_the_schedules_it_created(fresh: System) -> None:
    from tests.support.api import webhook

    assert fresh.api.call("deploy", "wf-other", deploy_body(webhook("h", webhook_path="team/taken"))).status == 200
    clash = deploy_body(cron("a", "0 9 * * *"), cron("b", "0 10 * * *"), webhook("h", webhook_path="team/taken"))
    assert fresh.api.call("deploy", "wf-c", clash).status == 409
    assert fresh.schedules() == {}


def test_invalid_cron_is_a_422_naming_node_and_field(fresh: System) -> None:
    body = deploy_body(cron("bad", "0 0 30 2 *"), cron("zone", "0 9 * * *", timezone="Mars/Olympus"))
    reply = fresh.api.call("deploy", "wf-c", body)
    assert reply.status == 422
    assert {(p["node_id"], p["field"]) for p in reply.body["problems"]} == {
        ("bad", "parameters.cron_expression"),
        ("zone", "parameters.timezone"),
    }
    assert fresh.schedules() == {}


def test_cron_firing_is_once_per_scheduled_minute(fresh: System) -> None:
    assert fresh.api.call("deploy", "wf-c", deploy_body(cron("split", "0 12 1 * MON"))).status == 200
    first = fresh.fire("wf-c", "split", 1, "2026-06-01T12:00:00Z")  # a Monday the 1st: both schedules fire
    second = fresh.fire("wf-c", "split", 1, "2026-06-01T12:00:00Z")
    redelivered = fresh.fire("wf-c", "split", 1, "2026-06-01T12:00:00Z")
    assert first["status"] == "queued" and second["status"] == redelivered["status"] == "duplicate"
    assert first["execution_id"] == second["execution_id"] == redelivered["execution_id"]
    other = fresh.fire("wf-c", "split", 1, "2026-06-08T12:00:00Z")
    assert other["status"] == "queued" and other["execution_id"] != first["execution_id"]

    messages = fresh.messages()
    assert len(messages) == 2
    data = next(m for m in messages if m["execution_id"] == first["execution_id"])["data"]
    assert data["scheduled_time"] == "2026-06-01T12:00:00Z" and data["timezone"] == "UTC"


def test_stale_paused_and_undeployed_firings_are_refused(fresh: System) -> None:
    body = deploy_body(cron("c", "0 9 * * *"), manual("m"))
    assert fresh.api.call("deploy", "wf-c", body).status == 200
    body["workflow_spec"]["nodes"][0]["parameters"]["cron_expression"] = "0 10 * * *"
    assert fresh.api.call("update", "wf-c", body).status == 200
    assert fresh.fire("wf-c", "c", 1, "2026-06-01T09:00:00Z")["status"] == "refused"  # the old schedule's version
    fresh.api.call("pause", "wf-c")
    assert fresh.fire("wf-c", "c", 2, "2026-06-01T10:00:00Z")["status"] == "refused"
    fresh.api.call("resume", "wf-c")
    assert fresh.fire("wf-c", "c", 2, "2026-06-02T10:00:00Z")["status"] == "queued"
    fresh.api.call("undeploy", "wf-c")
    assert fresh.fire("wf-c", "c", 2, "2026-06-03T10:00:00Z")["status"] == "refused"
    assert len(fresh.messages()) == 1
    with psycopg.connect(fresh.database_url) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM trigger_events ORDER BY fired_at")]
    assert statuses == ["refused", "refused", "queued", "refused"]


def test_jitter_delays_the_message_by_a_fixed_amount(fresh: System) -> None:
    from workflow_scheduler.domain.triggers.cron.firing import jitter_seconds

    assert fresh.api.call("deploy", "wf-c", deploy_body(cron("j", "0 9 * * *", jitter_seconds=300))).status == 200
    expected = jitter_seconds("wf-c", "j", 300)
    assert 0 < expected <= 300 and expected == jitter_seconds("wf-c", "j", 300)
    assert fresh.fire("wf-c", "j", 1, "2026-06-01T09:00:00Z")["status"] == "queued"
    # Delayed on the queue (SQS DelaySeconds), not by a sleeping function: nothing is visible yet.
    assert boto3.client("sqs").receive_message(QueueUrl=fresh.queue_url).get("Messages", []) == []
