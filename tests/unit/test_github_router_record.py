"""A queue message can reach the router before the github function's record of the delivery commits (the message is
sent inside the recording transaction): the router waits for the record, and retries later rather than drop it."""

from __future__ import annotations

import pytest

from tests.support.fakes import MemoryFiringStore, MemoryQueue
from tests.support.github_fakes import MemoryDeliveryQueue, MemoryGithubStore, fixture, github_trigger, signed
from workflow_scheduler.domain.firing import FiringService, FiringTarget
from workflow_scheduler.domain.models import DeploymentStatus
from workflow_scheduler.domain.triggers.github.deliveries import Delivery
from workflow_scheduler.domain.triggers.github.ingress import GithubIngress
from workflow_scheduler.domain.triggers.github.router import RECORD_WAITS, DeliveryNotRecorded, GithubRouter


class LateStore(MemoryGithubStore):
    """The record becomes visible only after ``hidden_reads`` reads (its transaction commits meanwhile)."""

    def __init__(self, hidden_reads: int) -> None:
        super().__init__()
        self.hidden_reads = hidden_reads

    def delivery(self, delivery_id: str) -> Delivery | None:
        if self.hidden_reads > 0:
            self.hidden_reads -= 1
            return None
        return super().delivery(delivery_id)


def setup(hidden_reads: int) -> tuple[GithubRouter, MemoryQueue, list[float]]:
    store = LateStore(hidden_reads)
    store.links.add((1, "alice"))
    payload = fixture("push/with-new-branch.payload.json") | {"installation": {"id": 1}}
    GithubIngress(store, MemoryDeliveryQueue(), lambda: ["s"]).receive(signed("push", payload, "d-1", secret="s"))
    firing_store = MemoryFiringStore([FiringTarget(DeploymentStatus.DEPLOYED, "alice", github_trigger("wf"))])
    dispatch = MemoryQueue()
    paused: list[float] = []
    router = GithubRouter(store, firing_store, FiringService(firing_store, dispatch), None, pause=paused.append)
    return router, dispatch, paused


def test_a_record_that_commits_just_after_the_message_arrives_is_routed() -> None:
    router, dispatch, paused = setup(hidden_reads=2)
    summary = router.route("d-1")
    assert summary is not None and summary.matched == 1
    assert [e.workflow_id for e, _ in dispatch.sent] == ["wf"]
    assert paused == list(RECORD_WAITS[:2])


def test_a_record_still_missing_is_retried_later_not_dropped() -> None:
    router, dispatch, paused = setup(hidden_reads=len(RECORD_WAITS) + 1)
    with pytest.raises(DeliveryNotRecorded):  # Unavailable: the message stays on the queue
        router.route("d-1")
    assert paused == list(RECORD_WAITS) and dispatch.sent == []
    summary = router.route("d-1")  # the queue's next receive
    assert summary is not None and summary.matched == 1


def test_on_the_last_attempt_a_delivery_never_recorded_is_dropped() -> None:
    router, dispatch, _ = setup(hidden_reads=100)
    assert router.route("never-recorded", last_attempt=True) is None
    assert dispatch.sent == []
