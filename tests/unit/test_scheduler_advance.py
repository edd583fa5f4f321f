"""Moving the scheduler emulator's time ahead (``advance_to`` and ``POST /_local/scheduler/advance``), with a fake
schedule group and a fake clock that stands still unless a test moves it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.test_scheduler_emulator import CRON_ARN, START, Harness
from workflow_scheduler.local.gateway import LocalRequest
from workflow_scheduler.local.scheduler_emulator import ADVANCE_PATH, SchedulerEmulator


def at(hour: int, minute: int, second: float = 0) -> datetime:
    return datetime(2026, 11, 29, hour, minute, tzinfo=UTC) + timedelta(seconds=second)


class Running(Harness):
    """The emulator's thread running, as in the local system, where the api function wakes it after each call."""

    def __init__(self) -> None:
        super().__init__()
        self.wake = threading.Event()
        self.emulator = SchedulerEmulator(
            self.group, {CRON_ARN: self.function}, self.lock, clock=self.clock, retry_seconds=0, wake=self.wake
        )


@pytest.fixture
def running() -> Iterator[Running]:
    harness = Running()
    harness.emulator.start()
    yield harness
    harness.emulator.stop()


def changed(harness: Running) -> None:
    """What the local system does after each api call: the emulator looks at the group again at once."""
    harness.wake.set()


def test_advancing_fires_the_minutes_in_between_in_order_and_time_runs_on_from_there(running: Running) -> None:
    running.group.put("every", "cron(* * * * ? *)")
    running.group.put("hourly", "cron(0 * * * ? *)")
    assert running.emulator.advance_to(at(10, 0), timeout=10)
    assert running.function.fired()[-3:] == [
        ("every", "2026-11-29T09:59:00Z"),
        ("every", "2026-11-29T10:00:00Z"),
        ("hourly", "2026-11-29T10:00:00Z"),
    ]
    assert len(running.function.fired()) == 61
    assert running.emulator.now() == at(10, 0)

    running.clock.now = START + timedelta(seconds=25)  # the machine's clock moves on: so does the emulator's
    assert running.emulator.now() == at(10, 0, 25)
    assert running.emulator.advance_to(at(9, 30), timeout=10), "a time in the past is reached already"
    assert running.emulator.now() == at(10, 0, 25), "time never goes back"
    assert len(running.function.fired()) == 61


def test_a_schedule_made_after_an_advance_starts_from_the_time_it_was_made_there(running: Running) -> None:
    assert running.emulator.advance_to(at(12, 0), timeout=10)
    running.clock.now = START + timedelta(seconds=10)  # 12:00:10 for the emulator
    running.group.put("new", "cron(* * * * ? *)")
    changed(running)
    assert running.emulator.advance_to(at(12, 1), timeout=10)
    assert running.function.fired() == [("new", "2026-11-29T12:01:00Z")]


def test_a_schedule_the_emulator_has_not_seen_yet_fires_the_minutes_up_to_the_new_time(running: Running) -> None:
    running.group.put("unseen", "cron(* * * * ? *)")  # no wake-up: only the advance makes it look
    assert running.emulator.advance_to(at(9, 2), timeout=10)
    assert running.function.fired() == [("unseen", "2026-11-29T09:01:00Z"), ("unseen", "2026-11-29T09:02:00Z")]


def test_a_schedule_disabled_before_an_advance_does_not_fire_in_it(running: Running) -> None:
    running.group.put("running", "cron(* * * * ? *)")
    running.group.put("paused", "cron(* * * * ? *)")
    assert running.emulator.advance_to(at(9, 1), timeout=10)
    running.clock.now = START + timedelta(seconds=1)
    running.group.set_enabled("paused", False)
    changed(running)
    assert running.emulator.advance_to(at(9, 3), timeout=10)
    assert running.function.fired() == [
        ("paused", "2026-11-29T09:01:00Z"),
        ("running", "2026-11-29T09:01:00Z"),
        ("running", "2026-11-29T09:02:00Z"),
        ("running", "2026-11-29T09:03:00Z"),
    ]


def test_without_its_thread_an_advance_times_out() -> None:
    harness = Harness()
    harness.group.put("every", "cron(* * * * ? *)")
    assert not harness.emulator.advance_to(at(9, 1), timeout=0.1)
    assert harness.function.fired() == []


def post(harness: Harness, body: object, path: str = ADVANCE_PATH, method: str = "POST") -> tuple[int, dict[str, str]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = harness.emulator.handle(LocalRequest(method, path, "", {}, data))
    assert response is not None
    return response.status, json.loads(response.body)


def test_the_local_endpoint_advances_and_answers_the_new_time(running: Running) -> None:
    running.group.put("every", "cron(* * * * ? *)")
    assert post(running, {"to": "2026-11-29T10:01:00+01:00"}) == (200, {"now": "2026-11-29T09:01:00+00:00"})
    assert running.function.fired() == [("every", "2026-11-29T09:01:00Z")]


@pytest.mark.parametrize(
    "body",
    [b"not json", [], {}, {"to": 5}, {"to": "tomorrow"}, {"to": "2026-11-29T09:01:00"}],
    ids=["not JSON", "not an object", "no time", "a number", "not a time", "no offset"],
)
def test_the_local_endpoint_refuses_what_is_not_a_time_with_its_offset(running: Running, body: object) -> None:
    status, answer = post(running, body)
    assert status == 422 and answer["error"] == "validation_error"
    assert "ISO 8601 time with its offset" in answer["message"]
    assert running.emulator.now() == START


def test_the_local_endpoint_answers_only_its_own_path_and_method(running: Running) -> None:
    for method, path in (("GET", ADVANCE_PATH), ("POST", "/_local/executions"), ("POST", ADVANCE_PATH + "/x")):
        request = LocalRequest(method, path, "", {}, b'{"to": "2026-11-29T09:01:00Z"}')
        assert running.emulator.handle(request) is None
