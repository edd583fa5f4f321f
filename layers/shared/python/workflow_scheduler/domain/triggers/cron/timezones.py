"""IANA time zones as EventBridge Scheduler takes them, and the clock changes within a period."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflow_scheduler.domain.triggers.cron.errors import CronError

# The Scheduler API takes at most 50 characters for ScheduleExpressionTimezone.
MAX_TIMEZONE_LENGTH = 50
_IANA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}")
# Files some systems keep next to the zones: loadable by zoneinfo, but not zone names.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_ZONE_PREFIXES = ("posix/", "right/")


@cache
def zone_for(name: str) -> ZoneInfo:
    """The zone called ``name``; ``CronError`` when it is not an IANA time zone name."""
    if (
        len(name) > MAX_TIMEZONE_LENGTH
        or not _IANA_NAME.fullmatch(name)
        or name in _NOT_ZONES
        or name.startswith(_NOT_ZONE_PREFIXES)
    ):
        raise CronError("timezone", f"{name!r} is not an IANA time zone name; use one such as 'Europe/Berlin'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError("timezone", f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin'") from exc


@dataclass(frozen=True)
class ClockChange:
    """The instant a zone's UTC offset changes, with the offsets on either side.

    Forward (``after > before``): local times from ``wall_before`` up to ``wall_after`` do not exist that day.
    Backward: local times from ``wall_after`` up to ``wall_before`` happen twice.
    """

    at: datetime  # UTC: the first instant with the new offset
    before: timedelta
    after: timedelta

    @property
    def forward(self) -> bool:
        return self.after > self.before

    @property
    def wall_before(self) -> datetime:
        """Naive local wall time the clocks show when they change, read with the old offset (02:00 in spring)."""
        return (self.at + self.before).replace(tzinfo=None)

    @property
    def wall_after(self) -> datetime:
        """Naive local wall time the clocks show right after the change (03:00 in spring)."""
        return (self.at + self.after).replace(tzinfo=None)


_SCAN_STEP_SECONDS = 3600  # no zone changes its offset twice within an hour


def clock_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[ClockChange]:
    """Every offset change of ``zone`` in ``(start, end]``, found to the second by scanning and bisecting.

    The scan covers whole hours and is remembered per zone and hour span: a deploy previews every cron trigger
    of a workflow (up to the trigger cap) with the same zone and window, and a year's scan costs ~9,000 probes.
    """
    first, last = int(start.timestamp()), int(end.timestamp())
    hour = _SCAN_STEP_SECONDS
    span = _changes_between(zone, first // hour * hour, -(-last // hour) * hour)
    return [change for change in span if first < change.at.timestamp() <= last]


@lru_cache(maxsize=64)
def _changes_between(zone: ZoneInfo, cursor: int, stop: int) -> tuple[ClockChange, ...]:
    changes: list[ClockChange] = []
    offset = _offset(zone, cursor)
    while cursor < stop:
        probe = min(cursor + _SCAN_STEP_SECONDS, stop)
        probe_offset = _offset(zone, probe)
        if probe_offset != offset:
            old_side, new_side = cursor, probe
            while new_side - old_side > 1:
                middle = (old_side + new_side) // 2
                if _offset(zone, middle) == offset:
                    old_side = middle
                else:
                    new_side = middle
            changes.append(ClockChange(at=datetime.fromtimestamp(new_side, UTC), before=offset, after=probe_offset))
            offset = probe_offset
        cursor = probe
    return tuple(changes)


def _offset(zone: ZoneInfo, epoch_seconds: int) -> timedelta:
    offset = datetime.fromtimestamp(epoch_seconds, zone).utcoffset()
    if offset is None:  # never for an aware datetime in a ZoneInfo
        raise ValueError(f"time zone {zone.key!r} gives no UTC offset")
    return offset
