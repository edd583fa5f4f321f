"""The local EventBridge Scheduler emulator with a fake schedule group and a fake clock."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from workflow_scheduler.domain.triggers.cron.schedules import ScheduleSpec
from workflow_scheduler.local.scheduler_emulator import Schedule, SchedulerEmulator, target_event

CRON_ARN = "arn:aws:lambda:us-east-1:123456789012:function:workflow-scheduler-cron"
START = datetime(2026, 11, 29, 9, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, hour: int, minute: int, second: float = 0) -> None:
        moment = datetime(2026, 11, 29, hour, minute, tzinfo=UTC) + timedelta(seconds=second)
        assert moment >= self.now, "the clock only moves forward"
        self.now = moment


class FakeGroup:
    """A schedule group as the Scheduler API shows it; writes stamp the clock's time as moto does."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.schedules: dict[str, Schedule] = {}
        self.gets = 0
        self.lists = 0

    def put(
        self,
        name: str,
        expression: str,
        *,
        timezone: str = "UTC",
        enabled: bool = True,
        trigger_id: str = "t",
        version: int = 1,
        target: str = CRON_ARN,
    ) -> None:
        spec = ScheduleSpec(name, expression, timezone, enabled, "wf", trigger_id, version)
        existing = self.schedules.get(name)
        self.schedules[name] = Schedule(
            name=name,
            arn=f"arn:aws:scheduler:us-east-1:123456789012:schedule/workflow-scheduler/{name}",
            expression=expression,
            timezone=timezone,
            enabled=enabled,
            target_arn=target,
            input=spec.target_input(),
            created=existing.created if existing else self.clock(),
            modified=self.clock(),
        )

    def set_enabled(self, name: str, enabled: bool) -> None:
        current = self.schedules[name]
        self.schedules[name] = replace(current, enabled=enabled, modified=self.clock())

    def delete(self, name: str) -> None:
        del self.schedules[name]

    def modified(self) -> dict[str, datetime]:
        self.lists += 1
        return {name: schedule.modified for name, schedule in self.schedules.items()}

    def get(self, name: str) -> Schedule | None:
        self.gets += 1
        return self.schedules.get(name)


class CronFunction:
    """Records the events it is invoked with; raises for the first ``failures`` calls."""

    def __init__(self, lock: threading.Lock, failures: int = 0) -> None:
        self.lock = lock
        self.failures = failures
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert self.lock.locked(), "invoked outside the gateway's invocation lock"
        assert context.function_name == "workflow-scheduler-cron"
        self.events.append(event)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database down")
        return {"status": "queued"}

    def fired(self) -> list[tuple[str, str]]:
        return [(event["schedule_arn"].rsplit("/", 1)[1], event["scheduled_time"]) for event in self.events]


class Harness:
    def __init__(self, failures: int = 0) -> None:
        self.clock = Clock()
        self.group = FakeGroup(self.clock)
        self.lock = threading.Lock()
        self.function = CronFunction(self.lock, failures)
        self.emulator = SchedulerEmulator(
            self.group, {CRON_ARN: self.function}, self.lock, clock=self.clock, retry_seconds=0
        )

    def run_until(self, hour: int, minute: int, second: float = 0) -> list[tuple[str, str]]:
        """Tick every 10 seconds up to the given time; what fired."""
        target = datetime(2026, 11, 29, hour, minute, tzinfo=UTC) + timedelta(seconds=second)
        while self.clock.now < target:
            self.clock.now = min(self.clock.now + timedelta(seconds=10), target)
            self.emulator.tick()
        return self.function.fired()


@pytest.fixture
def harness() -> Harness:
    return Harness()


def test_every_minute_fires_each_minute_once_with_the_input_eventbridge_sends(harness: Harness) -> None:
    harness.group.put("every", "cron(* * * * ? *)")
    harness.clock.at(9, 0, 59)
    harness.emulator.tick()
    assert harness.function.events == []

    harness.clock.at(9, 1)
    harness.emulator.tick()
    harness.emulator.tick()
    assert harness.function.events == [
        {
            "workflow_id": "wf",
            "trigger_id": "t",
            "version": 1,
            "scheduled_time": "2026-11-29T09:01:00Z",
            "schedule_arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/workflow-scheduler/every",
        }
    ]
    assert harness.run_until(9, 3, 30) == [
        ("every", "2026-11-29T09:01:00Z"),
        ("every", "2026-11-29T09:02:00Z"),
        ("every", "2026-11-29T09:03:00Z"),
    ]


def test_it_sleeps_until_the_next_minute_or_the_next_look_at_the_group(harness: Harness) -> None:
    harness.group.put("hourly", "cron(0 * * * ? *)")
    assert harness.emulator.tick() == pytest.approx(2.0)  # the next refresh comes first
    harness.clock.at(9, 59, 59.5)
    assert harness.emulator.tick() == pytest.approx(0.5)


def test_nothing_fires_from_before_the_start_or_before_the_schedule_was_created(harness: Harness) -> None:
    harness.clock.now = START - timedelta(hours=2)
    harness.group.put("old", "cron(* * * * ? *)")  # created long before the emulator started
    harness.clock.now = START
    harness.emulator = SchedulerEmulator(harness.group, {CRON_ARN: harness.function}, harness.lock, clock=harness.clock)
    harness.run_until(9, 1, 40)
    harness.group.put("new", "cron(* * * * ? *)")  # created at 09:01:40: its first minute is 09:02
    assert harness.run_until(9, 2, 30) == [
        ("old", "2026-11-29T09:01:00Z"),
        ("new", "2026-11-29T09:02:00Z"),
        ("old", "2026-11-29T09:02:00Z"),
    ]


def test_a_disabled_schedule_never_fires_and_a_resumed_one_does_not_catch_up(harness: Harness) -> None:
    harness.group.put("off", "cron(* * * * ? *)", enabled=False)
    harness.group.put("paused", "cron(* * * * ? *)")
    harness.run_until(9, 1, 30)
    harness.group.set_enabled("paused", False)
    harness.run_until(9, 3, 30)
    harness.group.set_enabled("paused", True)
    assert harness.run_until(9, 5, 30) == [
        ("paused", "2026-11-29T09:01:00Z"),
        ("paused", "2026-11-29T09:04:00Z"),
        ("paused", "2026-11-29T09:05:00Z"),
    ]


def test_it_reads_a_schedule_again_before_firing_it(harness: Harness) -> None:
    harness.group.put("paused", "cron(* * * * ? *)")
    harness.group.put("deleted", "cron(* * * * ? *)")
    harness.emulator = SchedulerEmulator(
        harness.group, {CRON_ARN: harness.function}, harness.lock, clock=harness.clock, refresh_seconds=3600
    )
    harness.emulator.tick()
    # Changed after the last look and before the minute: neither fires, and nothing waits for the next refresh.
    harness.group.set_enabled("paused", False)
    harness.group.delete("deleted")
    harness.clock.at(9, 1)
    harness.emulator.tick()
    assert harness.function.events == []
    assert harness.group.lists == 1, "the due minute was checked with a get, not a new listing"


def test_a_time_zone_is_respected_and_a_clock_change_is_handled_as_eventbridge_does(harness: Harness) -> None:
    harness.group.put("new-york", "cron(0 9 * * ? *)", timezone="America/New_York")
    harness.group.put("utc", "cron(0 9 * * ? *)")
    assert harness.run_until(14, 0, 5) == [
        ("new-york", "2026-11-29T14:00:00Z"),  # 09:00 EST
    ]

    late = Harness()
    late.clock.now = datetime(2027, 3, 27, 23, 0, tzinfo=UTC)
    late.emulator = SchedulerEmulator(late.group, {CRON_ARN: late.function}, late.lock, clock=late.clock)
    late.group.put("gap", "cron(30 2 * * ? *)", timezone="Europe/Berlin")  # 02:30 does not exist on 2027-03-28
    while late.clock.now < datetime(2027, 3, 29, 1, 0, tzinfo=UTC):
        late.clock.now += timedelta(minutes=1)
        late.emulator.tick()
    assert late.function.fired() == [("gap", "2027-03-29T00:30:00Z")]


def test_both_schedules_of_a_split_expression_fire_a_minute_they_share(harness: Harness) -> None:
    # "0 12 29 * SUN" is two schedules; 2026-11-29 is the 29th and a Sunday.
    harness.group.put("split-0", "cron(0 12 29 * ? *)")
    harness.group.put("split-1", "cron(0 12 ? * SUN *)")
    fired = harness.run_until(12, 0, 5)
    assert sorted(fired) == [("split-0", "2026-11-29T12:00:00Z"), ("split-1", "2026-11-29T12:00:00Z")]
    assert {event["trigger_id"] for event in harness.function.events} == {"t"}  # the cron function dedupes


def test_minutes_missed_while_it_was_busy_fire_in_order_once_each(harness: Harness) -> None:
    harness.group.put("every", "cron(* * * * ? *)")
    harness.emulator.tick()
    harness.clock.at(9, 3, 20)
    harness.emulator.tick()
    harness.emulator.tick()
    assert harness.function.fired() == [
        ("every", "2026-11-29T09:01:00Z"),
        ("every", "2026-11-29T09:02:00Z"),
        ("every", "2026-11-29T09:03:00Z"),
    ]


def test_a_minute_older_than_the_maximum_event_age_is_dropped(harness: Harness) -> None:
    harness.group.put("every", "cron(* * * * ? *)")
    harness.group.schedules["every"] = replace(harness.group.schedules["every"], max_event_age=timedelta(seconds=90))
    harness.emulator.tick()
    harness.clock.at(9, 3, 20)  # 09:01 is 140 s old, 09:02 80 s
    harness.emulator.tick()
    assert harness.function.fired() == [("every", "2026-11-29T09:02:00Z"), ("every", "2026-11-29T09:03:00Z")]


def test_a_change_of_input_keeps_the_minute_and_a_change_of_expression_restarts_from_it(harness: Harness) -> None:
    harness.group.put("a", "cron(* * * * ? *)")
    harness.group.put("b", "cron(* * * * ? *)")
    harness.emulator.tick()
    harness.clock.at(9, 0, 59.5)
    harness.emulator.tick()
    harness.group.put("a", "cron(* * * * ? *)", version=2)  # a new deployment version, same timing
    harness.group.put("b", "cron(*/2 * * * ? *)")
    harness.clock.at(9, 1)
    harness.emulator.tick()
    assert harness.function.fired() == [("a", "2026-11-29T09:01:00Z")]
    assert harness.function.events[0]["version"] == 2
    assert harness.run_until(9, 2, 5) == [
        ("a", "2026-11-29T09:01:00Z"),
        ("a", "2026-11-29T09:02:00Z"),
        ("b", "2026-11-29T09:02:00Z"),
    ]


def test_a_failed_invocation_is_retried_once_with_the_same_scheduled_time() -> None:
    harness = Harness(failures=3)
    harness.group.put("every", "cron(* * * * ? *)")
    harness.run_until(9, 3, 5)
    # 09:01 fails, is retried and fails again (given up); 09:02 fails once and its retry succeeds; 09:03 succeeds.
    assert harness.function.fired() == [
        ("every", "2026-11-29T09:01:00Z"),
        ("every", "2026-11-29T09:01:00Z"),
        ("every", "2026-11-29T09:02:00Z"),
        ("every", "2026-11-29T09:02:00Z"),
        ("every", "2026-11-29T09:03:00Z"),
    ]


def test_schedules_it_cannot_run_are_skipped_with_one_warning(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.group.put("elsewhere", "cron(* * * * ? *)", target="arn:aws:lambda:us-east-1:123456789012:function:other")
    harness.group.put("rate", "rate(5 minutes)")
    harness.group.put("every", "cron(* * * * ? *)")
    assert harness.run_until(9, 2, 30) == [("every", "2026-11-29T09:01:00Z"), ("every", "2026-11-29T09:02:00Z")]
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 2, warnings
    assert any("elsewhere" in w and "not a local function" in w for w in warnings)
    assert any("rate" in w and "cannot evaluate" in w for w in warnings)


def test_context_attributes_are_filled_in_like_eventbridge_does() -> None:
    template = {
        "time": "<aws.scheduler.scheduled-time>",
        "arn": "<aws.scheduler.schedule-arn>",
        "id": "<aws.scheduler.execution-id>",
        "attempt": "<aws.scheduler.attempt-number>",
    }
    schedule = Schedule(
        name="s",
        arn="arn:aws:scheduler:us-east-1:123456789012:schedule/g/s",
        expression="cron(0 9 * * ? *)",
        timezone="Asia/Tokyo",
        enabled=True,
        target_arn=CRON_ARN,
        input=json.dumps(template),
        created=START,
        modified=START,
    )
    event = target_event(schedule, datetime(2026, 11, 29, 18, 0, tzinfo=ZoneInfo("Asia/Tokyo")))
    assert event["time"] == "2026-11-29T09:00:00Z"
    assert event["arn"] == schedule.arn and event["attempt"] == "1" and len(event["id"]) == 36


def test_the_thread_wakes_up_to_look_again_and_stops_promptly() -> None:
    harness = Harness()
    wake = threading.Event()
    emulator = SchedulerEmulator(harness.group, {}, harness.lock, refresh_seconds=60, wake=wake)
    emulator.start()
    try:
        deadline = time.monotonic() + 5
        while harness.group.lists < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        wake.set()
        while harness.group.lists < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert harness.group.lists == 2
    finally:
        started = time.monotonic()
        emulator.stop()
        assert time.monotonic() - started < 1
