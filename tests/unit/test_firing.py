"""The one firing path (unit, with fakes): execution ids, claims, refusals, outages and large data. Each type's
firing: test_manual.py, test_webhook.py, and cron's in tests/integration/test_cron.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.fakes import MemoryFiringStore, MemoryQueue
from workflow_scheduler.domain.firing import (
    DispatchUnavailable,
    FiringService,
    FiringStatus,
    FiringTarget,
    execution_id_for,
)
from workflow_scheduler.domain.models import DeploymentStatus, TriggerRecord, TriggerStatus, TriggerType

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def target(
    trigger_id: str = "t",
    type_: TriggerType = TriggerType.MANUAL,
    config: dict[str, Any] | None = None,
    deployment: DeploymentStatus = DeploymentStatus.DEPLOYED,
    status: TriggerStatus = TriggerStatus.ACTIVE,
    version: int = 3,
    lookup: dict[str, Any] | None = None,
) -> FiringTarget:
    record = TriggerRecord("wf", trigger_id, type_, config or {}, "hash", version, status, lookup or {})
    return FiringTarget(deployment, "alice", record)


def service(queue: MemoryQueue | None = None, store: MemoryFiringStore | None = None) -> FiringService:
    return FiringService(store or MemoryFiringStore(), queue or MemoryQueue(), clock=lambda: NOW)


def test_execution_ids_are_deterministic_and_distinct() -> None:
    a = execution_id_for("wf", "t", "k")
    assert a == execution_id_for("wf", "t", "k") and a.startswith("exec_")
    assert (
        len(
            {a, execution_id_for("wf", "t", "k2"), execution_id_for("wf", "t2", "k"), execution_id_for("wf2", "t", "k")}
        )
        == 4
    )
    # the separator keeps ("a", "bc") and ("ab", "c") apart
    assert execution_id_for("a", "bc", "k") != execution_id_for("ab", "c", "k")


def test_accepted_firing_is_claimed_then_queued() -> None:
    store, queue = MemoryFiringStore(), MemoryQueue()
    outcome = service(queue, store).fire(target(), "k", {"x": 1})
    assert outcome.status is FiringStatus.QUEUED
    [(event, delay)] = queue.sent
    assert event.execution_id == outcome.execution_id and event.version == 3 and delay == 0
    assert event.engine_body() == {
        "execution_id": outcome.execution_id,
        "workflow_id": "wf",
        "trigger": {"type": "manual", "trigger_id": "t", "data": {"x": 1}},
        "triggered_at": NOW.isoformat(),
    }
    assert store.rows == [(outcome.execution_id, "queued", None)]


def test_same_firing_twice_is_one_execution() -> None:
    store, queue = MemoryFiringStore(), MemoryQueue()
    fire = service(queue, store)
    first, second = fire.fire(target(), "k", {}), fire.fire(target(), "k", {})
    assert first.execution_id == second.execution_id and second.status is FiringStatus.DUPLICATE
    assert len(queue.sent) == 1
    assert [s for _, s, _ in store.rows] == ["queued", "duplicate"]


@pytest.mark.parametrize(
    ("kwargs", "fired_version", "reason"),
    [
        ({"deployment": DeploymentStatus.PAUSED}, None, "paused"),
        ({"deployment": DeploymentStatus.UNDEPLOYED}, None, "not deployed"),
        ({"status": TriggerStatus.DISABLED}, None, "switched off"),
        ({}, 2, "version 2"),
    ],
)
def test_refused_firings_are_recorded_never_sent(
    kwargs: dict[str, Any], fired_version: int | None, reason: str
) -> None:
    store, queue = MemoryFiringStore(), MemoryQueue()
    outcome = service(queue, store).fire(target(**kwargs), "k", {}, fired_version=fired_version)
    assert outcome.status is FiringStatus.REFUSED and reason in (outcome.reason or "")
    assert queue.sent == [] and store.claimed == {}
    assert store.rows == [(outcome.execution_id, "refused", outcome.reason)]


def test_queue_outage_frees_the_execution_id_for_a_retry() -> None:
    store, queue = MemoryFiringStore(), MemoryQueue(fail=True)
    fire = service(queue, store)
    with pytest.raises(DispatchUnavailable):
        fire.fire(target(), "k", {})
    assert store.claimed == {} and store.rows[-1][1] == "failed"
    queue.fail = False
    assert fire.fire(target(), "k", {}).status is FiringStatus.QUEUED


def test_oversized_data_travels_by_reference() -> None:
    queue = MemoryQueue()
    service(queue).fire(target(), "k", {"blob": "x" * (1024 * 1024)})
    [(event, _)] = queue.sent
    assert event.payload_stored and event.data == {}
