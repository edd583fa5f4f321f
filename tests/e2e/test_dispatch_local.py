"""Firings reach the engine on the local system: the dispatch queue is consumed in-process, like Lambda would.

Manual runs and webhook calls over HTTP end up at the engine stub (``GET /_local/executions``); with an engine
that fails, firings are retried seconds apart, parked in the dead-letter queue, and ``dlq redrive`` sends them
again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.local_system import LocalSystem, start_system
from tests.support.engine import ACCEPT, Answer, LoopbackEngine

pytestmark = pytest.mark.e2e

SPEC: dict[str, Any] = {
    "name": "dispatch",
    "nodes": [
        {
            "id": "run",
            "node_type": "TRIGGER_NODE",
            "subtype": "TRIGGER_MANUAL",
            "parameters": {"require_confirmation": True},
        },
        {"id": "hook", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {"methods": ["POST"]}},
    ],
}


def deploy(system: LocalSystem, headers: dict[str, str]) -> str:
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    url = f"{system.base_url}/v1/workflows/{workflow_id}/deploy"
    response = requests.post(url, json={"workflow_spec": SPEC}, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return workflow_id


def executions(system: LocalSystem, execution_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The engine stub's execute calls for this execution id, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            body
            for body in requests.get(f"{system.base_url}/_local/executions", timeout=10).json()["executions"]
            if body["execution_id"] == execution_id
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    local = start_system(tmp_path_factory.mktemp("dispatch") / "state")
    yield local
    assert local.stop() == 0, local.output()


@pytest.fixture(scope="module")
def alice(system: LocalSystem) -> dict[str, str]:
    return {"Authorization": f"Bearer {system.token('alice')}"}


def test_a_manual_run_reaches_the_engine_stub(system: LocalSystem, alice: dict[str, str]) -> None:
    workflow_id = deploy(system, alice)
    url = f"{system.base_url}/v1/workflows/{workflow_id}/trigger/manual"
    refused = requests.post(url, json={"inputs": {"n": 1}}, headers=alice, timeout=10)
    assert refused.status_code == 403 and refused.json()["status"] == "confirmation_required"

    started = requests.post(url, json={"confirmation": True, "inputs": {"n": 1}}, headers=alice, timeout=10)
    assert started.status_code == 200, started.text
    execution_id = started.json()["execution_id"]
    [body] = executions(system, execution_id)
    assert body["workflow_id"] == workflow_id
    assert body["trigger"]["type"] == "manual" and body["trigger"]["trigger_id"] == "run"
    data = body["trigger"]["data"]
    assert (data["user_id"], data["inputs"], data["execution_id"]) == ("alice", {"n": 1}, execution_id)
    assert data["trigger_time"] and body["triggered_at"]
    calls = requests.get(f"{system.base_url}/_local/executions", timeout=10).json()["executions"]
    assert [call["execution_id"] for call in calls if call["workflow_id"] == workflow_id] == [execution_id]


def test_a_webhook_call_reaches_the_engine_stub_with_its_idempotency_key(
    system: LocalSystem, alice: dict[str, str]
) -> None:
    workflow_id = deploy(system, alice)
    response = requests.post(
        f"{system.base_url}/webhook/{workflow_id}?source=shop",
        json={"order": 42},
        headers={"Idempotency-Key": f"order-{workflow_id}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]
    [body] = executions(system, execution_id)
    assert body["workflow_id"] == workflow_id and body["trigger"]["type"] == "webhook"
    data = body["trigger"]["data"]
    assert data["body"] == {"order": 42} and data["query_params"] == {"source": "shop"}
    assert data["method"] == "POST" and data["path"] == f"/webhook/{workflow_id}"
    # The stub logs each call's Idempotency-Key header (its listing shows bodies only).
    assert system.wait_for_output(rf"execution_id={execution_id} idempotency_key={execution_id}\b")


def test_a_failing_engine_parks_the_firing_and_redrive_delivers_it(
    tmp_path_factory: pytest.TempPathFactory, fresh_database: str
) -> None:
    with LoopbackEngine(rule=lambda call: Answer(503, {"message": "down for maintenance"})) as engine:
        local = start_system(
            tmp_path_factory.mktemp("failing-engine") / "state",
            DATABASE_URL=fresh_database,
            WORKFLOW_ENGINE_URL=engine.url,
            DISPATCH_BACKOFF_MAX_SECONDS="1",
        )
        try:
            headers = {"Authorization": f"Bearer {local.token('alice')}"}
            workflow_id = deploy(local, headers)
            response = requests.post(f"{local.base_url}/webhook/{workflow_id}", json={"n": 1}, timeout=10)
            assert response.status_code == 202, response.text
            execution_id = response.json()["execution_id"]
            # Five attempts about a second apart, then the dead-letter queue.
            assert local.wait_for_output(rf"firing_parked .*execution_id={execution_id}", timeout=20), local.output()
            assert len(engine.calls_for(execution_id)) == 5
            assert len(local.wait_for_output(r"dispatch_retry .*attempt=\d", count=4)) >= 4

            engine.rule = lambda call: ACCEPT
            done = local.cli("dlq", "redrive")
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout) == {"moved": 1}
            assert local.wait_for_output(rf"firing_dispatched .*execution_id={execution_id}", timeout=10)
            assert engine.accepted() == {execution_id: 1}
        finally:
            assert local.stop() == 0, local.output()
