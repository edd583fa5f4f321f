"""The API function in-process against real PostgreSQL and Secrets Manager in moto."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, deploy_body, manual, webhook
from workflow_scheduler.local.openapi import openapi_document


@pytest.fixture(scope="module")
def api(stack: Stack) -> ApiClient:
    stack.env.setenv("JWT_AUDIENCE", "workflow-scheduler")
    return stack.api()


@pytest.fixture
def client(api: ApiClient, clean_database: str) -> ApiClient:
    return api


def aud(client: ApiClient, user: str = "alice") -> str:
    return client.token(user, aud="workflow-scheduler")


def test_health_reports_the_database(client: ApiClient) -> None:
    reply = client.call("health", user=None)
    assert reply.status == 200 and reply.body == {"status": "ok", "dependencies": {"database": "ok"}}


def test_deploy_life_cycle(client: ApiClient) -> None:
    body = deploy_body(manual("m", require_confirmation=True), webhook("h", methods=["POST", "PUT"]))
    deployed = client.call("deploy", "wf-1", body, token=aud(client))
    assert deployed.status == 200, deployed.body
    assert deployed.body["status"] == "deployed" and deployed.body["version"] == 1 and deployed.body["changed"]
    hook = deployed.body["triggers"][1]
    assert hook == {
        "trigger_id": "h",
        "type": "webhook",
        "status": "active",
        "version": 1,
        "webhook_url": "https://hooks.example.com/webhook/wf-1",
        "methods": ["POST", "PUT"],
        "auth_type": "none",
    }

    status = client.call("status", "wf-1", token=aud(client))
    assert status.status == 200 and status.body["workflow_spec"] == body["workflow_spec"]
    assert status.body["deployment_id"] == deployed.body["deployment_id"]

    same = client.call("update", "wf-1", body, token=aud(client))
    assert same.status == 200 and same.body["changed"] is False and same.body["version"] == 1

    body["workflow_spec"]["nodes"][0]["parameters"]["require_confirmation"] = False
    updated = client.call("update", "wf-1", body, token=aud(client))
    assert updated.body["version"] == 2 and updated.body["deployment_id"] != deployed.body["deployment_id"]
    assert [t["version"] for t in updated.body["triggers"]] == [2, 1]

    paused = client.call("pause", "wf-1", token=aud(client))
    assert paused.body["status"] == "paused" and {t["status"] for t in paused.body["triggers"]} == {"paused"}
    triggers = client.call("triggers", "wf-1", token=aud(client))
    assert [t["status"] for t in triggers.body["triggers"]] == ["paused", "paused"]
    resumed = client.call("resume", "wf-1", token=aud(client))
    assert resumed.body["status"] == "deployed" and {t["status"] for t in resumed.body["triggers"]} == {"active"}

    gone = client.call("undeploy", "wf-1", token=aud(client))
    assert gone.status == 200 and gone.body == {"workflow_id": "wf-1", "status": "undeployed", "version": 2}
    assert client.call("status", "wf-1", token=aud(client)).status == 404
    assert client.call("triggers", "wf-1", token=aud(client)).status == 404


def test_update_of_a_workflow_never_deployed_is_404(client: ApiClient) -> None:
    reply = client.call("update", "wf-new", deploy_body(manual("m")), token=aud(client))
    assert reply.status == 404 and reply.body["error"] == "not_found"


def test_failed_deploy_keeps_previous_deployment_intact(client: ApiClient, clean_database: str) -> None:
    first = client.call("deploy", "wf-a", deploy_body(webhook("h", webhook_path="team/taken")), token=aud(client))
    assert first.status == 200
    before = client.call("deploy", "wf-b", deploy_body(manual("m"), webhook("h")), token=aud(client, "bob"))
    assert before.status == 200

    def snapshot() -> list[tuple[object, ...]]:
        with psycopg.connect(clean_database) as conn:
            rows = conn.execute("SELECT * FROM deployments WHERE workflow_id = 'wf-b'").fetchall()
            rows += conn.execute(
                "SELECT * FROM trigger_index WHERE workflow_id = 'wf-b' ORDER BY trigger_id"
            ).fetchall()
        return rows

    state = snapshot()
    # Drops m, adds m2, then the second webhook collides with wf-a's path half-way through the change.
    clash = deploy_body(manual("m2"), webhook("h"), webhook("h2", webhook_path="/webhook/team/taken"))
    reply = client.call("update", "wf-b", clash, token=aud(client, "bob"))
    assert reply.status == 409 and reply.body["error"] == "webhook_path_conflict"
    assert "/webhook/team/taken" in reply.body["message"] and "h2" in reply.body["message"]
    assert snapshot() == state


def test_two_triggers_of_one_spec_cannot_share_a_path(client: ApiClient) -> None:
    body = deploy_body(webhook("a", webhook_path="team/same"), webhook("b", webhook_path="team/same"))
    reply = client.call("deploy", "wf-x", body, token=aud(client))
    assert reply.status == 409 and reply.body["error"] == "webhook_path_conflict"
    assert client.call("status", "wf-x", token=aud(client)).status == 404


def test_another_users_workflow_is_not_found(client: ApiClient) -> None:
    assert client.call("deploy", "wf-own", deploy_body(manual("m")), token=aud(client)).status == 200
    mallory = aud(client, "mallory")
    for name in ("status", "triggers", "pause", "resume", "undeploy"):
        reply = client.call(name, "wf-own", token=mallory)
        assert reply.status == 404 and reply.body["error"] == "not_found", name
    assert client.call("update", "wf-own", deploy_body(manual("m")), token=mallory).status == 404
    taken = client.call("deploy", "wf-own", deploy_body(manual("m")), token=mallory)
    assert taken.status == 409 and taken.body["error"] == "workflow_id_conflict"
    assert client.call("status", "wf-own", token=aud(client)).body["status"] == "deployed"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("{not json", 422, "validation_error"),
        ("[1, 2]", 422, "validation_error"),
        ('"text"', 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"workflow_spec": {"name": "x"}}, 422, "validation_error"),
        (
            {"workflow_spec": {"nodes": [{"id": "t", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_X"}]}},
            422,
            "validation_error",
        ),
        ({"workflow_spec": {"nodes": [{"id": "x", "node_type": "ACTION_NODE"}]}}, 422, "validation_error"),
        ({"workflow_spec": {"nodes": [{"id": "a"}, {"id": "a"}, manual("m")]}}, 422, "validation_error"),
        ({"workflow_spec": {"nodes": [manual("m", require_confirmation=[])]}}, 422, "validation_error"),
        ({"workflow_spec": {"nodes": [manual("m")]}, "extra": 1}, 422, "validation_error"),
        (
            {
                "workflow_spec": {
                    "nodes": [
                        {
                            "id": "c",
                            "node_type": "TRIGGER_NODE",
                            "subtype": "TRIGGER_CRON",
                            "parameters": {"cron_expression": "* * * * *"},
                        }
                    ]
                }
            },
            422,
            "trigger_type_unavailable",
        ),
    ],
)
def test_bad_input_is_a_clear_4xx(client: ApiClient, body: object, status: int, error: str) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)
    reply = client.call("deploy", "wf-bad", raw, token=aud(client))
    assert reply.status == status and reply.body["error"] == error, reply.body
    assert reply.body["message"]


def test_problems_name_node_and_field(client: ApiClient) -> None:
    body = {"workflow_spec": {"nodes": [{"id": "a"}, {"id": "a"}, manual("m", require_confirmation="x")]}}
    reply = client.call("deploy", "wf-bad", body, token=aud(client))
    assert {(p.get("node_id"), p["field"]) for p in reply.body["problems"]} == {
        ("a", "id"),
        ("m", "parameters.require_confirmation"),
    }


def test_bad_workflow_id_in_the_path_is_422(client: ApiClient) -> None:
    reply = client.call("status", "-nope", token=aud(client))
    assert reply.status == 422 and reply.body["error"] == "validation_error"


def test_spec_over_the_cap_is_413(client: ApiClient) -> None:
    big = deploy_body(manual("m"), {"id": "blob", "node_type": "ACTION_NODE", "data": "x" * (1024 * 1024)})
    reply = client.call("deploy", "wf-big", big, token=aud(client))
    assert reply.status == 413 and reply.body["error"] == "payload_too_large"


@pytest.mark.parametrize("kind", ["missing", "expired", "none", "wrong_key", "wrong_audience"])
def test_bad_tokens_are_401(client: ApiClient, kind: str) -> None:
    import base64
    import time

    import jwt

    def b64(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    exp = int(time.time()) + 60
    tokens = {
        "expired": client.token(exp=int(time.time()) - 3600, aud="workflow-scheduler"),
        "none": f"{b64({'alg': 'none'})}.{b64({'sub': 'alice', 'exp': exp, 'aud': 'workflow-scheduler'})}.",
        "wrong_key": jwt.encode({"sub": "alice", "exp": exp, "aud": "workflow-scheduler"}, "x" * 40, algorithm="HS256"),
        "wrong_audience": client.token(aud="someone-else"),
    }
    reply = client.call("status", "wf-1", user=None, token=tokens.get(kind))
    assert reply.status == 401 and reply.body["error"] == "unauthorized"
    assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_committed_openapi_document_matches_the_code() -> None:
    committed = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
    assert json.loads(committed.read_text()) == json.loads(openapi_document()), (
        "docs/openapi.json is stale: run `make openapi` and commit it"
    )


def test_base64_bodies_as_api_gateway_sends_them(client: ApiClient) -> None:
    """The stack passes every body base64-encoded (binary media type */*): JSON still works, non-UTF-8 is a 422."""
    import base64

    from tests.support.events import load_event, with_path, with_token
    from workflow_scheduler.local.invoke import LocalContext

    def call(raw: bytes) -> dict[str, object]:
        event = with_token(with_path(load_event("api", "deploy"), "wf-b64"), aud(client))
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        return client.handler.lambda_handler(event, LocalContext(function_name="api"))  # type: ignore[no-any-return]

    ok = call(json.dumps(deploy_body(manual("m"))).encode())
    assert ok["statusCode"] == 200, ok
    bad = call(b"\xff\xfe not utf-8")
    assert bad["statusCode"] == 422 and json.loads(str(bad["body"]))["error"] == "validation_error"
