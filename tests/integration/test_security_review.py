"""Attacks from the 2026-12 security review (docs/decisions.md, "Security review (attacker's view)"), in-process
through the API and webhook functions on real PostgreSQL and moto: each test is an attempt that used to get through."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType

import boto3
import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, deploy_body, webhook
from tests.support.queues import take_messages
from tests.support.webhooks import call_webhook

OWNER_TAG = "workflow-scheduler:owner"


@dataclass
class System:
    api: ApiClient
    webhook: ModuleType
    queue_url: str


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    return System(stack.api(), stack.load("webhook"), stack.queue_url)


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
    take_messages(system.queue_url)  # what an earlier test left
    return system


def test_an_anonymous_caller_never_learns_the_name_of_a_secret_that_cannot_be_read(fresh: System) -> None:
    # Alice's own secret, tagged for her, whose value the operator never filled in.
    boto3.client("secretsmanager").create_secret(
        Name="team/alice-unfilled", Tags=[{"Key": OWNER_TAG, "Value": "alice"}]
    )
    auth = {"type": "api_key", "header": "X-Key", "secret_ref": "team/alice-unfilled"}
    assert (
        fresh.api.call("deploy", "wf-leak", deploy_body(webhook("hook", webhook_path="leak/hook", auth=auth))).status
        == 200
    )

    answer = call_webhook(fresh.webhook, "/webhook/leak/hook", {"X-Key": "guess"}, b"{}")
    assert answer.status == 503 and answer.body["error"] == "secret_unavailable"
    assert "alice-unfilled" not in json.dumps(answer.body)


def test_an_idempotency_key_reused_for_another_request_is_422_not_a_silent_drop(fresh: System) -> None:
    assert fresh.api.call("deploy", "wf-orders", deploy_body(webhook("open", webhook_path="shop/orders"))).status == 200

    def order(number: int, key: str = "1") -> tuple[int, dict[str, str]]:
        body = json.dumps({"order": number}).encode()
        headers = {"Idempotency-Key": key, "X-Amzn-Trace-Id": f"Root=1-{number}"}  # headers differ per attempt
        answer = call_webhook(fresh.webhook, "/webhook/shop/orders", headers, body)
        return answer.status, answer.body

    first, retry = order(7), order(7)
    assert first[0] == retry[0] == 202 and first[1]["execution_id"] == retry[1]["execution_id"]
    # A careless sender sends every order with "Idempotency-Key: 1": the second order must not be lost quietly.
    status, body = order(8)
    assert status == 422 and body["error"] == "idempotency_key_reused"
    [message] = take_messages(fresh.queue_url)
    assert message["data"]["body"] == {"order": 7} and "request_fingerprint" not in message
    assert order(8, key="2")[0] == 202


def test_long_query_and_body_values_are_never_echoed(fresh: System) -> None:
    from tests.integration.test_api_input import send

    assert fresh.api.call("deploy", "wf-in", deploy_body(webhook("hook", webhook_path="in/hook"))).status == 200
    pasted = "Bearer-eyJ" + "x" * 4000  # a token pasted into the wrong field
    status, body, text = send(fresh.api, "events", query={"status": pasted})
    assert status == 422 and pasted[:64] not in text, body
    status, body, text = send(fresh.api, "manual", json.dumps({"trigger_id": pasted}))
    assert status == 422 and pasted[:64] not in text, body


def test_a_released_custom_webhook_path_stays_its_owners(fresh: System) -> None:
    """Alice's shop keeps calling her URL (with her token) after she undeploys: nobody else may take the path."""
    auth = {"type": "api_key", "header": "X-Shop-Token", "secret": "alice-shop-token"}
    alice = deploy_body(webhook("h", webhook_path="shop/events", auth=auth))
    bob = deploy_body(webhook("h", webhook_path="shop/events"))
    assert fresh.api.call("deploy", "wf-alice", alice).status == 200
    assert fresh.api.call("undeploy", "wf-alice").status == 200

    taken = fresh.api.call("deploy", "wf-bob", bob, user="bob")
    assert taken.status == 409 and taken.body["error"] == "webhook_path_conflict"
    answer = call_webhook(fresh.webhook, "/webhook/shop/events", {"X-Shop-Token": "alice-shop-token"}, b"{}")
    assert answer.status == 404 and take_messages(fresh.queue_url) == []

    # Moved away by an update, the old path stays hers too; she may use it again in any of her workflows.
    moved = deploy_body(webhook("h", webhook_path="shop/events-v2", auth=auth))
    assert fresh.api.call("deploy", "wf-alice-2", alice).status == 200
    assert fresh.api.call("deploy", "wf-alice-2", moved).status == 200
    assert fresh.api.call("deploy", "wf-bob", bob, user="bob").status == 409
    assert fresh.api.call("deploy", "wf-alice-3", alice).status == 200
