"""The local system on its embedded defaults (pgserver, moto, engine stub), over HTTP and through the CLI.

The system is the one the e2e modules share (tests/e2e/conftest.py), which also checks that it stops cleanly."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from tests.e2e.local_system import LocalSystem
from workflow_scheduler.local.apigw import rest_event
from workflow_scheduler.local.state import LOCAL_AUDIENCE, LOCAL_ISSUER

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
SPEC: dict[str, Any] = {
    "name": "x",
    "nodes": [
        {"id": "t1", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL", "parameters": {}},
        {"id": "hook", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {"methods": ["POST"]}},
    ],
}


@pytest.fixture(scope="module")
def alice(system: LocalSystem) -> dict[str, str]:
    return {"Authorization": f"Bearer {system.token('alice')}"}


@pytest.fixture(scope="module")
def bob(system: LocalSystem) -> dict[str, str]:
    return {"Authorization": f"Bearer {system.token('bob')}"}


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:8]}"


def deploy_url(system: LocalSystem, workflow_id: str) -> str:
    return f"{system.base_url}/v1/workflows/{workflow_id}/deploy"


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_health(system: LocalSystem) -> None:
    response = requests.get(f"{system.base_url}/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "dependencies": {"database": "ok"}}


def test_each_request_is_logged_on_one_line(system: LocalSystem) -> None:
    requests.get(f"{system.base_url}/health", timeout=10)
    assert system.wait_for_output(r"GET /health 200 \d+ ms \(api\)")


def test_engine_stub_records_execute_calls(system: LocalSystem) -> None:
    executions = f"{system.base_url}/_local/executions"
    workflow_id = new_id()  # the system is shared: this test's calls are those of its own workflow

    def recorded() -> list[dict[str, Any]]:
        listed = requests.get(executions, timeout=10).json()["executions"]
        return [call for call in listed if call["workflow_id"] == workflow_id]

    assert recorded() == []
    body = {"execution_id": "e-1", "workflow_id": workflow_id, "trigger": {"type": "manual"}, "triggered_at": "now"}
    engine = system.running_environment()["WORKFLOW_ENGINE_URL"]
    for call in (body, {**body, "execution_id": "e-2"}):
        response = requests.post(
            f"{engine}/v1/workflows/{workflow_id}/execute",
            json=call,
            headers={"Idempotency-Key": str(call["execution_id"])},
            timeout=10,
        )
        assert response.status_code == 202
        assert response.json() == {"execution_id": call["execution_id"], "status": "accepted"}
    assert recorded() == [body, {**body, "execution_id": "e-2"}]
    cleared = requests.delete(executions, timeout=10)
    assert cleared.status_code == 200 and cleared.json()["cleared"] >= 2
    assert recorded() == []


def test_deployment_life_cycle(system: LocalSystem, alice: dict[str, str]) -> None:
    workflow_id = new_id()
    url = deploy_url(system, workflow_id)

    deployed = requests.post(url, json={"workflow_spec": SPEC}, headers=alice, timeout=10)
    assert deployed.status_code == 200, deployed.text
    body = deployed.json()
    assert body["workflow_id"] == workflow_id
    assert body["deployment_id"]
    assert (body["status"], body["version"]) == ("deployed", 1)
    triggers = {t["trigger_id"]: t for t in body["triggers"]}
    assert set(triggers) == {"t1", "hook"}
    assert triggers["hook"]["webhook_url"] == f"{system.base_url}/webhook/{workflow_id}"

    status = requests.get(url, headers=alice, timeout=10)
    assert status.status_code == 200
    assert (status.json()["status"], status.json()["workflow_spec"]) == ("deployed", SPEC)

    changed = {**SPEC, "name": "renamed"}
    updated = requests.put(url, json={"workflow_spec": changed}, headers=alice, timeout=10)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["version"], updated.json()["changed"]) == (2, True)
    again = requests.put(url, json={"workflow_spec": changed}, headers=alice, timeout=10)
    assert (again.json()["version"], again.json()["changed"]) == (2, False)

    paused = requests.post(f"{system.base_url}/v1/workflows/{workflow_id}/pause", headers=alice, timeout=10)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    resumed = requests.post(f"{system.base_url}/v1/workflows/{workflow_id}/resume", headers=alice, timeout=10)
    assert resumed.status_code == 200 and resumed.json()["status"] == "deployed"

    assert requests.delete(url, headers=alice, timeout=10).status_code == 200
    assert_error(requests.get(url, headers=alice, timeout=10), 404, "not_found")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "alice", "iat": now, "exp": now + 300, "aud": LOCAL_AUDIENCE, "iss": LOCAL_ISSUER, **overrides}


def test_tokens_the_system_refuses(system: LocalSystem) -> None:
    key = (system.state_dir / "jwt_signing_key").read_text().strip()
    refused = {
        "missing": None,
        "not bearer": f"Basic {system.token('alice')}",
        "expired": f"Bearer {system.token('alice', ttl=-60)}",
        "other key": f"Bearer {jwt.encode(_claims(), 'another-key-of-at-least-32-bytes!!', algorithm='HS256')}",
        "alg none": f"Bearer {jwt.encode(_claims(), '', algorithm='none')}",
        "wrong audience": f"Bearer {jwt.encode(_claims(aud='someone-else'), key, algorithm='HS256')}",
        "wrong issuer": f"Bearer {jwt.encode(_claims(iss='someone-else'), key, algorithm='HS256')}",
        "garbage": "Bearer not.a.token",
    }
    url = deploy_url(system, "wf-auth")
    for case, authorization in refused.items():
        headers = {"Authorization": authorization} if authorization else {}
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 401, (case, response.text)
        assert response.json()["error"] == "unauthorized", case
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    accepted = jwt.encode(_claims(), key, algorithm="HS256")
    assert requests.get(url, headers={"Authorization": f"Bearer {accepted}"}, timeout=10).status_code == 404


def test_another_users_workflow_is_not_found(system: LocalSystem, alice: dict[str, str], bob: dict[str, str]) -> None:
    workflow_id = new_id()
    url = deploy_url(system, workflow_id)
    assert requests.post(url, json={"workflow_spec": SPEC}, headers=alice, timeout=10).status_code == 200
    assert_error(requests.get(url, headers=bob, timeout=10), 404, "not_found")
    assert_error(requests.put(url, json={"workflow_spec": SPEC}, headers=bob, timeout=10), 404, "not_found")
    pause = f"{system.base_url}/v1/workflows/{workflow_id}/pause"
    assert_error(requests.post(pause, headers=bob, timeout=10), 404, "not_found")
    assert_error(requests.delete(url, headers=bob, timeout=10), 404, "not_found")
    assert requests.get(url, headers=alice, timeout=10).json()["status"] == "deployed"


def _trigger(node_id: str, subtype: str = "TRIGGER_MANUAL", **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": subtype, "parameters": parameters}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(b'{"workflow_spec": {', 422, "validation_error", id="malformed JSON"),
        pytest.param(b"[1, 2]", 422, "validation_error", id="JSON array"),
        pytest.param(b'"just a string"', 422, "validation_error", id="JSON string"),
        pytest.param(b"", 422, "validation_error", id="no body"),
        pytest.param({"workflow_spec": {"name": "x"}}, 422, "validation_error", id="missing nodes"),
        pytest.param({"workflow_spec": {"nodes": []}}, 422, "validation_error", id="empty nodes"),
        pytest.param({"spec": SPEC}, 422, "validation_error", id="unknown field"),
        pytest.param(
            {"workflow_spec": {"nodes": [_trigger("t", "TRIGGER_TELEPATHY")]}}, 422, "validation_error", id="subtype"
        ),
        pytest.param({"workflow_spec": {"nodes": ["not a node"]}}, 422, "validation_error", id="node not an object"),
    ],
)
def test_bad_deploy_bodies_are_client_errors(
    system: LocalSystem, alice: dict[str, str], body: Any, status: int, code: str
) -> None:
    url = deploy_url(system, new_id())
    headers = {**alice, "Content-Type": "application/json"}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert_error(requests.post(url, data=data, headers=headers, timeout=10), status, code)


def test_duplicate_node_ids_are_listed(system: LocalSystem, alice: dict[str, str]) -> None:
    spec = {"nodes": [_trigger("same"), _trigger("same"), _trigger("other")]}
    body = assert_error(
        requests.post(deploy_url(system, new_id()), json={"workflow_spec": spec}, headers=alice, timeout=10),
        422,
        "validation_error",
    )
    assert "same" in {problem.get("node_id") for problem in body["problems"]}


def test_a_webhook_path_belongs_to_one_workflow(system: LocalSystem, alice: dict[str, str]) -> None:
    path = f"/webhook/shared/{uuid.uuid4().hex[:8]}"
    spec = {"nodes": [_trigger("hook", "TRIGGER_WEBHOOK", webhook_path=path)]}
    first = requests.post(deploy_url(system, new_id()), json={"workflow_spec": spec}, headers=alice, timeout=10)
    assert first.status_code == 200, first.text
    second = requests.post(deploy_url(system, new_id()), json={"workflow_spec": spec}, headers=alice, timeout=10)
    assert_error(second, 409, "webhook_path_conflict")


def test_bodies_over_api_gateways_limit_are_refused_by_the_gateway(system: LocalSystem, alice: dict[str, str]) -> None:
    workflow_id = new_id()
    url = deploy_url(system, workflow_id)
    assert_error(requests.post(url, data=b"x" * (10 * MiB + 1), headers=alice, timeout=30), 413, "payload_too_large")

    def chunked() -> Iterator[bytes]:  # no Content-Length: the gateway counts as it reads
        for _ in range(11):
            yield b"x" * MiB

    assert_error(requests.post(url, data=chunked(), headers=alice, timeout=30), 413, "payload_too_large")
    answered_by = system.wait_for_output(rf"POST /v1/workflows/{workflow_id}/deploy 413 \d+ ms \((\w+)\)", 2)
    assert answered_by == ["gateway", "gateway"]


def test_specs_over_the_functions_limit_are_refused_by_the_function(system: LocalSystem, alice: dict[str, str]) -> None:
    spec = {**SPEC, "description": "x" * (MiB + 1)}
    response = requests.post(deploy_url(system, new_id()), json={"workflow_spec": spec}, headers=alice, timeout=30)
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("POST", "/health"), ("GET", "/v1"), ("GET", "/v1/nope"), ("GET", "/_local/nope")],
)
def test_unknown_routes_are_not_found(system: LocalSystem, alice: dict[str, str], method: str, path: str) -> None:
    assert_error(requests.request(method, system.base_url + path, headers=alice, timeout=10), 404, "not_found")


def test_swagger_ui(system: LocalSystem) -> None:
    page = requests.get(f"{system.base_url}/swagger", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "swagger" in page.text.lower()
    document = requests.get(f"{system.base_url}/swagger", params={"format": "json"}, timeout=10).json()
    assert "/v1/workflows/{workflow_id}/deploy" in document["paths"]
    assert document["servers"] == [{"url": "/"}], "Try it out must call this server's routes"


def _event_file(folder: Path, name: str, method: str, path: str, body: Any = None) -> str:
    resource = "/health" if path == "/health" else "/v1/{proxy+}"
    event = rest_event(
        method,
        path,
        resource=resource,
        path_parameters=None if path == "/health" else {"proxy": path.removeprefix("/v1/")},
        headers={"Content-Type": "application/json"},
        body=None if body is None else json.dumps(body).encode(),
    )
    target = folder / f"{name}.json"
    target.write_text(json.dumps(event))
    return str(target)


def test_invoke_uses_the_running_system(system: LocalSystem, alice: dict[str, str], tmp_path: Path) -> None:
    health_event = _event_file(tmp_path, "health", "GET", "/health")
    health = system.cli("invoke", "api", "--event", health_event, "--user", "alice")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["statusCode"] == 200

    workflow_id = new_id()
    deploy = _event_file(tmp_path, "deploy", "POST", f"/v1/workflows/{workflow_id}/deploy", {"workflow_spec": SPEC})
    deployed = system.cli("invoke", "api", "--event", deploy, "--user", "alice")
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["statusCode"] == 200, deployed.stdout
    # Deployed in-process by the CLI, seen over HTTP: one database, one signing key.
    status = requests.get(deploy_url(system, workflow_id), headers=alice, timeout=10)
    assert status.status_code == 200 and status.json()["version"] == 1
