"""Bounded work per request over HTTP on the local system: the trigger cap, a deploy at the cap well inside
API Gateway's 29 s, and cron previews (API and command line) that end at EventBridge's last year."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.local_system import LocalSystem

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def alice(system: LocalSystem) -> dict[str, str]:
    return {"Authorization": f"Bearer {system.token('alice')}"}


def trigger(node_id: str, subtype: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": subtype, "parameters": parameters}


def schedule_count(system: LocalSystem) -> int:
    environment = system.running_environment()
    client = boto3.client(
        "scheduler",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        region_name=environment["AWS_DEFAULT_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pages = client.get_paginator("list_schedules").paginate(GroupName=environment["SCHEDULE_GROUP_NAME"])
    return sum(len(page["Schedules"]) for page in pages)


def test_too_many_triggers_is_a_422_and_nothing_is_deployed(system: LocalSystem, alice: dict[str, str]) -> None:
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    nodes = [trigger(f"m{i}", "TRIGGER_MANUAL", {}) for i in range(3000)]
    url = f"{system.base_url}/v1/workflows/{workflow_id}/deploy"
    response = requests.post(url, json={"workflow_spec": {"nodes": nodes}}, headers=alice, timeout=30)
    assert response.status_code == 422, response.text[:300]
    body = response.json()
    assert body["error"] == "too_many_triggers"
    assert "3000" in body["message"] and "100" in body["message"]
    assert requests.get(url, headers=alice, timeout=10).status_code == 404


def test_a_deploy_at_the_cap_finishes_well_inside_29_seconds(system: LocalSystem, alice: dict[str, str]) -> None:
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    # Each expression names both day fields, so it is split into two schedules: 200 in all.
    nodes = [trigger(f"c{i}", "TRIGGER_CRON", {"cron_expression": f"{i % 60} 12 1,15 * MON"}) for i in range(100)]
    before = schedule_count(system)
    url = f"{system.base_url}/v1/workflows/{workflow_id}/deploy"
    started = time.monotonic()
    response = requests.post(url, json={"workflow_spec": {"nodes": nodes}}, headers=alice, timeout=60)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["triggers"]) == 100
    assert schedule_count(system) == before + 200
    assert elapsed < 20, f"a deploy at the cap took {elapsed:.1f} s"

    started = time.monotonic()
    gone = requests.delete(url, headers=alice, timeout=60)
    assert gone.status_code == 200 and time.monotonic() - started < 20
    assert schedule_count(system) == before


def test_a_leap_day_preview_ends_at_2199_over_http_and_on_the_command_line(
    system: LocalSystem, alice: dict[str, str]
) -> None:
    query = {"expression": "0 0 29 2 *", "count": "1000"}
    started = time.monotonic()
    response = requests.get(f"{system.base_url}/v1/cron/preview", params=query, headers=alice, timeout=30)
    assert time.monotonic() - started < 5
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["runs"][-1].startswith("2196-02-29") and len(body["runs"]) < 1000
    assert any("ends early" in w and "2199" in w for w in body["warnings"])

    done = system.cli("cron", "preview", "0 0 29 2 *", "--count", "1000")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["runs"] == body["runs"] and printed["warnings"] == body["warnings"]
