"""Webhook manners through the webhook function, on real PostgreSQL with Secrets Manager and SQS in moto."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from types import ModuleType

import boto3
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, Reply, deploy_body, webhook
from tests.support.queues import take_bodies
from tests.support.webhooks import call_webhook, hmac_signature
from workflow_scheduler.domain.inline_secrets import OWNER_TAG

SIGNING_SECRET = "whsec-integration"


@dataclass
class System:
    api: ApiClient
    webhook: ModuleType
    queue_url: str

    def queued(self) -> int:
        return len(take_bodies(self.queue_url))

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b'{"order": 7}'
    ) -> Reply:
        return call_webhook(self.webhook, path, headers, body, method=method)


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    sm = boto3.client("secretsmanager")
    owned = [{"Key": OWNER_TAG, "Value": "alice"}]  # the deploying user's: a secret_ref must be theirs
    sm.create_secret(Name="manners/basic", SecretString="b-pass", Tags=owned)
    sm.create_secret(Name="manners/signing", SecretString=SIGNING_SECRET, Tags=owned)
    return System(stack.api(), stack.load("webhook"), stack.queue_url)


@pytest.fixture
def hooks(system: System, clean_database: str) -> System:
    basic_hook = webhook(
        "basic",
        webhook_path="manners/basic",
        methods=["POST", "PUT"],
        auth={"type": "basic", "username": "bot", "secret_ref": "manners/basic"},
    )
    signed_hook = webhook(
        "signed",
        webhook_path="manners/signed",
        auth={
            "type": "hmac_sha256",
            "header": "X-Signature",
            "secret_ref": "manners/signing",
            "timestamp_header": "X-Timestamp",
        },
    )
    # Two workflows: each test's hook stands (or falls) on its own.
    system.api.call("deploy", "wf-manners-basic", deploy_body(basic_hook))
    system.api.call("deploy", "wf-manners-signed", deploy_body(signed_hook))
    system.queued()
    return system


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def signed(body: bytes, timestamp: int) -> dict[str, str]:
    message = str(timestamp).encode() + b"." + body
    return {"X-Timestamp": str(timestamp), "X-Signature": hmac_signature(SIGNING_SECRET, message)}


def test_basic_auth_refusals_carry_the_challenge(hooks: System) -> None:
    for headers in ({}, {"Authorization": basic("bot", "wrong")}, {"Authorization": "Bearer abc"}):
        refused = hooks.call("POST", "/webhook/manners/basic", headers)
        assert refused.status == 401 and refused.body["error"] == "unauthorized", refused.body
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="/webhook/manners/basic", charset="UTF-8"'
        assert "b-pass" not in json.dumps(refused.body)
    assert hooks.call("POST", "/webhook/manners/basic", {"Authorization": basic("bot", "b-pass")}).status == 202
    assert hooks.queued() == 1


def test_credentials_are_checked_before_the_method(hooks: System) -> None:
    reply = hooks.call("GET", "/webhook/manners/basic", {"Authorization": basic("bot", "wrong")})
    assert reply.status == 401 and "Allow" not in reply.headers
    assert reply.headers["WWW-Authenticate"].startswith("Basic ")
    reply = hooks.call("DELETE", "/webhook/manners/signed", {"X-Signature": "sha256=00"})
    assert reply.status == 401 and "Allow" not in reply.headers

    reply = hooks.call("GET", "/webhook/manners/basic", {"Authorization": basic("bot", "b-pass")})
    assert reply.status == 405 and reply.headers["Allow"] == "POST, PUT" and reply.body["error"] == "method_not_allowed"
    assert hooks.queued() == 0


def test_signed_timestamps_accept_fresh_calls_and_refuse_replays(hooks: System) -> None:
    body = b'{"order": 7}'
    now = int(time.time())
    assert hooks.call("POST", "/webhook/manners/signed", signed(body, now), body).status == 202
    assert hooks.call("POST", "/webhook/manners/signed", signed(body, now - 200), body).status == 202

    stale = signed(body, now - 301)
    future = signed(body, now + 400)
    body_only = {"X-Signature": hmac_signature(SIGNING_SECRET, body)}
    malformed = {**signed(body, now), "X-Timestamp": f"{now}.0"}
    swapped = {**signed(body, now - 10), "X-Timestamp": str(now)}  # an old signature with a fresh timestamp
    for headers in (stale, future, body_only, malformed, swapped):
        reply = hooks.call("POST", "/webhook/manners/signed", headers, body)
        assert reply.status == 401 and reply.body["error"] == "unauthorized", (headers, reply.body)
    assert hooks.queued() == 2


def test_a_timestamp_header_on_another_auth_type_is_a_422(hooks: System) -> None:
    node = webhook(
        "keyed",
        auth={"type": "api_key", "header": "X-Key", "secret_ref": "manners/basic", "timestamp_header": "X-Ts"},
    )
    reply = hooks.api.call("deploy", "wf-manners-2", deploy_body(node))
    assert reply.status == 422
    assert any("timestamp_header" in p["message"] for p in reply.body["problems"]), reply.body
