"""Attacks from the 2026-12 security review (docs/decisions.md, "Security review (attacker's view)") that need no
outside service: each test is an attempt that used to get through."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.fakes import MemorySecretStore, MemoryStore
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import SpecInvalid
from workflow_scheduler.domain.inline_secrets import managed_secret_name, owner_tags, tag_value
from workflow_scheduler.domain.spec import parse_workflow_spec
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.webhook.params import WebhookAuth, WebhookParams
from workflow_scheduler.domain.triggers.webhook.registrar import WebhookRegistrar

# What Secrets Manager takes in a secret's name and in a tag's value (anything else: ValidationException, a 503).
SECRET_NAME_CHARS = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
TAG_VALUE_CHARS = re.compile(r"[A-Za-z0-9 _.:/=+@-]{0,256}")


# -- a trailing newline slips past Python's `$` ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/webhook/orders/new\n", "orders/new\n"])
def test_a_webhook_path_with_a_trailing_newline_is_refused(path: str) -> None:
    with pytest.raises(ValidationError):
        WebhookParams.model_validate({"webhook_path": path})


def test_a_secret_ref_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValidationError):
        WebhookAuth.model_validate({"type": "api_key", "header": "X-Key", "secret_ref": "team/hook\n"})


@pytest.mark.parametrize("trigger_id", ["hook\n", "hook.v2\n"])
def test_managed_secrets_get_names_and_tags_secrets_manager_takes(trigger_id: str) -> None:
    assert SECRET_NAME_CHARS.fullmatch(managed_secret_name("wf-a", trigger_id))
    for value in owner_tags("alice", "wf-a", trigger_id).values():
        assert TAG_VALUE_CHARS.fullmatch(value)
    assert tag_value(trigger_id).startswith("sha256:")


def test_an_inline_secret_of_a_trigger_id_ending_in_a_newline_is_stored_under_a_valid_name() -> None:
    secrets = MemorySecretStore()
    service = DeploymentService(MemoryStore(), TriggerManager([WebhookRegistrar()]), secrets=secrets)
    node: dict[str, Any] = {
        "id": "hook\n",
        "node_type": "TRIGGER_NODE",
        "subtype": "TRIGGER_WEBHOOK",
        "parameters": {"webhook_path": "a/b", "auth": {"type": "api_key", "header": "X-Key", "secret": "k"}},
    }
    service.deploy("wf-a", "alice", {"nodes": [node]})
    [name] = secrets.values
    assert SECRET_NAME_CHARS.fullmatch(name)


def test_a_github_event_name_with_a_trailing_newline_is_refused() -> None:
    node = {
        "id": "gh",
        "node_type": "TRIGGER_NODE",
        "subtype": "TRIGGER_GITHUB",
        "parameters": {"github_app_installation_id": 1, "repository": "o/r", "events": ["push\n"]},
    }
    with pytest.raises(SpecInvalid) as refused:
        parse_workflow_spec({"nodes": [node]})
    assert refused.value.problems is not None
    assert refused.value.problems[0].field == "parameters.events.0"


def test_the_service_refuses_a_workflow_id_with_a_trailing_newline() -> None:
    service = DeploymentService(MemoryStore(), TriggerManager([WebhookRegistrar()]))
    node = {"id": "hook", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {}}
    with pytest.raises(SpecInvalid):
        service.deploy("wf-a\n", "alice", {"nodes": [node]})
