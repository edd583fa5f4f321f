from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.fakes import MemorySecretStore, MemoryStore, RecordingRegistrar
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.inline_secrets import extract_inline_secrets, managed_secret_name
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.webhook.registrar import WebhookRegistrar


def keyed(node_id: str, secret: str, **extra: Any) -> dict[str, Any]:
    auth = {"type": "api_key", "header": "X-Key", "secret": secret}
    return {
        "id": node_id,
        "node_type": "TRIGGER_NODE",
        "subtype": "TRIGGER_WEBHOOK",
        "parameters": {"auth": auth, "webhook_path": f"hooks/{node_id}", **extra},
    }


def spec(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": list(nodes)}


@pytest.fixture
def parts() -> tuple[DeploymentService, MemoryStore, MemorySecretStore, RecordingRegistrar]:
    store, secrets, manual = MemoryStore(), MemorySecretStore(), RecordingRegistrar(TriggerType.MANUAL)
    service = DeploymentService(store, TriggerManager([manual, WebhookRegistrar()]), secrets=secrets)
    return service, store, secrets, manual


def test_extraction_leaves_the_original_alone() -> None:
    original = spec(keyed("h", "s3cret"))
    redacted, lifted = extract_inline_secrets(original, "wf")
    name = managed_secret_name("wf", "h")
    assert {n: (s.trigger_id, s.value) for n, s in lifted.items()} == {name: ("h", "s3cret")}
    assert redacted["nodes"][0]["parameters"]["auth"] == {"type": "api_key", "header": "X-Key", "secret_ref": name}
    assert original["nodes"][0]["parameters"]["auth"]["secret"] == "s3cret"
    assert managed_secret_name("wf", "odd id/ü").startswith("workflow-scheduler/triggers/wf/h-")


def test_inline_secret_is_stored_outside_the_database(parts: Any) -> None:
    service, store, secrets, _ = parts
    result = service.deploy("wf", "alice", spec(keyed("h", "s3cret")))
    name = managed_secret_name("wf", "h")
    assert secrets.values == {name: "s3cret"}
    stored = json.dumps([result.deployment.spec, [r.config for r in store.triggers.values()]])
    assert "s3cret" not in stored and name in stored


def test_same_secret_again_is_a_noop_and_a_new_one_is_a_change(parts: Any) -> None:
    service, _, secrets, _ = parts
    service.deploy("wf", "alice", spec(keyed("h", "one")))
    again = service.deploy("wf", "alice", spec(keyed("h", "one")))
    assert not again.changed and again.deployment.version == 1
    assert not [c for c in secrets.calls if not c.startswith(("read", "describe"))][1:]
    changed = service.deploy("wf", "alice", spec(keyed("h", "two")))
    assert changed.changed and changed.deployment.version == 2
    assert secrets.values[managed_secret_name("wf", "h")] == "two"


def test_removed_trigger_and_undeploy_delete_managed_secrets(parts: Any) -> None:
    service, _, secrets, _ = parts
    service.deploy("wf", "alice", spec(keyed("a", "1"), keyed("b", "2")))
    service.deploy("wf", "alice", spec(keyed("a", "1")))
    assert secrets.deleted == {managed_secret_name("wf", "b")}
    service.undeploy("wf", "alice")
    assert secrets.deleted == {managed_secret_name("wf", "a"), managed_secret_name("wf", "b")}


def test_failed_deploy_restores_secrets(parts: Any) -> None:
    service, _, secrets, manual = parts
    service.deploy("wf", "alice", spec(keyed("a", "old"), keyed("gone", "g")))
    before = (dict(secrets.values), set(secrets.deleted))
    manual.fail_on = {"m"}
    failing = spec(keyed("a", "new"), {"id": "m", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL"})
    with pytest.raises(RegistrationFailed):
        service.deploy("wf", "alice", failing)
    assert (secrets.values, secrets.deleted) == before
