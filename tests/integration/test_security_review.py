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
from tests.support.webhooks import call_webhook

OWNER_TAG = "workflow-scheduler:owner"


@dataclass
class System:
    api: ApiClient
    webhook: ModuleType


@pytest.fixture(scope="module")
def system(stack: Stack) -> System:
    return System(stack.api(), stack.load("webhook"))


@pytest.fixture
def fresh(system: System, clean_database: str) -> System:
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
