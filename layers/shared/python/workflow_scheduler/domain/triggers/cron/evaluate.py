"""When EventBridge Scheduler fires a set of cron schedules in a time zone.

The schedules of one trigger are evaluated together and a minute that several of them name fires once (the
two halves of a split day rule both match some days). Across clock changes, as EventBridge documents: a local
time that a spring-forward gap skips does not fire, and a local time that an autumn fall-back repeats fires
once, at its first occurrence. Nothing fires after EventBridge's last year (2199): every evaluation ends there,
which also bounds its work whatever the expression.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from workflow_scheduler.domain.triggers.cron.eventbridge import LAST_YEAR, EventBridgeCron, parse_eventbridge_cron
from workflow_scheduler.domain.triggers.cron.timezones import zone_for


def next_fire_times(schedules: Sequence[str], timezone: str, start: datetime, count: int) -> list[datetime]:
    """The first ``count`` fire times strictly after ``start``, as aware datetimes in ``timezone``.

    Fewer when the schedules stop (an explicit year list, or EventBridge's last year, 2199). Subtract them after
    ``.astimezone(UTC)``: Python subtracts datetimes of one zone by wall time, blind to a clock change between.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    return list(islice(iter_fire_times(schedules, timezone, start), count))


def iter_fire_times(schedules: Sequence[str], timezone: str, start: datetime) -> Iterator[datetime]:
    """Fire times strictly after ``start`` in order, as aware datetimes in ``timezone`` (lazily, without end)."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if not schedules:
        raise ValueError("no schedules to evaluate")
    zone = zone_for(timezone)
    crons = [parse_eventbridge_cron(schedule) for schedule in schedules]
    return _fire_times(crons, zone, start.astimezone(UTC))  # checked above, not on the first next()


def _fire_times(crons: list[EventBridgeCron], zone: ZoneInfo, start_utc: datetime) -> Iterator[datetime]:
    # Later wall times never map to earlier instants (see _instant), so start at start's own wall minute.
    first_wall = start_utc.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    # Merge in UTC: aware datetimes of one zone compare by wall time, which a fall-back repeats.
    merged = heapq.merge(*(_instants(cron, zone, first_wall) for cron in crons))
    previous: datetime | None = None
    for instant in merged:
        if instant <= start_utc or instant == previous:
            continue
        previous = instant
        yield instant.astimezone(zone)


def matching_wall_times(crons: Iterable[EventBridgeCron], first: datetime, end: datetime) -> list[datetime]:
    """The naive local minutes in ``[first, end)`` that any of ``crons`` names, whether or not they exist."""
    schedules = list(crons)
    found: list[datetime] = []
    minute = first.replace(second=0, microsecond=0)
    if minute < first:
        minute += timedelta(minutes=1)
    while minute < end:
        if any(_names(cron, minute) for cron in schedules):
            found.append(minute)
        minute += timedelta(minutes=1)
    return found


def _names(cron: EventBridgeCron, wall: datetime) -> bool:
    return wall.minute in cron.minutes and wall.hour in cron.hours and cron.matches_day(wall.date())


def _instants(cron: EventBridgeCron, zone: ZoneInfo, first_wall: datetime) -> Iterator[datetime]:
    for wall in _wall_times(cron, first_wall):
        instant = _instant(wall, zone)
        if instant is not None:
            yield instant


def _instant(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant EventBridge fires a named local wall time at, or ``None`` when that time does not exist.

    ``fold=0`` is the first occurrence of a repeated time; a time in a gap does not survive the round trip.
    Together this maps later wall times to later instants, which ``iter_fire_times`` relies on.
    """
    local = wall.replace(tzinfo=zone, fold=0)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


def _wall_times(cron: EventBridgeCron, first: datetime) -> Iterator[datetime]:
    """Naive local wall times the schedule names, from ``first`` on, in order."""
    hours = sorted(cron.hours)
    minutes = sorted(cron.minutes)
    months = sorted(cron.months)
    for year in _years(cron, first.year):
        for month in months:
            if (year, month) < (first.year, first.month):
                continue
            day = date(year, month, 1)
            while day.month == month:
                if day >= first.date() and cron.matches_day(day):
                    for hour in hours:
                        for minute in minutes:
                            wall = datetime(year, month, day.day, hour, minute)
                            if wall >= first:
                                yield wall
                day += timedelta(days=1)


def _years(cron: EventBridgeCron, first_year: int) -> Iterable[int]:
    if cron.years is not None:
        return [year for year in sorted(cron.years) if first_year <= year <= LAST_YEAR]
    return range(first_year, LAST_YEAR + 1)
