"""Tenants stay apart: workflow ids, secrets and default webhook paths belong to one user (issue 7, part 1)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.fakes import MemorySecretStore, MemoryStore, RecordingRegistrar
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import DeploymentNotFound, SecretRefused, SpecInvalid, WorkflowIdTaken
from workflow_scheduler.domain.inline_secrets import (
    MAX_INLINE_SECRET,
    OWNER_TAG,
    managed_secret_name,
    owner_tags,
    tag_value,
)
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.webhook.registrar import WebhookRegistrar


def hook(node_id: str, **auth: Any) -> dict[str, Any]:
    params = {"webhook_path": f"hooks/{node_id}", "auth": {"type": "api_key", "header": "X-Key", **auth}}
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": params}


def manual(node_id: str) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL", "parameters": {}}


def spec(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": list(nodes)}


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def secrets() -> MemorySecretStore:
    return MemorySecretStore()


@pytest.fixture
def service(store: MemoryStore, secrets: MemorySecretStore) -> DeploymentService:
    registrars = [RecordingRegistrar(TriggerType.MANUAL), WebhookRegistrar()]
    return DeploymentService(store, TriggerManager(registrars), secrets=secrets)


# -- workflow ids ---------------------------------------------------------------------------------------------


def test_an_undeployed_workflow_id_stays_its_first_owners(service: DeploymentService, store: MemoryStore) -> None:
    service.deploy("wf-a", "alice", spec(manual("m")))
    service.undeploy("wf-a", "alice")
    with pytest.raises(WorkflowIdTaken):
        service.deploy("wf-a", "bob", spec(manual("m")))
    with pytest.raises(DeploymentNotFound):
        service.deploy("wf-a", "bob", spec(manual("m")), must_exist=True)
    assert store.deployments["wf-a"].owner == "alice"
    assert store.deployments["wf-a"].status is DeploymentStatus.UNDEPLOYED
    # Its owner takes it back, and the version continues.
    assert service.deploy("wf-a", "alice", spec(manual("m"))).deployment.version == 2


# -- secret_ref ------------------------------------------------------------------------------------------------


def test_secrets_the_service_creates_carry_owner_workflow_and_trigger(
    service: DeploymentService, secrets: MemorySecretStore
) -> None:
    service.deploy("wf-a", "alice", spec(hook("h", secret="s3cret")))
    name = managed_secret_name("wf-a", "h")
    assert secrets.tags[name] == {
        "managed-by": "workflow_scheduler",
        "workflow-scheduler:owner": "alice",
        "workflow-scheduler:workflow-id": "wf-a",
        "workflow-scheduler:trigger-id": "h",
    }


def test_another_users_secret_reads_exactly_like_a_missing_one(
    service: DeploymentService, store: MemoryStore, secrets: MemorySecretStore
) -> None:
    service.deploy("wf-a", "alice", spec(hook("h", secret="alice-key")))
    secrets.write("team/bob-not", "x", {OWNER_TAG: "carol"})
    answers = []
    for ref in (managed_secret_name("wf-a", "h"), "team/bob-not", "no/such/secret"):
        with pytest.raises(SecretRefused) as refused:
            service.deploy("wf-b", "bob", spec(manual("m"), hook("steal", secret_ref=ref)))
        (problem,) = refused.value.problems
        assert (problem.node_id, problem.field) == ("steal", "parameters.auth.secret_ref")
        answers.append((refused.value.code, problem.message))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == "secret_not_allowed" and "workflow-scheduler:owner=bob" in answers[0][1]
    assert "wf-b" not in store.deployments
    assert secrets.values[managed_secret_name("wf-a", "h")] == "alice-key"


def test_a_users_own_tagged_secret_is_usable_and_never_deleted(
    service: DeploymentService, secrets: MemorySecretStore
) -> None:
    secrets.write("team/alice-hook", "k", {OWNER_TAG: "alice"})
    service.deploy("wf-a", "alice", spec(hook("h", secret_ref="team/alice-hook")))
    service.deploy("wf-a", "alice", spec(manual("m")))  # the trigger goes away
    service.deploy("wf-b", "alice", spec(hook("h", secret_ref="team/alice-hook")))
    service.undeploy("wf-b", "alice")
    assert "team/alice-hook" not in secrets.deleted


def test_a_managed_secret_serves_only_its_own_trigger(service: DeploymentService, secrets: MemorySecretStore) -> None:
    service.deploy("wf-a", "alice", spec(hook("h", secret="k")))
    with pytest.raises(SecretRefused, match="another trigger"):
        service.deploy("wf-b", "alice", spec(hook("h", secret_ref=managed_secret_name("wf-a", "h"))))
    # Not even another trigger of the same spec, while that one's secret is being created.
    with pytest.raises(SecretRefused):
        service.deploy(
            "wf-c", "alice", spec(hook("a", secret="k"), hook("b", secret_ref=managed_secret_name("wf-c", "a")))
        )
    # Its own trigger may name it (a spec copied from GET .../deploy).
    assert not service.deploy("wf-a", "alice", spec(hook("h", secret_ref=managed_secret_name("wf-a", "h")))).changed


def test_undeploy_never_deletes_a_secret_made_for_someone_else(
    service: DeploymentService, store: MemoryStore, secrets: MemorySecretStore
) -> None:
    service.deploy("wf-a", "alice", spec(hook("h", secret="alice-key")))
    service.deploy("wf-b", "bob", spec(manual("m")))
    # A trigger of bob's that names alice's secret, as deployed before the rule existed.
    stolen = {"webhook_path": "/webhook/x/y", "auth": {"type": "api_key", "header": "X", "secret_ref": ""}}
    for workflow_id, trigger_id in (("wf-b", "h"), ("wf-b", "steal")):
        stolen["auth"]["secret_ref"] = managed_secret_name("wf-a", "h")
        store.triggers[(workflow_id, trigger_id)] = TriggerRecord(
            workflow_id, trigger_id, TriggerType.WEBHOOK, json.loads(json.dumps(stolen)), "x", 1, TriggerStatus.ACTIVE
        )
    service.undeploy("wf-b", "bob")
    assert secrets.deleted == set()


def test_undeploy_checks_the_tags_not_only_the_name(
    service: DeploymentService, store: MemoryStore, secrets: MemorySecretStore
) -> None:
    service.deploy("wf-a", "alice", spec(hook("h", secret="k")))
    name = managed_secret_name("wf-a", "h")
    secrets.tags[name][OWNER_TAG] = "someone-else"
    service.undeploy("wf-a", "alice")
    assert secrets.deleted == set()


def test_an_inline_secret_never_overwrites_a_secret_made_for_another(
    service: DeploymentService, store: MemoryStore, secrets: MemorySecretStore
) -> None:
    name = managed_secret_name("wf-a", "h")
    secrets.write(name, "planted", {OWNER_TAG: "mallory"})
    with pytest.raises(SecretRefused) as refused:
        service.deploy("wf-a", "alice", spec(hook("h", secret="alice-key")))
    assert refused.value.problems[0].node_id == "h" and "alice-key" not in str(refused.value)
    assert secrets.values[name] == "planted" and "wf-a" not in store.deployments


# -- inline secrets -------------------------------------------------------------------------------------------


def test_only_trigger_nodes_give_up_their_secrets(
    service: DeploymentService, store: MemoryStore, secrets: MemorySecretStore
) -> None:
    action = {
        "id": "call-api",
        "node_type": "ACTION_NODE",
        "subtype": "TRIGGER_WEBHOOK",  # a look-alike: only TRIGGER_NODEs are triggers
        "parameters": {"auth": {"type": "api_key", "secret": "engine-data"}},
    }
    result = service.deploy("wf-a", "alice", spec(manual("m"), action))
    assert secrets.values == {} and secrets.calls == []
    assert result.deployment.spec["nodes"][1] == action  # opaque node data, passed through as it was


def test_an_inline_secret_over_the_limit_is_refused_without_echo(
    service: DeploymentService, secrets: MemorySecretStore
) -> None:
    long = "S" * (MAX_INLINE_SECRET + 1)
    with pytest.raises(SpecInvalid) as refused:
        service.deploy("wf-a", "alice", spec(hook("h", secret=long)))
    (problem,) = refused.value.problems
    assert (problem.node_id, problem.field) == ("h", "parameters.auth.secret")
    assert "SSSS" not in str(refused.value) and "SSSS" not in json.dumps(problem.as_dict())
    assert secrets.values == {}
    service.deploy("wf-a", "alice", spec(hook("h", secret="S" * MAX_INLINE_SECRET)))  # the limit itself is fine


def test_tag_values_are_what_secrets_manager_accepts_and_never_ambiguous() -> None:
    assert tag_value("alice@example.com") == "alice@example.com"
    odd = tag_value("auth0|5f1c")  # '|' is not allowed in a tag
    assert odd.startswith("sha256:") and len(odd) == 71
    assert tag_value(odd) != odd  # a sub that looks like a digest is digested itself
    assert tag_value("x" * 257).startswith("sha256:")
    assert owner_tags("auth0|5f1c", "wf", "odd id/ü")["workflow-scheduler:trigger-id"].startswith("sha256:")


# -- default webhook paths ------------------------------------------------------------------------------------


def webhook_at(node_id: str, path: str) -> dict[str, Any]:
    params = {"webhook_path": path}
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": params}


@pytest.mark.parametrize("path", ["/webhook/wf-a", "wf-a", "/webhook/wf-future", "orders"])
def test_a_custom_path_cannot_take_another_workflows_default_path(
    service: DeploymentService, store: MemoryStore, path: str
) -> None:
    with pytest.raises(SpecInvalid) as refused:
        service.deploy("wf-b", "bob", spec(webhook_at("h", path)))
    (problem,) = refused.value.problems
    assert (problem.node_id, problem.field) == ("h", "parameters.webhook_path")
    assert "default path" in problem.message
    assert store.deployments == {}


def test_the_default_path_namespace_leaves_everything_else_open(service: DeploymentService) -> None:
    service.deploy("wf-a", "alice", spec(webhook_at("own", "/webhook/wf-a")))  # its own default, spelled out
    service.deploy("wf-b", "bob", spec(webhook_at("two", "/webhook/wf-a/orders")))  # two segments
    service.deploy("wf-c", "bob", spec(webhook_at("odd", "~hooks")))  # can never be a workflow id
    # A squatter cannot hold an id's default path before its first owner deploys it.
    with pytest.raises(SpecInvalid):
        service.deploy("wf-d", "bob", spec(webhook_at("grab", "/webhook/wf-future")))
    default = {"id": "h", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": {}}
    result = service.deploy("wf-future", "carol", spec(default))
    assert result.triggers[0].lookup == {"webhook_path": "/webhook/wf-future"}


# -- at firing ------------------------------------------------------------------------------------------------


def test_a_firing_uses_only_its_owners_secret_and_caches_the_tags(secrets: MemorySecretStore) -> None:
    from workflow_scheduler.adapters.secrets import CACHE_SECONDS, SecretOwnership
    from workflow_scheduler.domain.errors import SecretUnavailable
    from workflow_scheduler.domain.firing import FiringTarget

    def target(owner: str, workflow_id: str = "wf-a", trigger_id: str = "h") -> FiringTarget:
        record = TriggerRecord(workflow_id, trigger_id, TriggerType.WEBHOOK, {}, "x", 1, TriggerStatus.ACTIVE)
        return FiringTarget(DeploymentStatus.DEPLOYED, owner, record)

    secrets.write("team/alice", "k", {OWNER_TAG: "alice"})
    secrets.write(managed_secret_name("wf-a", "h"), "k", owner_tags("alice", "wf-a", "h"))
    now = [0.0]
    check = SecretOwnership(secrets, clock=lambda: now[0])
    check("team/alice", target("alice"))
    check(managed_secret_name("wf-a", "h"), target("alice"))
    for ref, other in (
        ("team/alice", target("bob")),
        (managed_secret_name("wf-a", "h"), target("bob")),
        (managed_secret_name("wf-a", "h"), target("alice", "wf-b")),  # alice's, but made for another trigger
        ("no/such", target("alice")),
    ):
        with pytest.raises(SecretUnavailable) as refused:
            check(ref, other)
        assert "alice" not in refused.value.message
    assert secrets.calls.count("describe team/alice") == 1  # cached like the value
    now[0] += CACHE_SECONDS + 1
    check("team/alice", target("alice"))
    assert secrets.calls.count("describe team/alice") == 2
