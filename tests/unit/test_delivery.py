"""Nothing accepted is lost (issue 7, part 2), with fakes: what the firing service accepts is deliverable, and the
dispatcher records unreadable messages (webhook bodies and manual inputs: test_webhook.py, test_manual.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.fakes import MemoryQueue
from tests.unit.test_dispatch import FakeStore, ScriptedDeliverer, delivered, dispatcher, firing
from tests.unit.test_firing import service, target
from workflow_scheduler.domain.firing import MAX_INLINE_MESSAGE_BYTES, FiringStatus, TriggerEvent
from workflow_scheduler.domain.json_limits import MAX_JSON_DEPTH
from workflow_scheduler.domain.triggers.webhook.firing import WebhookRequest, trigger_data


def nested(levels: int) -> Any:
    """JSON nested ``levels`` levels of arrays and objects."""
    value: Any = "leaf"
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


# -- every way in: the firing service refuses data it could not deliver -------------------------------------


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
