from __future__ import annotations

from typing import Any

import pytest

from tests.support.fakes import MemoryStore, RecordingRegistrar
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.errors import (
    DeploymentNotFound,
    RegistrationFailed,
    SpecInvalid,
    TriggerTypeUnavailable,
    WebhookPathTaken,
    WorkflowIdTaken,
)
from workflow_scheduler.domain.models import DeploymentStatus, TriggerStatus, TriggerType
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.domain.triggers.webhook.registrar import WebhookRegistrar


def manual(node_id: str, **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL", "parameters": parameters}


def webhook(node_id: str, **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": parameters}


def spec(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"name": "wf", "nodes": list(nodes)}


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def external() -> RecordingRegistrar:
    return RecordingRegistrar(TriggerType.MANUAL)


@pytest.fixture
def service(store: MemoryStore, external: RecordingRegistrar) -> DeploymentService:
    return DeploymentService(store, TriggerManager([external, WebhookRegistrar()]))


def test_first_deploy_registers_every_trigger_at_version_1(
    service: DeploymentService, store: MemoryStore, external: RecordingRegistrar
) -> None:
    result = service.deploy("wf1", "alice", spec(manual("m1"), manual("m2"), webhook("h")))
    assert result.changed and result.deployment.version == 1
    assert result.deployment.status is DeploymentStatus.DEPLOYED
    assert [r.trigger_id for r in result.triggers] == ["m1", "m2", "h"]
    assert {r.version for r in result.triggers} == {1}
    assert set(external.external) == {("wf1", "m1"), ("wf1", "m2")}
    assert store.triggers[("wf1", "h")].lookup == {"webhook_path": "/webhook/wf1"}


def test_update_touches_only_the_difference(
    service: DeploymentService, store: MemoryStore, external: RecordingRegistrar
) -> None:
    service.deploy("wf1", "alice", spec(manual("keep"), manual("change"), manual("drop")))
    external.calls.clear()
    result = service.deploy(
        "wf1", "alice", spec(manual("keep"), manual("change", require_confirmation=True), manual("new"))
    )
    assert result.deployment.version == 2
    assert sorted(external.calls) == ["register change", "register new", "unregister change", "unregister drop"]
    versions = {r.trigger_id: r.version for r in result.triggers}
    assert versions == {"keep": 1, "change": 2, "new": 2}
    assert set(external.external) == {("wf1", "keep"), ("wf1", "change"), ("wf1", "new")}


def test_noop_update_writes_nothing_and_keeps_the_version(
    service: DeploymentService, store: MemoryStore, external: RecordingRegistrar
) -> None:
    first = service.deploy("wf1", "alice", spec(manual("m"), webhook("h")))
    writes, calls = store.writes, list(external.calls)
    again = service.deploy("wf1", "alice", spec(manual("m"), webhook("h")), must_exist=True)
    assert not again.changed
    assert again.deployment == first.deployment
    assert store.writes == writes and external.calls == calls


def test_failed_registration_leaves_previous_deployment_exactly_as_it_was(store: MemoryStore) -> None:
    external = RecordingRegistrar(TriggerType.MANUAL)
    service = DeploymentService(store, TriggerManager([external, WebhookRegistrar()]))
    service.deploy("wf1", "alice", spec(manual("a"), manual("b"), webhook("h")))
    before = (dict(store.deployments), dict(store.triggers), dict(external.external), dict(external.active))

    external.fail_on = {"d"}
    with pytest.raises(RegistrationFailed):
        # removes b, changes a, adds c then fails on d: every step must be undone
        service.deploy("wf1", "alice", spec(manual("a", require_confirmation=True), manual("c"), manual("d")))
    assert (store.deployments, store.triggers, external.external, external.active) == before


def test_failed_first_deploy_leaves_nothing(store: MemoryStore) -> None:
    external = RecordingRegistrar(TriggerType.MANUAL, fail_on={"b"})
    service = DeploymentService(store, TriggerManager([external]))
    with pytest.raises(RegistrationFailed):
        service.deploy("wf1", "alice", spec(manual("a"), manual("b")))
    assert store.deployments == {} and store.triggers == {} and external.external == {}


def test_unavailable_trigger_type_is_refused_before_anything_happens(
    service: DeploymentService, store: MemoryStore
) -> None:
    cron = {
        "id": "c",
        "node_type": "TRIGGER_NODE",
        "subtype": "TRIGGER_CRON",
        "parameters": {"cron_expression": "* * * * *"},
    }
    with pytest.raises(TriggerTypeUnavailable) as caught:
        service.deploy("wf1", "alice", spec(manual("m"), cron))
    assert [p.node_id for p in caught.value.problems] == ["c"]
    assert store.deployments == {}


def test_other_users_see_nothing(service: DeploymentService) -> None:
    service.deploy("wf1", "alice", spec(manual("m")))
    for call in (service.status, service.pause, service.resume, service.undeploy):
        with pytest.raises(DeploymentNotFound):
            call("wf1", "mallory")
    with pytest.raises(DeploymentNotFound):
        service.deploy("wf1", "mallory", spec(manual("m")), must_exist=True)
    with pytest.raises(WorkflowIdTaken):
        service.deploy("wf1", "mallory", spec(manual("m")))


def test_webhook_path_held_by_another_workflow_is_a_conflict(service: DeploymentService, store: MemoryStore) -> None:
    service.deploy("wf1", "alice", spec(webhook("h", webhook_path="team/shared")))
    with pytest.raises(WebhookPathTaken, match="/webhook/team/shared"):
        service.deploy("wf2", "bob", spec(manual("m"), webhook("h", webhook_path="/webhook/team/shared")))
    assert "wf2" not in store.deployments


def test_pause_and_resume_switch_every_trigger(
    service: DeploymentService, store: MemoryStore, external: RecordingRegistrar
) -> None:
    service.deploy("wf1", "alice", spec(manual("m"), webhook("h")))
    deployment, records = service.pause("wf1", "alice")
    assert deployment.status is DeploymentStatus.PAUSED
    assert {r.status for r in records} == {TriggerStatus.PAUSED}
    assert external.active[("wf1", "m")] is False
    # a deploy while paused keeps the workflow paused
    result = service.deploy("wf1", "alice", spec(manual("m"), manual("m2"), webhook("h")))
    assert result.deployment.status is DeploymentStatus.PAUSED
    assert external.active[("wf1", "m2")] is False
    deployment, records = service.resume("wf1", "alice")
    assert deployment.status is DeploymentStatus.DEPLOYED
    assert {r.status for r in records} == {TriggerStatus.ACTIVE}
    assert external.active == {("wf1", "m"): True, ("wf1", "m2"): True}


def test_undeploy_removes_triggers_and_a_redeploy_continues_the_version(
    service: DeploymentService, store: MemoryStore, external: RecordingRegistrar
) -> None:
    service.deploy("wf1", "alice", spec(manual("m")))
    service.deploy("wf1", "alice", spec(manual("m", require_confirmation=True)))
    undeployed = service.undeploy("wf1", "alice")
    assert undeployed.status is DeploymentStatus.UNDEPLOYED
    assert store.triggers == {} and external.external == {}
    with pytest.raises(DeploymentNotFound):
        service.status("wf1", "alice")
    with pytest.raises(DeploymentNotFound):
        service.undeploy("wf1", "alice")
    # firings from versions 1 and 2 can never match the redeployed triggers
    assert service.deploy("wf1", "alice", spec(manual("m"))).deployment.version == 3


@pytest.mark.parametrize("workflow_id", ["", "-x", "a/b", "x" * 129, "ümlaut"])
def test_bad_workflow_ids(service: DeploymentService, workflow_id: str) -> None:
    with pytest.raises(SpecInvalid):
        service.deploy(workflow_id, "alice", spec(manual("m")))
