"""Nothing accepted is lost (issue 7, part 2), with fakes: what comes in is deliverable, unreadable messages are
recorded, and trigger health says what happened to a trigger's firings."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.support.fakes import MemoryFiringStore, MemoryQueue
from tests.unit.test_dispatch import NOW, FakeStore, ScriptedDeliverer, delivered, dispatcher, firing
from tests.unit.test_firing import manual_runs, service, target
from workflow_scheduler.domain.errors import SpecInvalid
from workflow_scheduler.domain.firing import MAX_INLINE_MESSAGE_BYTES, FiringStatus, TriggerEvent
from workflow_scheduler.domain.history import Firing, Health, trigger_health
from workflow_scheduler.domain.json_limits import MAX_JSON_DEPTH
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.triggers.manual.firing import ManualRequest
from workflow_scheduler.domain.triggers.webhook.firing import WebhookFiring, WebhookRequest, parse_body, trigger_data


def nested(levels: int) -> Any:
    """JSON nested ``levels`` levels of arrays and objects."""
    value: Any = "leaf"
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


# -- webhook bodies ------------------------------------------------------------------------------------------


def test_a_json_body_at_the_depth_limit_is_passed_on_parsed() -> None:
    body = nested(MAX_JSON_DEPTH)
    assert parse_body(json.dumps(body).encode(), "application/json") == (body, "json")


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 200, 300, 50_000])
def test_a_json_body_nested_deeper_than_the_limit_is_refused_with_422(levels: int) -> None:
    with pytest.raises(SpecInvalid) as refused:
        parse_body(b"[" * levels + b"]" * levels, "application/vnd.api+json")
    [problem] = refused.value.problems
    assert problem.field == "body" and f"deeper than {MAX_JSON_DEPTH} levels" in problem.message


def test_a_deep_body_is_refused_before_anything_is_recorded_or_queued() -> None:
    hook = target("hook", TriggerType.WEBHOOK, lookup={"webhook_path": "/webhook/wf"})
    store, queue = MemoryFiringStore([hook]), MemoryQueue()
    webhooks = WebhookFiring(store, service(queue, store), lambda name: "", max_body_bytes=1024 * 1024)
    request = WebhookRequest(
        "POST", "/webhook/wf", {"content-type": "application/json"}, body=json.dumps(nested(200)).encode()
    )
    with pytest.raises(SpecInvalid):
        webhooks.fire(request)
    assert store.rows == [] and queue.sent == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"price": NaN}',
        b'{"price": Infinity, "floor": -Infinity}',
        b'{"price": 1e999}',
        b"[1, 2, -1E400]",
        b'{"name": "\\ud800 alone"}',
        b'{"name": "tail \\udfff"}',
    ],
)
def test_non_standard_json_is_passed_on_as_its_exact_text(body: bytes) -> None:
    assert parse_body(body, "application/json") == (body.decode(), "text")


def test_standard_json_with_surrogate_pairs_and_nul_is_passed_on_parsed() -> None:
    body = b'{"emoji": "\\ud83d\\ude00", "nul": "a\\u0000b", "big": 1e308}'
    assert parse_body(body, "application/json") == ({"emoji": "\U0001f600", "nul": "a\x00b", "big": 1e308}, "json")


# -- every way in: the firing service refuses data it could not deliver -------------------------------------


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


def test_data_at_the_depth_limit_round_trips_through_the_queue_message() -> None:
    body = json.dumps(nested(MAX_JSON_DEPTH)).encode()
    request = WebhookRequest("POST", "/webhook/wf", {"content-type": "application/json"}, {"a": ["1", "2"]}, body)
    data = trigger_data(request, {"type": "none"})
    assert data["body"] == nested(MAX_JSON_DEPTH) and data["body_encoding"] == "json"
    event = firing(data=data)
    assert TriggerEvent.model_validate_json(event.message_body()) == event
    dispatch, _ = dispatcher(deliverer := ScriptedDeliverer(delivered()))
    assert dispatch.dispatch(event.message_body(), attempt=1).status is FiringStatus.DISPATCHED
    assert deliverer.delivered == [event]


def test_the_queue_message_holds_only_characters_sqs_accepts() -> None:
    event = firing(data={"body": "nonchars \ufffe\uffff, NUL \x00, astral \U0001f600, \u20ac"})
    body = event.message_body()
    allowed = {0x9, 0xA, 0xD}
    assert all(
        ord(c) in allowed or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) >= 0x10000 for c in body
    )
    assert TriggerEvent.model_validate_json(body) == event


def test_data_too_large_in_bytes_travels_by_reference_even_when_short_in_characters() -> None:
    queue = MemoryQueue()
    text = "\u20ac" * 340_000  # 340,000 characters, 1,020,000 bytes of UTF-8
    assert len(text) < MAX_INLINE_MESSAGE_BYTES < len(text.encode())
    service(queue).fire(target(), "k", {"body": text})
    [(event, _)] = queue.sent
    assert event.payload_stored and event.data == {}


# -- the dispatcher: unreadable messages are recorded --------------------------------------------------------


def test_an_unreadable_message_marks_its_firing_retrying_then_parked_with_the_reason() -> None:
    store = FakeStore(unresolved={"exec_1"})
    dispatch, _ = dispatcher(deliverer := ScriptedDeliverer(), store)
    body = json.dumps({"execution_id": "exec_1", "workflow_id": "wf", "trigger_type": "carrier-pigeon"})

    first = dispatch.dispatch(body, attempt=1)
    assert (first.status, first.retry_in_seconds, first.unreadable_execution_id) == (
        FiringStatus.RETRYING,
        10,
        "exec_1",
    )
    last = dispatch.dispatch(body, attempt=5)
    assert (last.status, last.retry_in_seconds) == (FiringStatus.PARKED, 0)

    assert [(m.execution_id, m.status, m.values["attempts"]) for m in store.marks] == [
        ("exec_1", FiringStatus.RETRYING, 1),
        ("exec_1", FiringStatus.PARKED, 5),
    ]
    reason = store.marks[-1].values["error"]
    assert reason.startswith("the dispatcher cannot read this firing's message: trigger_id: Field required")
    assert "trigger_type: Input should be" in reason and "parked in the dead-letter queue" in reason
    assert deliverer.delivered == []


def test_a_body_that_is_not_json_is_recorded_by_the_execution_id_beside_it() -> None:
    store = FakeStore(unresolved={"exec_7"})
    dispatch, _ = dispatcher(ScriptedDeliverer(), store)
    report = dispatch.dispatch("\x00garbage", attempt=5, execution_id="exec_7")
    assert report.status is FiringStatus.PARKED
    [mark] = store.marks
    assert mark.execution_id == "exec_7" and "not JSON" in mark.values["error"]


def test_a_deep_message_queued_before_the_limit_is_delivered() -> None:
    """Today's DLQs hold ~200-level firings pydantic's parser cannot read: a redrive delivers them now."""
    old = firing(data={"body": nested(200)})
    body = json.dumps(old.model_dump(mode="json"))
    with pytest.raises(ValueError, match="recursion limit"):
        TriggerEvent.model_validate_json(body)
    dispatch, store = dispatcher(deliverer := ScriptedDeliverer(delivered()))
    assert dispatch.dispatch(body, attempt=1).status is FiringStatus.DISPATCHED
    assert deliverer.delivered == [old] and store.updates[0].status is FiringStatus.DISPATCHED


# -- trigger health ------------------------------------------------------------------------------------------

STALE_AFTER = timedelta(hours=1)


def fired(status: str, minutes_ago: float = 5, n: int = 0, error: str | None = None, attempts: int = 1) -> Firing:
    at = NOW - timedelta(minutes=minutes_ago)
    return Firing(str(n), f"exec_{n}", "t", "manual", 1, status, error, attempts, None, at, at, None)


def health(recent: list[Firing], stuck: Firing | None = None) -> tuple[Health, str]:
    verdict = trigger_health(recent, stuck, NOW, STALE_AFTER)
    return verdict.status, verdict.reason


def test_a_trigger_that_never_fired_or_whose_firings_got_through_is_healthy() -> None:
    assert health([]) == (Health.HEALTHY, "it has not fired yet")
    assert health([fired("dispatched", n=2), fired("dispatched", n=1)])[0] is Health.HEALTHY
    assert health([fired("queued", 0, n=2), fired("dispatched", n=1)]) == (
        Health.HEALTHY,
        "its last firing is queued for the engine",
    )


@pytest.mark.parametrize("status", ["failed", "parked"])
def test_a_trigger_whose_last_outcome_did_not_get_through_is_failing(status: str) -> None:
    recent = [fired("queued", 0, n=3), fired(status, n=2, error="the engine answered 404: gone"), fired("dispatched")]
    verdict, reason = health(recent)
    assert verdict is Health.FAILING
    assert "exec_2" in reason and status in reason and "the engine answered 404: gone" in reason


def test_a_firing_accepted_and_never_resolved_makes_the_trigger_stale() -> None:
    stuck = fired("queued", minutes_ago=180, n=1)
    verdict, reason = health([fired("dispatched", n=2), stuck], stuck)
    assert verdict is Health.STALE
    assert "exec_1" in reason and "3 h ago" in reason and "still queued" in reason and "dead-letter queue" in reason


def test_a_trigger_being_retried_or_with_recent_failures_is_degraded() -> None:
    verdict, reason = health([fired("retrying", n=2, error="the engine answered 503: busy", attempts=3)])
    assert verdict is Health.DEGRADED and "exec_2" in reason and "3 attempt(s)" in reason and "503" in reason

    verdict, reason = health([fired("dispatched", n=3), fired("parked", 30, n=2), fired("dispatched", 60, n=1)])
    assert verdict is Health.DEGRADED and reason.startswith("1 of its last 3 firings did not get through")
    # A failure older than a day no longer counts.
    assert health([fired("dispatched", n=3), fired("parked", 25 * 60, n=2)])[0] is Health.HEALTHY
