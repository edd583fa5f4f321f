"""Manual and webhook firings in-process against real PostgreSQL, with SQS and Secrets Manager in moto."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, deploy_body, manual, webhook
from tests.support.events import load_event
from workflow_scheduler.local.invoke import LocalContext


@dataclass
class System:
    api: ApiClient
    webhook: ModuleType
    queue_url: str
    database_url: str

    def messages(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def events(self, workflow_id: str) -> list[tuple[str, str, bool, str | None]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(
                "SELECT execution_id, status, claimed, error FROM trigger_events"
                " WHERE workflow_id = %s ORDER BY fired_at",
                (workflow_id,),
            ).fetchall()

    def call_webhook(
        self,
        name: str,
        path: str = "/webhook/wf-hook",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        event = load_event("webhook", name)
        event["path"] = path
        event["headers"] = {**(event["headers"] or {}), **(headers or {})}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        if body is not None:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        result = self.webhook.lambda_handler(event, LocalContext(function_name="webhook"))
        return result["statusCode"], json.loads(result["body"]), result["headers"]


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    sm = boto3.client("secretsmanager")
    # A user's own secrets carry their owner tag, or a deploy may not name them (docs/deploy.md).
    alices = [{"Key": "workflow-scheduler:owner", "Value": "alice"}]
    sm.create_secret(Name="hooks/api-key", SecretString="k-123", Tags=alices)
    sm.create_secret(Name="hooks/signing", SecretString="It's a Secret to Everybody", Tags=alices)
    return System(stack.api(), stack.load("webhook"), stack.queue_url, stack.database_url)


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    system.messages()
    return system


def test_manual_run_with_and_without_confirmation(fresh: System) -> None:
    body = deploy_body(manual("run", require_confirmation=True))
    assert fresh.api.call("deploy", "wf-m", body).status == 200

    refused = fresh.api.call("manual", "wf-m", {"inputs": {"a": 1}})
    assert refused.status == 403
    assert refused.body["status"] == "confirmation_required" and refused.body["message"]
    assert fresh.messages() == []

    started = fresh.api.call("manual", "wf-m", {"confirmation": True, "inputs": {"a": 1}})
    assert started.status == 200 and started.body["status"] == "execution_started"
    [message] = fresh.messages()
    assert message["execution_id"] == started.body["execution_id"]
    assert message["trigger_type"] == "manual" and message["version"] == 1
    assert message["data"]["user_id"] == "alice" and message["data"]["inputs"] == {"a": 1}
    assert message["data"]["execution_id"] == started.body["execution_id"]
    assert fresh.events("wf-m") == [(started.body["execution_id"], "queued", True, None)]


def test_manual_run_refusals(fresh: System) -> None:
    assert fresh.api.call("deploy", "wf-m", deploy_body(manual("run"))).status == 200
    assert fresh.api.call("manual", "wf-m", {}, user="mallory").status == 404
    assert fresh.api.call("manual", "wf-none", {}).status == 404
    too_big = fresh.api.call("manual", "wf-m", {"inputs": {"x": "y" * 70_000}})
    assert too_big.status == 413
    assert fresh.api.call("manual", "wf-m", {"inputs": [1]}).status == 422
    fresh.api.call("pause", "wf-m")
    paused = fresh.api.call("manual", "wf-m", {})
    assert paused.status == 409 and paused.body["error"] == "workflow_paused"
    assert fresh.messages() == []
    assert [row[1] for row in fresh.events("wf-m")] == ["refused"]


def test_webhook_modes(fresh: System) -> None:
    nodes = [
        webhook("open", webhook_path="fire/open", methods=["POST", "PUT", "GET"]),
        webhook(
            "keyed",
            webhook_path="fire/keyed",
            auth={"type": "api_key", "header": "X-Api-Key", "secret_ref": "hooks/api-key"},
        ),
        webhook(
            "signed",
            webhook_path="fire/signed",
            auth={"type": "hmac_sha256", "header": "X-Signature", "secret_ref": "hooks/signing"},
        ),
        webhook(
            "basic", webhook_path="fire/basic", auth={"type": "basic", "username": "bot", "secret_ref": "hooks/api-key"}
        ),
    ]
    assert fresh.api.call("deploy", "wf-hook", deploy_body(*nodes)).status == 200

    status, body, _ = fresh.call_webhook("json", "/webhook/fire/open")
    assert status == 202 and body["status"] == "accepted"
    status, _, _ = fresh.call_webhook("form", "/webhook/fire/open")
    assert status == 202
    status, _, _ = fresh.call_webhook("binary", "/webhook/fire/open")
    assert status == 202
    status, _, _ = fresh.call_webhook("get", "/webhook/fire/open")
    assert status == 202
    status, _, _ = fresh.call_webhook("json", "/webhook/fire/keyed", {"X-Api-Key": "k-123"})
    assert status == 202
    raw = b'{"signed": true}'
    signature = "sha256=" + hmac.new(b"It's a Secret to Everybody", raw, hashlib.sha256).hexdigest()
    status, _, _ = fresh.call_webhook("json", "/webhook/fire/signed", {"X-Signature": signature}, body=raw)
    assert status == 202
    basic = "Basic " + base64.b64encode(b"bot:k-123").decode()
    status, _, _ = fresh.call_webhook("json", "/webhook/fire/basic", {"Authorization": basic})
    assert status == 202

    messages = {
        m["trigger_id"] + ":" + m["data"]["method"] + ":" + m["data"]["body_encoding"]: m for m in fresh.messages()
    }
    assert set(messages) == {
        "open:POST:json",
        "open:POST:form",
        "open:PUT:base64",
        "open:GET:empty",
        "keyed:POST:json",
        "signed:POST:json",
        "basic:POST:json",
    }
    sent = messages["open:POST:json"]["data"]
    assert sent["body"] == {"order": 42, "items": ["a", "b"]} and sent["query_params"] == {"source": "shop"}
    assert sent["path"] == "/webhook/fire/open" and sent["source_ip"] == "203.0.113.7"
    assert messages["open:POST:form"]["data"]["body"] == {"name": "alice", "tags": ["a", "b"]}
    assert base64.b64decode(messages["open:PUT:base64"]["data"]["body"]) == bytes(range(256))
    for key in ("keyed:POST:json", "signed:POST:json", "basic:POST:json"):
        headers = {h.lower() for h in messages[key]["data"]["headers"]}
        assert not headers & {"x-api-key", "x-signature", "authorization"}, key


def test_webhook_refusals_are_4xx(fresh: System) -> None:
    nodes = [
        webhook(
            "keyed",
            webhook_path="fire/keyed",
            auth={"type": "api_key", "header": "X-Api-Key", "secret_ref": "hooks/api-key"},
        ),
        webhook(
            "signed",
            webhook_path="fire/signed",
            auth={"type": "hmac_sha256", "header": "X-Signature", "secret_ref": "hooks/signing"},
        ),
    ]
    assert fresh.api.call("deploy", "wf-hook", deploy_body(*nodes)).status == 200
    assert fresh.call_webhook("json", "/webhook/fire/keyed")[0] == 401
    assert fresh.call_webhook("json", "/webhook/fire/keyed", {"X-Api-Key": "wrong"})[0] == 401
    assert fresh.call_webhook("json", "/webhook/fire/signed", {"X-Signature": "sha256=" + "0" * 64})[0] == 401
    status, body, headers = fresh.call_webhook("get", "/webhook/fire/keyed", {"X-Api-Key": "k-123"})
    assert status == 405 and headers["Allow"] == "POST" and body["error"] == "method_not_allowed"
    assert fresh.call_webhook("json", "/webhook/nowhere")[0] == 404
    status, body, _ = fresh.call_webhook(
        "json", "/webhook/fire/keyed", {"X-Api-Key": "k-123"}, body=b"x" * (1024 * 1024 + 1)
    )
    assert status == 413
    fresh.api.call("pause", "wf-hook")
    assert fresh.call_webhook("json", "/webhook/fire/keyed", {"X-Api-Key": "k-123"})[0] == 409
    assert fresh.messages() == []


def test_idempotency_key_retries_are_one_execution(fresh: System) -> None:
    assert fresh.api.call("deploy", "wf-hook", deploy_body(webhook("open"))).status == 200
    first = fresh.call_webhook("json", headers={"Idempotency-Key": "order-42"})
    again = fresh.call_webhook("json", headers={"Idempotency-Key": "order-42"})
    other = fresh.call_webhook("json", headers={"Idempotency-Key": "order-43"})
    assert first[0] == again[0] == other[0] == 202
    assert first[1]["execution_id"] == again[1]["execution_id"] != other[1]["execution_id"]
    assert len(fresh.messages()) == 2
    assert sorted(row[1] for row in fresh.events("wf-hook")) == ["duplicate", "queued", "queued"]


def test_inline_secret_moves_to_secrets_manager(fresh: System) -> None:
    auth = {"type": "api_key", "header": "X-Api-Key", "secret": "inline-Key-9f"}
    deployed = fresh.api.call("deploy", "wf-hook", deploy_body(webhook("inline", auth=auth)))
    assert deployed.status == 200 and "inline-Key-9f" not in json.dumps(deployed.body)
    name = "workflow-scheduler/triggers/wf-hook/inline"
    assert boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"] == "inline-Key-9f"
    with psycopg.connect(fresh.database_url) as conn:
        stored = conn.execute(
            "SELECT d.spec::text || t.trigger_config::text FROM deployments d JOIN trigger_index t"
            " USING (workflow_id) WHERE workflow_id = 'wf-hook'"
        ).fetchone()
    assert stored is not None and "inline-Key-9f" not in stored[0] and name in stored[0]
    status = fresh.api.call("status", "wf-hook")
    assert "inline-Key-9f" not in json.dumps(status.body)

    assert fresh.call_webhook("json", headers={"X-Api-Key": "inline-Key-9f"})[0] == 202
    assert fresh.call_webhook("json", headers={"X-Api-Key": "guess"})[0] == 401
    assert fresh.api.call("update", "wf-hook", deploy_body(webhook("inline", auth=auth))).body["changed"] is False

    assert fresh.api.call("undeploy", "wf-hook").status == 200
    described = boto3.client("secretsmanager").describe_secret(SecretId=name)
    assert "DeletedDate" in described


def test_history_pages_newest_first_and_triggers_show_their_last_firing(fresh: System) -> None:
    from workflow_scheduler.adapters.firing_store import PostgresFiringStore
    from workflow_scheduler.adapters.postgres import Database
    from workflow_scheduler.domain.firing import FiringStatus, TriggerEvent

    assert fresh.api.call("deploy", "wf-h", deploy_body(manual("run"), webhook("hook"))).status == 200
    started = [fresh.api.call("manual", "wf-h", {"inputs": {"n": n}}).body["execution_id"] for n in range(5)]
    messages = {m["execution_id"]: m for m in fresh.messages()}
    store = PostgresFiringStore(Database(fresh.database_url))
    store.update(
        TriggerEvent.model_validate(messages[started[-1]]), FiringStatus.FAILED, attempts=1, error="engine: 400"
    )

    def events(query: str = "") -> dict[str, Any]:
        event = load_event("api", "events")
        event["path"] = "/v1/workflows/wf-h/events"
        event["pathParameters"] = {"proxy": "workflows/wf-h/events"}
        params = dict(p.split("=", 1) for p in query.split("&") if p)
        event["queryStringParameters"] = params or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()} or None
        event["headers"]["Authorization"] = f"Bearer {fresh.api.token('alice')}"
        result = fresh.api.handler.lambda_handler(event, LocalContext(function_name="api"))
        assert result["statusCode"] == 200, result["body"]
        return json.loads(result["body"])

    first = events("limit=2")
    assert [e["execution_id"] for e in first["events"]] == started[::-1][:2]
    assert first["events"][0]["status"] == "failed" and first["events"][0]["error"] == "engine: 400"
    second = events(f"limit=2&cursor={first['next_cursor']}")
    third = events(f"limit=2&cursor={second['next_cursor']}")
    assert [e["execution_id"] for e in second["events"] + third["events"]] == started[::-1][2:]
    assert third["next_cursor"] is None
    assert [e["execution_id"] for e in events("status=failed")["events"]] == [started[-1]]

    triggers = {t["trigger_id"]: t for t in fresh.api.call("triggers", "wf-h").body["triggers"]}
    assert triggers["run"]["last_status"] == "failed" and triggers["run"]["last_error"] == "engine: 400"
    assert triggers["run"]["health"] == "failing" and triggers["run"]["last_fired_at"]
    assert triggers["hook"]["last_fired_at"] is None and triggers["hook"]["health"] == "healthy"

    assert fresh.api.call("undeploy", "wf-h").status == 200
    assert len(events()["events"]) == 5  # history outlives the deployment
