"""Inline secrets are generic (issue 8): any type's parameter model marks its secret field and the deploy moves it
into Secrets Manager under a prefix named for no trigger type; secrets under the old webhook prefix keep working."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field

from tests.support.fakes import MemorySecretStore, MemoryStore, RecordingRegistrar
from workflow_scheduler.domain import inline_secrets
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import SpecInvalid
from workflow_scheduler.domain.inline_secrets import (
    LEGACY_PREFIX,
    MANAGED_PREFIX,
    extract_inline_secrets,
    managed_secret_name,
    owner_tags,
)
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.triggers import REGISTRY, params_model
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.params import SECRET, TriggerParams, secret_fields
from workflow_scheduler.domain.triggers.webhook.registrar import WebhookRegistrar


class MailboxParams(TriggerParams):
    """A type with a top-level secret, as the e-mail trigger's IMAP password will be."""

    imap_host: str
    password: str | None = Field(default=None, max_length=64, json_schema_extra=SECRET)
    password_ref: str | None = None


def node(node_id: str, subtype: str, **params: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": subtype, "parameters": params}


def hook(node_id: str, **auth: Any) -> dict[str, Any]:
    auth = {"type": "api_key", "header": "X-Key", **auth}
    return node(node_id, "TRIGGER_WEBHOOK", webhook_path=f"hooks/{node_id}", auth=auth)


def test_the_managed_prefix_names_no_trigger_type() -> None:
    assert MANAGED_PREFIX == "workflow-scheduler/triggers/" and LEGACY_PREFIX == "workflow-scheduler/webhooks/"
    assert not any(t.value in MANAGED_PREFIX for t in TriggerType)
    _, lifted = extract_inline_secrets({"nodes": [hook("h", secret="s3cret")]}, "wf")
    assert list(lifted) == ["workflow-scheduler/triggers/wf/h"]


def test_each_type_marks_at_most_one_secret_field_the_webhook_its_auth_secret() -> None:
    marked = {t: [f.path for f in secret_fields(params_model(t))] for t in REGISTRY}
    assert marked[TriggerType.WEBHOOK] == [("auth", "secret")]
    assert all(len(paths) <= 1 for paths in marked.values())


def test_any_types_marked_field_is_lifted_into_its_ref_sibling(monkeypatch: pytest.MonkeyPatch) -> None:
    real = params_model
    monkeypatch.setattr(inline_secrets, "params_model", lambda t: MailboxParams if t is TriggerType.EMAIL else real(t))
    mailbox = node("mail", "TRIGGER_EMAIL", imap_host="imap.example.com", password="hunter22")
    redacted, lifted = extract_inline_secrets({"nodes": [mailbox, hook("h", secret="s3cret")]}, "wf")
    name = managed_secret_name("wf", "mail")
    assert redacted["nodes"][0]["parameters"] == {"imap_host": "imap.example.com", "password_ref": name}
    assert {n: (s.trigger_id, s.value, s.parameter) for n, s in lifted.items()} == {
        name: ("mail", "hunter22", "password"),
        managed_secret_name("wf", "h"): ("h", "s3cret", "auth.secret"),
    }
    too_long = node("mail", "TRIGGER_EMAIL", imap_host="imap.example.com", password="p" * 65)
    with pytest.raises(SpecInvalid) as refused:
        extract_inline_secrets({"nodes": [too_long]}, "wf")
    (problem,) = refused.value.problems
    assert (problem.node_id, problem.field, problem.message) == (
        "mail",
        "parameters.password",
        "must be at most 64 characters",
    )


@pytest.fixture
def parts() -> tuple[DeploymentService, MemorySecretStore]:
    secrets = MemorySecretStore()
    manager = TriggerManager([RecordingRegistrar(TriggerType.MANUAL), WebhookRegistrar()])
    return DeploymentService(MemoryStore(), manager, secrets=secrets), secrets


def legacy_secret(secrets: MemorySecretStore, workflow_id: str, trigger_id: str, value: str) -> str:
    """A managed secret as an earlier release made it (and the adoption tagged it): under the webhook prefix."""
    name = managed_secret_name(workflow_id, trigger_id, LEGACY_PREFIX)
    secrets.write(name, value, owner_tags("alice", workflow_id, trigger_id))
    return name


def test_an_old_prefix_secret_is_deleted_with_its_trigger(parts: tuple[DeploymentService, MemorySecretStore]) -> None:
    service, secrets = parts
    kept, dropped = legacy_secret(secrets, "wf", "kept", "k"), legacy_secret(secrets, "wf", "gone", "g")
    service.deploy("wf", "alice", {"nodes": [hook("kept", secret_ref=kept), hook("gone", secret_ref=dropped)]})
    service.deploy("wf", "alice", {"nodes": [hook("kept", secret_ref=kept)]})
    assert secrets.deleted == {dropped}
    service.undeploy("wf", "alice")
    assert secrets.deleted == {dropped, kept}


def test_an_inline_secret_replaces_the_old_prefix_secret(parts: tuple[DeploymentService, MemorySecretStore]) -> None:
    service, secrets = parts
    old = legacy_secret(secrets, "wf", "h", "old-key")
    service.deploy("wf", "alice", {"nodes": [hook("h", secret_ref=old)]})
    changed = service.deploy("wf", "alice", {"nodes": [hook("h", secret="new-key")]})
    new = managed_secret_name("wf", "h")
    assert changed.triggers[0].config["auth"]["secret_ref"] == new
    assert secrets.values[new] == "new-key" and secrets.deleted == {old}
