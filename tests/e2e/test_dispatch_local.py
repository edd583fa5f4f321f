"""Firings reach the engine on the local system: the dispatch queue is consumed in-process, like Lambda would.

Manual runs and webhook calls over HTTP end up at the engine stub (``GET /_local/executions``); with an engine
that fails, firings are retried (at once here: no backoff), parked in the dead-letter queue, and ``dlq redrive``
sends them again.
"""

from __future__ import annotations

import json
import time
import uuid
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
            DISPATCH_BACKOFF_BASE_SECONDS="0",  # what is tested is where the firing ends up, not when
        )
        try:
            headers = {"Authorization": f"Bearer {local.token('alice')}"}
            workflow_id = deploy(local, headers)
            response = requests.post(f"{local.base_url}/webhook/{workflow_id}", json={"n": 1}, timeout=10)
            assert response.status_code == 202, response.text
            execution_id = response.json()["execution_id"]
            # Five attempts, then the dead-letter queue.
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


def test_webhook_auth_modes_and_refusals_over_http(system: LocalSystem, alice: dict[str, str]) -> None:
    import base64
    import hashlib
    import hmac

    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    prefix = f"e2e-{workflow_id}"

    def hook(node_id: str, auth: dict[str, str]) -> dict[str, Any]:
        params = {"webhook_path": f"{prefix}/{node_id}", "methods": ["POST"], "auth": auth}
        return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": params}

    nodes = [
        hook("open", {"type": "none"}),
        hook("keyed", {"type": "api_key", "header": "X-Api-Key", "secret": "key-1"}),
        hook("signed", {"type": "hmac_sha256", "header": "X-Signature", "secret": "sig-2"}),
        hook("basic", {"type": "basic", "username": "bot", "secret": "pw-3"}),
    ]
    url = f"{system.base_url}/v1/workflows/{workflow_id}/deploy"
    deployed = requests.post(url, json={"workflow_spec": {"nodes": nodes}}, headers=alice, timeout=10)
    assert deployed.status_code == 200, deployed.text
    assert "key-1" not in deployed.text and "sig-2" not in deployed.text and "pw-3" not in deployed.text
    hooks = {t["trigger_id"]: t["webhook_url"] for t in deployed.json()["triggers"]}

    body = json.dumps({"order": 7}).encode()
    signature = "sha256=" + hmac.new(b"sig-2", body, hashlib.sha256).hexdigest()
    basic = "Basic " + base64.b64encode(b"bot:pw-3").decode()
    json_type = {"Content-Type": "application/json"}
    accepted = {
        "open": requests.post(hooks["open"], data=body, headers=json_type, timeout=10),
        "keyed": requests.post(hooks["keyed"], data=body, headers={**json_type, "X-Api-Key": "key-1"}, timeout=10),
        "signed": requests.post(
            hooks["signed"], data=body, headers={**json_type, "X-Signature": signature}, timeout=10
        ),
        "basic": requests.post(hooks["basic"], data=body, headers={**json_type, "Authorization": basic}, timeout=10),
    }
    for name, response in accepted.items():
        assert response.status_code == 202, (name, response.text)
        [call] = executions(system, response.json()["execution_id"])
        assert call["trigger"]["trigger_id"] == name and call["trigger"]["data"]["body"] == {"order": 7}
        assert not {"x-api-key", "x-signature", "authorization"} & set(call["trigger"]["data"]["headers"])

    refusals = [
        (requests.post(hooks["keyed"], data=body, headers={"X-Api-Key": "wrong"}, timeout=10), 401),
        (requests.post(hooks["keyed"], data=body, timeout=10), 401),
        (requests.post(hooks["signed"], data=body, headers={"X-Signature": "sha256=" + "0" * 64}, timeout=10), 401),
        (requests.post(hooks["basic"], data=body, headers={"Authorization": "Basic Ym90Ondyb25n"}, timeout=10), 401),
        (requests.get(hooks["open"], timeout=10), 405),
        (requests.post(hooks["open"], data=b"x" * (1024 * 1024 + 1), timeout=30), 413),
        (requests.post(f"{system.base_url}/webhook/{prefix}/nowhere", data=body, timeout=10), 404),
    ]
    for response, status in refusals:
        assert response.status_code == status, (status, response.text)
        assert response.json()["error"] and response.json()["message"]
    assert refusals[4][0].headers["Allow"] == "POST"

    requests.post(f"{system.base_url}/v1/workflows/{workflow_id}/pause", headers=alice, timeout=10)
    paused = requests.post(hooks["open"], data=body, headers=json_type, timeout=10)
    assert paused.status_code == 409 and paused.json()["error"] == "workflow_paused"
