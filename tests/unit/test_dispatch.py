"""The dispatch domain with fakes: outcome to status, backoff, the last attempt, claim-checked data, replays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from workflow_scheduler.adapters.engine import parse_retry_after
from workflow_scheduler.domain.delivery import Delivery, DeliveryResult
from workflow_scheduler.domain.dispatch import Dispatcher, GuardedDelivery, RetryPolicy
from workflow_scheduler.domain.firing import FiringStatus, TriggerEvent
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.local.queue_poller import sqs_event

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=5, base_seconds=10, max_seconds=900)


def firing(execution_id: str = "exec_1", **changes: Any) -> TriggerEvent:
    values: dict[str, Any] = {
        "execution_id": execution_id,
        "workflow_id": "wf",
        "trigger_id": "hook",
        "trigger_type": TriggerType.WEBHOOK,
        "version": 2,
        "data": {"body": {"order": 42}},
        "fired_at": NOW,
        **changes,
    }
    return TriggerEvent(**values)


@dataclass
class Update:
    execution_id: str
    status: FiringStatus
    values: dict[str, Any]


@dataclass
class FakeStore:
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    updates: list[Update] = field(default_factory=list)
    unresolved: set[str] = field(default_factory=set)  # execution ids whose claim is queued or retrying
    marks: list[Update] = field(default_factory=list)

    def mark(self, execution_id: str, status: FiringStatus, **values: Any) -> bool:
        if execution_id not in self.unresolved:
            return False
        self.marks.append(Update(execution_id, status, values))
        return True

    def payload(self, execution_id: str) -> dict[str, Any] | None:
        return self.payloads.get(execution_id)

    def update(self, event: TriggerEvent, status: FiringStatus, **values: Any) -> None:
        self.updates.append(Update(event.execution_id, status, values))


class ScriptedDeliverer:
    """Answers with the given deliveries in turn and keeps what it was asked to deliver."""

    def __init__(self, *answers: Delivery) -> None:
        self.answers = list(answers)
        self.delivered: list[TriggerEvent] = []

    def deliver(self, event: TriggerEvent) -> Delivery:
        self.delivered.append(event)
        return self.answers.pop(0)


class MemoryGuard:
    """The guard's contract: DELIVERED and REJECTED are remembered and replayed, RETRY is forgotten."""

    def __init__(self) -> None:
        self.remembered: dict[str, Delivery] = {}

    def deliver_once(self, event: TriggerEvent, deliver: Callable[[TriggerEvent], Delivery]) -> GuardedDelivery:
        if event.execution_id in self.remembered:
            return GuardedDelivery(self.remembered[event.execution_id], replayed=True)
        delivery = deliver(event)
        if delivery.result is not DeliveryResult.RETRY:
            self.remembered[event.execution_id] = delivery
        return GuardedDelivery(delivery)


def delivered(latency_ms: int = 42) -> Delivery:
    return Delivery(DeliveryResult.DELIVERED, latency_ms, 202, detail={"execution_id": "exec_1", "status": "accepted"})


def retry(error: str = "the engine answered 503: busy", retry_after: float | None = None) -> Delivery:
    return Delivery(DeliveryResult.RETRY, 30, 503, error=error, retry_after_seconds=retry_after)


def dispatcher(
    deliverer: ScriptedDeliverer, store: FakeStore | None = None, guard: MemoryGuard | None = None, jitter: float = 0.0
) -> tuple[Dispatcher, FakeStore]:
    store = store or FakeStore()
    return Dispatcher(store, deliverer, guard or MemoryGuard(), POLICY, clock=lambda: NOW, jitter=lambda: jitter), store


# -- backoff -----------------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [POLICY.delay_seconds(attempt, jitter=0.0) for attempt in range(1, 9)] == [
        10,
        20,
        40,
        80,
        160,
        320,
        640,
        900,
    ]
    assert POLICY.delay_seconds(1000, jitter=0.0) == 900


def test_jitter_adds_at_most_a_fifth_and_never_passes_the_cap() -> None:
    assert POLICY.delay_seconds(2, jitter=0.5) == 22
    assert 20 <= POLICY.delay_seconds(2, jitter=0.999) <= 24
    assert POLICY.delay_seconds(7, jitter=0.999) == 768
    assert POLICY.delay_seconds(8, jitter=0.999) == 900


def test_retry_after_is_a_lower_bound_within_the_cap() -> None:
    assert POLICY.delay_seconds(1, jitter=0.0, at_least=120) == 120
    assert POLICY.delay_seconds(3, jitter=0.0, at_least=5) == 40
    assert POLICY.delay_seconds(1, jitter=0.0, at_least=86_400) == 900


def test_sub_second_delays_round_up_to_whole_seconds() -> None:
    quick = RetryPolicy(max_attempts=5, base_seconds=0.2, max_seconds=1.5)
    assert [quick.delay_seconds(a, jitter=0.0) for a in range(1, 6)] == [1, 1, 1, 2, 2]


def test_retry_after_header_as_seconds_or_date() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("Sun, 29 Nov 2026 09:01:30 GMT", now=NOW) == 90.0
    assert parse_retry_after("Sun, 29 Nov 2026 08:00:00 GMT", now=NOW) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None


# -- outcomes ----------------------------------------------------------------------------------------------


def test_delivered_is_recorded_as_dispatched_with_the_engines_answer() -> None:
    deliverer = ScriptedDeliverer(delivered(latency_ms=87))
    dispatch, store = dispatcher(deliverer)
    report = dispatch.dispatch(firing().model_dump_json(), attempt=2)
    assert (report.status, report.retry_in_seconds, report.replayed) == (FiringStatus.DISPATCHED, None, False)
    [update] = store.updates
    assert (update.execution_id, update.status) == ("exec_1", FiringStatus.DISPATCHED)
    assert update.values == {
        "attempts": 2,
        "latency_ms": 87,
        "dispatched_at": NOW,
        "detail": {"status_code": 202, "response": {"execution_id": "exec_1", "status": "accepted"}},
    }
    assert deliverer.delivered == [firing()]


def test_rejected_is_failed_for_good_with_the_engines_message() -> None:
    refusal = Delivery(DeliveryResult.REJECTED, 12, 400, error="the engine answered 400: unknown workflow")
    dispatch, store = dispatcher(ScriptedDeliverer(refusal))
    report = dispatch.dispatch(firing().model_dump_json(), attempt=1)
    assert (report.status, report.retry_in_seconds) == (FiringStatus.FAILED, None)
    [update] = store.updates
    assert update.status == FiringStatus.FAILED
    assert update.values["error"] == "the engine answered 400: unknown workflow"
    assert update.values["detail"] == {"status_code": 400}


def test_transient_failure_is_retrying_with_backoff_and_jitter() -> None:
    dispatch, store = dispatcher(ScriptedDeliverer(retry()), jitter=0.5)
    report = dispatch.dispatch(firing().model_dump_json(), attempt=3)
    assert (report.status, report.retry_in_seconds) == (FiringStatus.RETRYING, 44)  # 40 s + 10% jitter
    [update] = store.updates
    assert (update.status, update.values["attempts"]) == (FiringStatus.RETRYING, 3)
    assert update.values["error"] == "the engine answered 503: busy"


def test_retry_after_from_the_engine_delays_the_next_attempt() -> None:
    dispatch, _ = dispatcher(ScriptedDeliverer(retry(retry_after=300)))
    assert dispatch.dispatch(firing().model_dump_json(), attempt=1).retry_in_seconds == 300


@pytest.mark.parametrize("attempt", [5, 6])
def test_a_transient_failure_on_the_last_attempt_is_parked(attempt: int) -> None:
    dispatch, store = dispatcher(ScriptedDeliverer(retry()))
    report = dispatch.dispatch(firing().model_dump_json(), attempt=attempt)
    # Visible again at once: the queue's next receive moves it to the dead-letter queue.
    assert (report.status, report.retry_in_seconds) == (FiringStatus.PARKED, 0)
    [update] = store.updates
    assert update.status == FiringStatus.PARKED and update.values["attempts"] == attempt
    assert update.values["error"].startswith("the engine answered 503: busy (gave up after")


def test_a_retry_is_not_remembered_so_the_next_attempt_delivers() -> None:
    deliverer = ScriptedDeliverer(retry(), delivered())
    dispatch, store = dispatcher(deliverer)
    body = firing().model_dump_json()
    assert dispatch.dispatch(body, attempt=1).status == FiringStatus.RETRYING
    assert dispatch.dispatch(body, attempt=2).status == FiringStatus.DISPATCHED
    assert len(deliverer.delivered) == 2
    assert [u.status for u in store.updates] == [FiringStatus.RETRYING, FiringStatus.DISPATCHED]


def test_a_redelivered_message_replays_the_outcome_without_calling_the_engine() -> None:
    deliverer = ScriptedDeliverer(delivered())
    dispatch, store = dispatcher(deliverer)
    body = firing().model_dump_json()
    first, again = dispatch.dispatch(body, attempt=1), dispatch.dispatch(body, attempt=2)
    assert len(deliverer.delivered) == 1
    assert (first.replayed, again.replayed) == (False, True)
    # Recorded again: repairs a row whose first update was lost (the store keeps a dispatched row as it is).
    assert [u.status for u in store.updates] == [FiringStatus.DISPATCHED, FiringStatus.DISPATCHED]


def test_claim_checked_data_is_loaded_from_the_store() -> None:
    deliverer = ScriptedDeliverer(delivered())
    store = FakeStore(payloads={"exec_1": {"body": "x" * 10}})
    dispatch, _ = dispatcher(deliverer, store)
    message = firing(data={}, payload_stored=True)
    assert dispatch.dispatch(message.model_dump_json(), attempt=1).status == FiringStatus.DISPATCHED
    [sent] = deliverer.delivered
    assert sent.data == {"body": "x" * 10} and not sent.payload_stored


def test_claim_checked_data_not_stored_yet_is_retried_without_calling_the_engine() -> None:
    deliverer = ScriptedDeliverer()
    dispatch, store = dispatcher(deliverer)
    report = dispatch.dispatch(firing(data={}, payload_stored=True).model_dump_json(), attempt=1)
    assert (report.status, report.retry_in_seconds) == (FiringStatus.RETRYING, 10)
    assert deliverer.delivered == []
    assert store.updates[0].values["error"] == "the firing's data is not in the store yet"


def test_an_unreadable_message_without_an_execution_id_records_nothing_and_is_retried_then_parked() -> None:
    deliverer = ScriptedDeliverer()
    dispatch, store = dispatcher(deliverer)
    report = dispatch.dispatch('{"not": "a firing"}', attempt=1)
    assert (report.status, report.event, report.retry_in_seconds) == (None, None, 10)
    assert report.error and "cannot read this firing's message" in report.error
    assert dispatch.dispatch('{"not": "a firing"}', attempt=5).retry_in_seconds == 0  # on to the DLQ
    assert store.updates == store.marks == [] and deliverer.delivered == []


# -- the local event source --------------------------------------------------------------------------------


def test_the_local_poller_builds_the_event_lambda_would() -> None:
    message: Any = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "Body": firing().model_dump_json(),
        "MD5OfBody": "abc",
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1795942800000"},
        "MessageAttributes": {"execution_id": {"DataType": "String", "StringValue": "exec_1"}},
    }
    event = sqs_event([message], "arn:aws:sqs:eu-west-1:123456789012:workflow-scheduler-dispatch")
    record = SQSRecord(event["Records"][0])
    assert (record.message_id, record.receipt_handle, record.body) == ("m-1", "rh-1", message["Body"])
    assert record.attributes.approximate_receive_count == "3"
    assert record.message_attributes["execution_id"].string_value == "exec_1"  # type: ignore[union-attr]
    assert record.aws_region == "eu-west-1" and record.event_source == "aws:sqs"
    assert record.queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/workflow-scheduler-dispatch"
