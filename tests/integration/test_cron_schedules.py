"""Bounded work per request, in-process on real PostgreSQL with EventBridge Scheduler in moto: the trigger cap,
a deploy at the cap, exact compensation when some concurrent schedule calls fail, and previews ending at 2199."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, deploy_body, manual
from tests.support.events import load_event, with_token
from workflow_scheduler.adapters.concurrency import thread_pool_runner
from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.adapters.scheduler import EventBridgeSchedules, SchedulerTarget
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.triggers.cron.registrar import CronRegistrar
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.manual.registrar import ManualRegistrar
from workflow_scheduler.domain.triggers.webhook.registrar import WebhookRegistrar
from workflow_scheduler.local.invoke import LocalContext

GROUP = "workflow-scheduler-bounded"
TARGET = SchedulerTarget(
    group_name=GROUP,
    function_arn="arn:aws:lambda:us-east-1:123456789012:function:cron",
    role_arn="arn:aws:iam::123456789012:role/scheduler",
)


def cron(node_id: str, expression: str = "0 12 1,15 * MON") -> dict[str, Any]:
    """The default expression splits into two schedules (day of month OR day of week)."""
    params = {"cron_expression": expression}
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_CRON", "parameters": params}


@dataclass
class System:
    api: ApiClient
    database_url: str

    def schedules(self) -> dict[str, dict[str, Any]]:
        """Every schedule of the group, as its definition (what a restore must bring back exactly)."""
        client = boto3.client("scheduler")
        found = {}
        for page in client.get_paginator("list_schedules").paginate(GroupName=GROUP):
            for item in page["Schedules"]:
                got = client.get_schedule(Name=item["Name"], GroupName=GROUP)
                found[item["Name"]] = {
                    key: got.get(key) for key in ("ScheduleExpression", "ScheduleExpressionTimezone", "State", "Target")
                }
        return found

    def preview(self, **query: str) -> tuple[int, dict[str, Any]]:
        import json

        event = load_event("api", "status")
        event["path"] = "/v1/cron/preview"
        event["pathParameters"] = {"proxy": "cron/preview"}
        event["requestContext"]["path"] = "/prod/v1/cron/preview"
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        with_token(event, self.api.token())
        result = self.api.handler.lambda_handler(event, LocalContext(function_name="api"))
        return result["statusCode"], json.loads(result["body"])


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    stack.scheduler(GROUP, TARGET.function_arn, TARGET.role_arn)
    return System(stack.api(), stack.database_url)


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    client = boto3.client("scheduler")
    for name in system.schedules():
        client.delete_schedule(Name=name, GroupName=GROUP)
    return system


# -- the cap through the API function ----------------------------------------------------------------------


def test_a_workflow_over_the_cap_is_a_422_too_many_triggers(fresh: System) -> None:
    body = deploy_body(*[manual(f"m{i}") for i in range(101)])
    reply = fresh.api.call("deploy", "wf-big", body)
    assert reply.status == 422, reply.body
    assert reply.body["error"] == "too_many_triggers"
    assert "101" in reply.body["message"] and "100" in reply.body["message"]
    assert fresh.api.call("status", "wf-big").status == 404


def test_a_deploy_at_the_cap_creates_every_schedule_and_a_noop_update_calls_nothing(fresh: System) -> None:
    body = deploy_body(*[cron(f"c{i}") for i in range(100)])
    started = time.perf_counter()
    reply = fresh.api.call("deploy", "wf-cap", body)
    elapsed = time.perf_counter() - started
    assert reply.status == 200, reply.body
    assert len(reply.body["triggers"]) == 100
    assert len(fresh.schedules()) == 200
    assert elapsed < 29, elapsed  # API Gateway's limit, with moto's own time included

    before = fresh.schedules()
    again = fresh.api.call("update", "wf-cap", body)
    assert again.status == 200 and again.body["changed"] is False
    assert fresh.schedules() == before


# -- exact compensation with some concurrent calls failing (moto, with the k-th call refused) ---------------------


class FailingClient:
    """The moto Scheduler client, except that the k-th mutating call (1-based) is refused."""

    MUTATING = ("create_schedule", "update_schedule", "delete_schedule")

    def __init__(self, fail_call: int | None) -> None:
        self._client = boto3.client("scheduler")
        self._lock = threading.Lock()
        self.calls = 0
        self.fail_call = fail_call

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in self.MUTATING:
            return method

        def call(**kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
                failing = self.calls == self.fail_call
            if failing:
                raise ClientError({"Error": {"Code": "InternalServerException", "Message": "boom"}}, name)
            return method(**kwargs)

        return call


def service(database_url: str, client: FailingClient) -> DeploymentService:
    schedules = EventBridgeSchedules(TARGET, client)
    manager = TriggerManager([ManualRegistrar(), WebhookRegistrar(), CronRegistrar(schedules)])
    return DeploymentService(PostgresDeploymentStore(Database(database_url)), manager, run_all=thread_pool_runner(8))


@pytest.mark.parametrize("k", [1, 17, 40])
def test_a_failed_first_deploy_leaves_no_schedule(fresh: System, k: int) -> None:
    client = FailingClient(fail_call=k)
    with pytest.raises(RegistrationFailed):
        service(fresh.database_url, client).deploy("wf-k", "alice", {"nodes": [cron(f"c{i}") for i in range(20)]})
    assert fresh.schedules() == {}
    assert fresh.api.call("status", "wf-k").status == 404


@pytest.mark.parametrize("k", [1, 9, 20, 30])
def test_a_failed_update_brings_every_schedule_back_exactly(fresh: System, k: int) -> None:
    before_nodes = [cron(f"c{i}") for i in range(15)]
    # 5 removed (10 deletes), 5 changed to one schedule (5 updates, 5 deletes), 5 untouched, 5 added (10 creates).
    after_nodes = [cron(f"c{i}", "30 6 * * *") for i in range(5, 10)] + before_nodes[10:]
    after_nodes += [cron(f"n{i}") for i in range(5)]
    client = FailingClient(fail_call=None)
    deployments = service(fresh.database_url, client)
    deployments.deploy("wf-k", "alice", {"nodes": before_nodes})
    snapshot = fresh.schedules()
    assert len(snapshot) == 30

    client.calls, client.fail_call = 0, k
    with pytest.raises(RegistrationFailed):
        deployments.deploy("wf-k", "alice", {"nodes": after_nodes})
    assert fresh.schedules() == snapshot
    status = fresh.api.call("status", "wf-k")
    assert status.body["version"] == 1 and len(status.body["triggers"]) == 15


@pytest.mark.parametrize("k", [1, 15])
def test_a_failed_undeploy_recreates_every_schedule(fresh: System, k: int) -> None:
    client = FailingClient(fail_call=None)
    deployments = service(fresh.database_url, client)
    deployments.deploy("wf-k", "alice", {"nodes": [cron(f"c{i}") for i in range(10)]})
    snapshot = fresh.schedules()
    client.calls, client.fail_call = 0, k
    with pytest.raises(RegistrationFailed):
        deployments.undeploy("wf-k", "alice")
    assert fresh.schedules() == snapshot
    assert fresh.api.call("status", "wf-k").body["status"] == "deployed"


# -- previews ---------------------------------------------------------------------------------------------------


def test_the_preview_of_a_leap_day_stops_at_2199_and_says_so(fresh: System) -> None:
    status, body = fresh.preview(expression="0 0 29 2 *", count="1000")
    assert status == 200, body
    assert 0 < len(body["runs"]) < 1000 and body["runs"][-1].startswith("2196-02-29")
    assert any("ends early" in w and "2199" in w for w in body["warnings"]), body["warnings"]
