"""Cron triggers on the local system: the scheduler emulator fires the schedules moto holds, minute by minute.

Two workflows fire every minute; after the first minute one is paused, and the next minute reaches the engine
stub for the other only. Then both are undeployed and the schedule group is empty. The test moves the emulator's
time ahead to each minute (``POST /_local/scheduler/advance``) instead of waiting for it: the path from the schedule
to the engine is the one a minute on the clock takes (tests/unit/test_scheduler_emulator.py covers the clock).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.local_system import LocalSystem, start_system

pytestmark = pytest.mark.e2e

WHOLE_MINUTE_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z")
DISPATCH_WAIT = 30  # from the firing to the engine stub, on a busy machine


def spec() -> dict[str, Any]:
    trigger = {"cron_expression": "* * * * *", "timezone": "Europe/Berlin"}
    node = {"id": "every", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_CRON", "parameters": trigger}
    return {"workflow_spec": {"name": "every minute", "nodes": [node]}}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, fresh_database: str) -> Iterator[LocalSystem]:
    # Not the shared system: moving its scheduler's time ahead would fire the other modules' schedules too.
    local = start_system(tmp_path_factory.mktemp("cron") / "state", DATABASE_URL=fresh_database)
    yield local
    assert local.stop() == 0, local.output()


def scheduler(system: LocalSystem) -> Any:
    environment = system.running_environment()
    return boto3.client(
        "scheduler",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        region_name=environment["AWS_DEFAULT_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def schedules(system: LocalSystem) -> dict[str, dict[str, Any]]:
    client, group = scheduler(system), system.running_environment()["SCHEDULE_GROUP_NAME"]
    names = [item["Name"] for item in client.list_schedules(GroupName=group)["Schedules"]]
    return {name: client.get_schedule(Name=name, GroupName=group) for name in names}


def executions(system: LocalSystem, workflow_id: str) -> list[dict[str, Any]]:
    found = requests.get(f"{system.base_url}/_local/executions", timeout=10).json()["executions"]
    return [body for body in found if body["workflow_id"] == workflow_id]


def advance_to(system: LocalSystem, minute: str) -> None:
    """The scheduler emulator's time moved ahead to ``minute``; it answers once every minute due by then has fired."""
    response = requests.post(f"{system.base_url}/_local/scheduler/advance", json={"to": minute}, timeout=90)
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["now"]) >= datetime.fromisoformat(minute)


def wait_for_executions(system: LocalSystem, workflow_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DISPATCH_WAIT
    while len(found := executions(system, workflow_id)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(found) >= count, f"{workflow_id}: {len(found)} executions, expected {count}:\n{system.output()}"
    return found


def utc_z(offset_time: str) -> str:
    return datetime.fromisoformat(offset_time).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled(execution: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(execution["trigger"]["data"]["scheduled_time"])


def test_every_minute_reaches_the_engine_pausing_stops_it_and_undeploy_empties_the_group(system: LocalSystem) -> None:
    headers = {"Authorization": f"Bearer {system.token('alice')}"}
    running, paused = (f"wf-cron-{uuid.uuid4().hex[:8]}" for _ in range(2))
    next_runs = {}
    for workflow_id in (running, paused):
        url = f"{system.base_url}/v1/workflows/{workflow_id}/deploy"
        response = requests.post(url, json=spec(), headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        [trigger] = response.json()["triggers"]
        assert trigger["schedules"] == ["cron(* * * * ? *)"]
        next_runs[workflow_id] = trigger["next_run_times"]
    deployed = schedules(system)
    assert len(deployed) == 2 and {s["State"] for s in deployed.values()} == {"ENABLED"}

    # The next minute, as the deploy response announced it, reaches the engine with EventBridge's input.
    for workflow_id in (running, paused):  # the same minute, unless the deploys straddled one
        advance_to(system, next_runs[workflow_id][0])
        [first] = wait_for_executions(system, workflow_id, 1)
        assert first["trigger"]["type"] == "cron" and first["trigger"]["trigger_id"] == "every"
        data = first["trigger"]["data"]
        assert WHOLE_MINUTE_UTC.fullmatch(data["scheduled_time"]), data
        assert data["scheduled_time"] == utc_z(next_runs[workflow_id][0])
        assert data["timezone"] == "Europe/Berlin" and data["cron_expression"] == "* * * * *"
        assert data["schedule_arn"].rsplit("/", 1)[1] in deployed

    response = requests.post(f"{system.base_url}/v1/workflows/{paused}/pause", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    states = {json.loads(s["Target"]["Input"])["workflow_id"]: s["State"] for s in schedules(system).values()}
    assert states == {running: "ENABLED", paused: "DISABLED"}

    # The minute after: the running workflow fires again, the paused one does not.
    advance_to(system, max((next_runs[running][1], next_runs[paused][1]), key=datetime.fromisoformat))
    first, second = wait_for_executions(system, running, 2)[:2]
    assert scheduled(second) - scheduled(first) == timedelta(minutes=1)
    assert second["execution_id"] != first["execution_id"]
    time.sleep(2)  # the paused one's firing, had there been one, would be dispatched with the other's
    assert len(executions(system, paused)) == 1, system.output()

    for workflow_id in (running, paused):
        response = requests.delete(f"{system.base_url}/v1/workflows/{workflow_id}/deploy", headers=headers, timeout=10)
        assert response.status_code == 200, response.text
    assert schedules(system) == {}
    assert system.wait_for_output(r"local\.scheduler: schedule \S+ at \S+Z -> workflow-scheduler-cron", count=3)
