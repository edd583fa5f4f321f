"""Webhook firings through the webhook function: each auth type and body encoding, the refusals, idempotency keys
and inline secrets, against real PostgreSQL with SQS and Secrets Manager in moto."""

from __future__ import annotations

import base64
import json

import boto3
import psycopg
import pytest

from tests.integration.conftest import Stack
from tests.integration.firing_path.conftest import System
from tests.support.api import deploy_body, webhook
from tests.support.webhooks import call_webhook, hmac_signature, signed_webhook

SIGNING_SECRET = "It's a Secret to Everybody"
KEYED = webhook(
    "keyed", webhook_path="fire/keyed", auth={"type": "api_key", "header": "X-Api-Key", "secret_ref": "hooks/api-key"}
)
SIGNED = signed_webhook("signed", "fire/signed", secret_ref="hooks/signing")


@pytest.fixture(scope="module", autouse=True)
def alices_secrets(stack: Stack) -> None:
    """The secrets the triggers name: a user's own secrets carry their owner tag, or a deploy may not name them
    (docs/deploy.md)."""
    sm = boto3.client("secretsmanager")
    alices = [{"Key": "workflow-scheduler:owner", "Value": "alice"}]
    sm.create_secret(Name="hooks/api-key", SecretString="k-123", Tags=alices)
    sm.create_secret(Name="hooks/signing", SecretString=SIGNING_SECRET, Tags=alices)


def test_webhook_modes(fresh: System) -> None:
    nodes = [
        webhook("open", webhook_path="fire/open", methods=["POST", "PUT", "GET"]),
        KEYED,
        SIGNED,
        webhook(
            "basic", webhook_path="fire/basic", auth={"type": "basic", "username": "bot", "secret_ref": "hooks/api-key"}
        ),
    ]
    assert fresh.api.call("deploy", "wf-hook", deploy_body(*nodes)).status == 200

    opened = call_webhook(fresh.webhook, "/webhook/fire/open")
    assert opened.status == 202 and opened.body["status"] == "accepted"
    for sample in ("form", "binary", "get"):
        assert call_webhook(fresh.webhook, "/webhook/fire/open", sample=sample).status == 202, sample
    assert call_webhook(fresh.webhook, "/webhook/fire/keyed", {"X-Api-Key": "k-123"}).status == 202
    raw = b'{"signed": true}'
    signature = {"X-Signature": hmac_signature(SIGNING_SECRET, raw)}
    assert call_webhook(fresh.webhook, "/webhook/fire/signed", signature, raw).status == 202
    basic = "Basic " + base64.b64encode(b"bot:k-123").decode()
    assert call_webhook(fresh.webhook, "/webhook/fire/basic", {"Authorization": basic}).status == 202

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
    assert fresh.api.call("deploy", "wf-hook", deploy_body(KEYED, SIGNED)).status == 200
    assert call_webhook(fresh.webhook, "/webhook/fire/keyed").status == 401
    assert call_webhook(fresh.webhook, "/webhook/fire/keyed", {"X-Api-Key": "wrong"}).status == 401
    assert call_webhook(fresh.webhook, "/webhook/fire/signed", {"X-Signature": "sha256=" + "0" * 64}).status == 401
    refused = call_webhook(fresh.webhook, "/webhook/fire/keyed", {"X-Api-Key": "k-123"}, sample="get")
    assert refused.status == 405 and refused.headers["Allow"] == "POST"
    assert refused.body["error"] == "method_not_allowed"
    assert call_webhook(fresh.webhook, "/webhook/nowhere").status == 404
    too_big = call_webhook(fresh.webhook, "/webhook/fire/keyed", {"X-Api-Key": "k-123"}, b"x" * (1024 * 1024 + 1))
    assert too_big.status == 413
    fresh.api.call("pause", "wf-hook")
    assert call_webhook(fresh.webhook, "/webhook/fire/keyed", {"X-Api-Key": "k-123"}).status == 409
    assert fresh.messages() == []


def test_idempotency_key_retries_are_one_execution(fresh: System) -> None:
    assert fresh.api.call("deploy", "wf-hook", deploy_body(webhook("open"))).status == 200
    first = call_webhook(fresh.webhook, "/webhook/wf-hook", {"Idempotency-Key": "order-42"})
    again = call_webhook(fresh.webhook, "/webhook/wf-hook", {"Idempotency-Key": "order-42"})
    other = call_webhook(fresh.webhook, "/webhook/wf-hook", {"Idempotency-Key": "order-43"})
    assert first.status == again.status == other.status == 202
    assert first.body["execution_id"] == again.body["execution_id"] != other.body["execution_id"]
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

    assert call_webhook(fresh.webhook, "/webhook/wf-hook", {"X-Api-Key": "inline-Key-9f"}).status == 202
    assert call_webhook(fresh.webhook, "/webhook/wf-hook", {"X-Api-Key": "guess"}).status == 401
    assert fresh.api.call("update", "wf-hook", deploy_body(webhook("inline", auth=auth))).body["changed"] is False

    assert fresh.api.call("undeploy", "wf-hook").status == 200
    described = boto3.client("secretsmanager").describe_secret(SecretId=name)
    assert "DeletedDate" in described
