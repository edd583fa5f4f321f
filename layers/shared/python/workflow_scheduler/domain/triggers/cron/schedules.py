"""EventBridge Scheduler schedules of cron triggers: their names, definitions and the port that manages them."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from workflow_scheduler.domain.errors import RegistrationFailed

MAX_NAME = 64
MAX_INDEX = 9  # one digit: a translation makes at most two schedules
# 64 characters: the readable part, "." and 10 hex digits, "-" and the index.
STEM_READABLE = MAX_NAME - 1 - 10 - 2
MIN_STEM = len("a.b") + 1 + 10  # ids are never empty
_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]+")
# EventBridge Scheduler fills these in at each invocation; the scheduled time is stable across its retries.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
SCHEDULE_ARN = "<aws.scheduler.schedule-arn>"
# How far EventBridge Scheduler's clock (a schedule's LastModificationDate) may be from ours. Lambda and AWS services
# keep time with the Amazon Time Sync Service (well under a second apart); the slack also covers a date rounded
# down to the second. Too small costs one GetSchedule; too large lets a change by hand made within it after a
# deploy's call pass for the deploy's (decisions.md, "What deploys wrote").
CLOCK_SKEW = timedelta(seconds=2)


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    expression: str  # cron(...)
    timezone: str
    enabled: bool
    workflow_id: str
    trigger_id: str
    version: int

    def target_input(self) -> str:
        """The input EventBridge passes to the cron function (context attributes filled in at each run)."""
        return json.dumps(
            {
                "workflow_id": self.workflow_id,
                "trigger_id": self.trigger_id,
                "version": self.version,
                "scheduled_time": SCHEDULED_TIME,
                "schedule_arn": SCHEDULE_ARN,
            },
            sort_keys=True,
        )


def schedule_stem(workflow_id: str, trigger_id: str) -> str:
    """What every schedule name of a trigger starts with: ``<wf>.<trigger>`` made safe and cut to 51 characters,
    then ``.`` and 10 hex digits of a hash of the full ids (unique where ids are long or carry other characters).

    Migration 0008 computes the same in SQL (``cron_schedule_stem``) for reconcile's index: change both or neither.
    """
    digest = hashlib.sha256(f"{workflow_id}\x1f{trigger_id}".encode()).hexdigest()[:10]
    readable = _UNSAFE.sub("_", f"{workflow_id}.{trigger_id}")
    return f"{readable[:STEM_READABLE]}.{digest}"


def schedule_name(workflow_id: str, trigger_id: str, index: int) -> str:
    """Deterministic, at most 64 characters, readable where the ids allow: ``<stem>-<index>``."""
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"a trigger has at most {MAX_INDEX + 1} schedules")
    return f"{schedule_stem(workflow_id, trigger_id)}-{index}"


def schedule_names_of(workflow_id: str, trigger_id: str, count: int) -> list[str]:
    return [schedule_name(workflow_id, trigger_id, i) for i in range(count)]


def stem_of(name: str) -> str | None:
    """The stem a schedule name of ours starts with, or None when the name cannot be one of ours."""
    stem, _, index = name.rpartition("-")
    if len(stem) < MIN_STEM or len(index) != 1 or not index.isdigit():
        return None
    return stem


class ScheduleExists(RegistrationFailed):
    """A create found the name taken: a deploy refuses it (503, like any refused call); reconcile reads what is
    there instead."""


class ListingExpired(Exception):
    """EventBridge Scheduler no longer accepts a listing's next-page token: list the prefix again from the start."""

    def __init__(self, prefix: str) -> None:
        super().__init__(f"the listing of {prefix!r} expired")
        self.prefix = prefix


@dataclass(frozen=True)
class ListedSchedule:
    """What ``ListSchedules`` tells of a schedule (AWS returns no expression, time zone, input or description)."""

    name: str
    state: str | None
    target_arn: str | None
    last_modified: datetime | None


@dataclass(frozen=True)
class ReadSchedule:
    """A schedule as ``GetSchedule`` returned it: whether it is the spec's definition, and when it last changed."""

    in_step: bool
    last_modified: datetime | None


@dataclass(frozen=True)
class ScheduleWrite:
    """A deploy's create or update of a schedule: the definition's hash, and our clock just before and just after
    the call. ``CreateSchedule`` and ``UpdateSchedule`` return no ``LastModificationDate``: the schedule's lies in
    ``[started, ended]``, give or take ``CLOCK_SKEW``."""

    name: str
    workflow_id: str
    trigger_id: str
    definition_hash: str
    started: datetime
    ended: datetime


class ScheduleStore(Protocol):
    """The writes a deploy makes, and the hash of what it writes (kept for reconcile)."""

    def create(self, spec: ScheduleSpec) -> None: ...

    def update(self, spec: ScheduleSpec) -> None:
        """Replace the whole schedule (the API replaces, it does not merge)."""

    def delete(self, name: str) -> None:
        """Delete; a schedule that is already gone is not an error."""

    def definition_hash(self, spec: ScheduleSpec) -> str:
        """A hash of everything the service writes for ``spec`` (target, role and retry policy included)."""


class ScheduleCatalog(ScheduleStore, Protocol):
    """What reconcile needs besides: pages of the group's listing, reads and the definition's hash."""

    def list_page(self, prefix: str, token: str | None) -> tuple[list[ListedSchedule], str | None]:
        """One ``ListSchedules`` page of the names starting with ``prefix``, and the token of the next (None: last)."""

    def read(self, spec: ScheduleSpec) -> ReadSchedule | None:
        """``GetSchedule`` of the spec's name compared with the spec; None when there is no such schedule."""

    def exists(self, name: str) -> bool: ...

    def listed_in_step(self, spec: ScheduleSpec, listed: ListedSchedule) -> bool:
        """Whether what the listing shows (state, target) is what ``spec`` defines; the rest needs a read."""
