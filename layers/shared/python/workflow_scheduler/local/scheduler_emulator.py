"""EventBridge Scheduler for the local system: moto stores schedules but never fires them, so this thread does.

It reads the schedule group through the Scheduler API (a list every ``refresh_seconds``, or when woken, and a
get for each schedule that is new or was modified), evaluates each enabled schedule with the EventBridge
evaluator (time zone and clock changes as EventBridge handles them), and at each scheduled minute invokes the
target function in-process, under that function's lock, with the schedule's input and its context
attributes filled in (``<aws.scheduler.scheduled-time>`` is the minute in UTC, e.g. ``2026-11-29T09:00:00Z``).

As in AWS, a schedule fires the times its current definition names after it was created, and after its last
change of expression, time zone or state (a resumed schedule does not catch up on the minutes it was paused);
nothing fires from before the emulator started. Each schedule is evaluated on its own, so the two schedules of a
split expression both fire a minute they share: the cron function makes them one execution. Right before a
minute fires the schedule is read again, so a schedule deleted or disabled since the last look never fires. A
function error is logged and the same event is tried once more (Lambda retries failed asynchronous invocations).

Its time may be moved ahead (``advance_to``, ``POST /_local/scheduler/advance`` on the local gateway), so that a
developer or a test sees a minute fire without waiting for it: every schedule that exists then fires the minutes in
between at once, in order (as after a busy spell), and time runs on from there, as far ahead of the machine's clock.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.domain.triggers.cron.errors import CronError
from workflow_scheduler.domain.triggers.cron.evaluate import iter_fire_times
from workflow_scheduler.domain.triggers.cron.schedules import SCHEDULE_ARN, SCHEDULED_TIME
from workflow_scheduler.local.gateway import LocalRequest, LocalResponse, json_response
from workflow_scheduler.local.invoke import LocalContext

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

    from workflow_scheduler.local.gateway import LambdaHandler

EXECUTION_ID = "<aws.scheduler.execution-id>"
ATTEMPT_NUMBER = "<aws.scheduler.attempt-number>"
DEFAULT_MAX_EVENT_AGE_SECONDS = 86400  # the Scheduler API's default RetryPolicy
ADVANCE_PATH = "/_local/scheduler/advance"
ADVANCE_WAIT_SECONDS = 60.0  # the minutes in between fire one by one, each a cron function invocation
_ERROR_PAUSE_SECONDS = 2.0
_TARGET = "scheduler emulator"  # who answered, in the access log

log = logging.getLogger("local.scheduler")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Schedule:
    """What the emulator needs of a ``GetSchedule`` answer."""

    name: str
    arn: str
    expression: str
    timezone: str
    enabled: bool
    target_arn: str
    input: str
    created: datetime
    modified: datetime
    max_event_age: timedelta = timedelta(seconds=DEFAULT_MAX_EVENT_AGE_SECONDS)

    @property
    def timing(self) -> tuple[str, str, bool]:
        """What decides when it fires; a change of anything else (the input) does not restart it."""
        return self.expression, self.timezone, self.enabled


class ScheduleSource(Protocol):
    def modified(self) -> dict[str, datetime]:
        """Every schedule of the group: its name and last modification time."""

    def get(self, name: str) -> Schedule | None:
        """The schedule, or None when it does not exist (any more)."""


class SchedulerApi:
    """The schedules of one group, read through the EventBridge Scheduler API."""

    def __init__(self, client: EventBridgeSchedulerClient, group_name: str) -> None:
        self._client = client
        self._group_name = group_name

    def modified(self) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        for page in self._client.get_paginator("list_schedules").paginate(GroupName=self._group_name):
            for item in page.get("Schedules", []):
                found[item["Name"]] = item["LastModificationDate"]
        return found

    def get(self, name: str) -> Schedule | None:
        try:
            answer = self._client.get_schedule(Name=name, GroupName=self._group_name)
        except self._client.exceptions.ResourceNotFoundException:
            return None
        target = answer["Target"]
        max_age = target.get("RetryPolicy", {}).get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_SECONDS)
        return Schedule(
            name=name,
            arn=answer["Arn"],
            expression=answer["ScheduleExpression"],
            timezone=answer.get("ScheduleExpressionTimezone") or "UTC",
            enabled=answer.get("State") != "DISABLED",
            target_arn=target["Arn"],
            input=target.get("Input", "{}"),
            created=answer["CreationDate"],
            modified=answer["LastModificationDate"],
            max_event_age=timedelta(seconds=max_age),
        )


def scheduled_time_text(minute: datetime) -> str:
    """``<aws.scheduler.scheduled-time>`` as EventBridge fills it in: UTC, to the second, with 'Z'."""
    return minute.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def target_event(schedule: Schedule, minute: datetime) -> Any:
    """The payload EventBridge gives the target for this minute: the input with its context attributes filled in."""
    text = (
        schedule.input.replace(SCHEDULED_TIME, scheduled_time_text(minute))
        .replace(SCHEDULE_ARN, schedule.arn)
        .replace(EXECUTION_ID, str(uuid.uuid4()))
        .replace(ATTEMPT_NUMBER, "1")
    )
    return json.loads(text)


@dataclass
class _Tracked:
    schedule: Schedule
    after: datetime  # fires only at times strictly after this: never a minute twice, never one from before
    due: datetime | None  # its next fire time; None while it is disabled or cannot fire


class SchedulerEmulator:
    def __init__(
        self,
        source: ScheduleSource,
        functions: Mapping[str, LambdaHandler],
        invoke_lock: AbstractContextManager[Any],
        *,
        clock: Callable[[], datetime] = _utcnow,
        refresh_seconds: float = 2.0,
        retry_seconds: float = 1.0,
        wake: threading.Event | None = None,
    ) -> None:
        """``functions``: the handler of each target ARN it may invoke; ``wake``, when set, makes it re-read now."""
        self._source = source
        self._functions = functions
        self._invoke_lock = invoke_lock
        self._clock = clock
        self._refresh = timedelta(seconds=refresh_seconds)
        self._retry_seconds = retry_seconds
        self._wake = wake or threading.Event()
        self._ahead = timedelta(0)  # how far its time runs ahead of the clock (advance_to)
        self._advance_to: datetime | None = None  # asked for, applied by the thread
        self._fired_through: datetime | None = None  # every minute due up to this time has fired
        self._ticked = threading.Condition()
        self._started = clock()
        self._next_refresh = self._started
        self._tracked: dict[str, _Tracked] = {}
        self._warned: set[tuple[str, str]] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scheduler-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the invocation in hand and stop."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def now(self) -> datetime:
        """Its time: the clock's, plus how far ``advance_to`` moved it ahead."""
        return self._clock() + self._ahead

    def advance_to(self, moment: datetime, timeout: float = ADVANCE_WAIT_SECONDS) -> bool:
        """Move its time ahead to ``moment`` (never back) and wait until every minute due by then has fired.

        The running thread does it: it reads the group first, so a schedule made before this call fires the minutes
        in between too. False when that did not happen within ``timeout`` seconds.
        """
        with self._ticked:
            self._advance_to = max(moment, self._advance_to or moment)
            self._wake.set()
            done = self._ticked.wait_for(
                lambda: self._fired_through is not None and self._fired_through >= moment, timeout
            )
        return bool(done)

    def handle(self, request: LocalRequest) -> LocalResponse | None:
        """``POST /_local/scheduler/advance`` with ``{"to": "2026-11-29T09:01:00Z"}``: ``advance_to`` over HTTP."""
        if request.path != ADVANCE_PATH or request.method != "POST":
            return None
        try:
            body = json.loads(request.body or b"")
            moment = datetime.fromisoformat(body["to"]) if isinstance(body, dict) else None
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            moment = None
        if moment is None or moment.tzinfo is None:
            message = 'the body must be {"to": TIME}, an ISO 8601 time with its offset (e.g. 2026-11-29T09:01:00Z)'
            return json_response(
                HTTPStatus.UNPROCESSABLE_ENTITY, {"error": "validation_error", "message": message}, _TARGET
            )
        if not self.advance_to(moment):
            message = (
                f"the minutes up to {scheduled_time_text(moment)} did not fire within {ADVANCE_WAIT_SECONDS:.0f} s"
            )
            return json_response(HTTPStatus.GATEWAY_TIMEOUT, {"error": "timeout", "message": message}, _TARGET)
        return json_response(HTTPStatus.OK, {"now": self.now().isoformat()}, _TARGET)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                seconds = self.tick()
            except (BotoCoreError, ClientError) as exc:
                log.warning("cannot read the schedules: %s", exc)
                seconds = _ERROR_PAUSE_SECONDS
            except Exception:  # a bug here must not silently end local scheduling
                log.exception("the scheduler emulator failed; going on")
                seconds = _ERROR_PAUSE_SECONDS
            if self._wake.wait(seconds):
                self._wake.clear()
                self._next_refresh = self.now()

    def tick(self) -> float:
        """Re-read the schedules when that is due, fire every minute that is due; seconds until there is more to do."""
        self._advance()
        now = self.now()
        if now >= self._next_refresh:
            self.refresh()
            self._next_refresh = now + self._refresh
        self._fire_due(now)
        with self._ticked:
            self._fired_through = now
            self._ticked.notify_all()
        wake_at = min((t.due for t in self._tracked.values() if t.due is not None), default=self._next_refresh)
        return max((min(wake_at, self._next_refresh) - self.now()).total_seconds(), 0.0)

    def _advance(self) -> None:
        """Apply what ``advance_to`` asked for, once the group was read at the time it had until now."""
        with self._ticked:
            moment, self._advance_to = self._advance_to, None
        if moment is None:
            return
        self.refresh()
        self._ahead = max(self._ahead, moment - self._clock())
        self._next_refresh = self.now()

    def refresh(self) -> None:
        """Follow the group: forget deleted schedules, read those that are new or were modified."""
        listed = self._source.modified()
        for name in self._tracked.keys() - listed.keys():
            del self._tracked[name]
        for name, modified in listed.items():
            tracked = self._tracked.get(name)
            if tracked is None or tracked.schedule.modified != modified:
                self._reload(name)

    def _reload(self, name: str) -> _Tracked | None:
        schedule = self._source.get(name)
        if schedule is None:
            self._tracked.pop(name, None)
            return None
        previous = self._tracked.get(name)
        if previous is None:  # the group's times are the clock's; its own runs ahead after advance_to
            after = max(self._started, schedule.created + self._ahead)
        else:
            after = previous.after
            if previous.schedule.timing != schedule.timing:
                after = max(after, schedule.modified + self._ahead)
        tracked = _Tracked(schedule, after, self._next_time(schedule, after))
        self._tracked[name] = tracked
        return tracked

    def _next_time(self, schedule: Schedule, after: datetime) -> datetime | None:
        if not schedule.enabled:
            return None
        if schedule.target_arn not in self._functions:
            self._warn_once(schedule.name, f"its target {schedule.target_arn} is not a local function; not fired")
            return None
        try:
            return next(iter_fire_times([schedule.expression], schedule.timezone, after), None)
        except CronError as exc:
            self._warn_once(schedule.name, f"cannot evaluate it ({exc}); not fired")
            return None

    def _warn_once(self, name: str, problem: str) -> None:
        if (name, problem) not in self._warned:
            self._warned.add((name, problem))
            log.warning("schedule %s: %s", name, problem)

    def _fire_due(self, now: datetime) -> None:
        """Fire what is due at ``now``, earliest first (several minutes of one schedule if the thread fell behind)."""
        while True:
            due = [(t.due, t.schedule.name) for t in self._tracked.values() if t.due is not None and t.due <= now]
            if not due:
                return
            minute, name = min(due)
            current = self._reload(name)  # deleted, disabled or changed since the last look?
            if current is None or current.due != minute:
                continue
            if now - minute > current.schedule.max_event_age:
                log.warning("schedule %s: %s is past its maximum event age; not fired", current.schedule.name, minute)
            else:
                self._invoke(current.schedule, minute)
            current.after = minute
            current.due = self._next_time(current.schedule, minute)

    def _invoke(self, schedule: Schedule, minute: datetime) -> None:
        scheduled = scheduled_time_text(minute)
        try:
            event = target_event(schedule, minute)
        except json.JSONDecodeError as exc:
            log.error("schedule %s at %s: its input is not JSON (%s); not fired", schedule.name, scheduled, exc)
            return
        handler = self._functions[schedule.target_arn]
        function_name = schedule.target_arn.rsplit(":", 1)[-1]
        for attempt in (1, 2):
            with self._invoke_lock:
                try:
                    result = handler(event, LocalContext(function_name=function_name))
                except Exception:
                    log.exception(
                        "schedule %s at %s: %s failed (attempt %d)", schedule.name, scheduled, function_name, attempt
                    )
                else:
                    log.info("schedule %s at %s -> %s: %s", schedule.name, scheduled, function_name, _summary(result))
                    return
            if attempt == 1 and self._stopping.wait(self._retry_seconds):
                return
        log.error(
            "schedule %s at %s: %s failed twice; giving up on this minute", schedule.name, scheduled, function_name
        )


def _summary(result: Any) -> str:
    return json.dumps(result, default=str, sort_keys=True)
