"""Manual runs (unit, with fakes): the data a run carries, confirmation, refusals, and inputs the engine could not
be given."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fakes import MemoryFiringStore, MemoryQueue
from tests.unit.test_delivery import nested
from tests.unit.test_firing import NOW, service, target
from workflow_scheduler.domain.errors import DeploymentNotFound, SpecInvalid
from workflow_scheduler.domain.firing import FiringTarget, WorkflowPaused
from workflow_scheduler.domain.json_limits import MAX_JSON_DEPTH
from workflow_scheduler.domain.models import DeploymentStatus, TriggerType
from workflow_scheduler.domain.triggers.manual.firing import (
    ConfirmationRequired,
    ManualFiring,
    ManualRequest,
    NoManualTrigger,
)

# -- firing --------------------------------------------------------------------------------------------------------


def manual_runs(*targets: FiringTarget, queue: MemoryQueue | None = None) -> ManualFiring:
    store = MemoryFiringStore(list(targets))
    return ManualFiring(store, service(queue, store), clock=lambda: NOW, new_key=lambda: "fresh")


def test_manual_run_data_and_confirmation() -> None:
    queue = MemoryQueue()
    runs = manual_runs(target(config={"require_confirmation": True}), queue=queue)
    with pytest.raises(ConfirmationRequired):
        runs.fire(ManualRequest("wf", "alice", confirmation=False, inputs={}))
    assert queue.sent == []
    outcome = runs.fire(ManualRequest("wf", "alice", confirmation=True, inputs={"n": 1}))
    [(event, _)] = queue.sent
    assert event.data == {
        "trigger_time": NOW.isoformat(),
        "execution_id": outcome.execution_id,
        "user_id": "alice",
        "inputs": {"n": 1},
    }


def test_manual_run_refusals() -> None:
    with pytest.raises(WorkflowPaused):
        manual_runs(target(deployment=DeploymentStatus.PAUSED)).fire(
            ManualRequest("wf", "alice", confirmation=True, inputs={})
        )
    with pytest.raises(NoManualTrigger):
        manual_runs(target(type_=TriggerType.WEBHOOK)).fire(ManualRequest("wf", "alice", confirmation=True, inputs={}))
    with pytest.raises(DeploymentNotFound):
        manual_runs(target()).fire(ManualRequest("wf", "mallory", confirmation=True, inputs={}))


# -- inputs the engine could not be given --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        (nested(MAX_JSON_DEPTH + 1), f"deeper than {MAX_JSON_DEPTH} levels"),
        ({"x": float("nan")}, "NaN and Infinity"),
        ({"x": [float("inf")]}, "NaN and Infinity"),
        ({"x": "\udc00"}, "lone surrogate"),
    ],
)
def test_a_manual_run_with_undeliverable_inputs_is_refused_and_nothing_fires(inputs: Any, says: str) -> None:
    queue = MemoryQueue()
    runs = manual_runs(target(), queue=queue)
    with pytest.raises(SpecInvalid) as refused:
        runs.fire(ManualRequest("wf", "alice", confirmation=False, inputs=inputs))
    [problem] = refused.value.problems
    assert problem.field == "inputs" and says in problem.message
    assert queue.sent == []


def test_inputs_at_the_depth_limit_fire() -> None:
    queue = MemoryQueue()
    inputs = nested(MAX_JSON_DEPTH)
    manual_runs(target(), queue=queue).fire(ManualRequest("wf", "alice", confirmation=False, inputs=inputs))
    [(event, _)] = queue.sent
    assert event.data["inputs"] == inputs
