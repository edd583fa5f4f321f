"""Previews: the next runs as EventBridge will fire them, and, told in advance, every clock change within the
next 12 months that skips or merges a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from workflow_scheduler.domain.triggers.cron.evaluate import matching_wall_times, next_fire_times
from workflow_scheduler.domain.triggers.cron.eventbridge import LAST_YEAR, EventBridgeCron, parse_eventbridge_cron
from workflow_scheduler.domain.triggers.cron.timezones import ClockChange, clock_changes, zone_for
from workflow_scheduler.domain.triggers.cron.translate import Translation, translate

MAX_PREVIEW_COUNT = 1000
DEPLOY_PREVIEW_COUNT = 5
WARNING_MONTHS = 12
_LISTED_TIMES = 5  # beyond this many, a warning gives the first and last time and the count


@dataclass(frozen=True)
class Preview:
    runs: list[datetime]  # aware, in the trigger's time zone
    warnings: list[str]

    def as_dict(self) -> dict[str, list[str]]:
        return {"runs": [run.isoformat() for run in self.runs], "warnings": list(self.warnings)}


def preview(expression: str, timezone: str, count: int, now: datetime) -> Preview:
    """The next ``count`` runs after ``now`` and the warnings: the translation's, each clock change in the
    next 12 months that affects a run, then, when fewer than ``count`` runs remain before EventBridge's last
    year, a sentence saying so. ``CronError`` when the expression or time zone is refused."""
    if not 1 <= count <= MAX_PREVIEW_COUNT:
        raise ValueError(f"count must be between 1 and {MAX_PREVIEW_COUNT}")
    translation = translate(expression, timezone)
    runs = next_fire_times(translation.schedules, timezone, now, count)
    warnings = [*translation.warnings, *clock_change_warnings(translation, now)]
    if len(runs) < count:
        warnings.append(_ends_early(len(runs), count))
    return Preview(runs=runs, warnings=warnings)


def _ends_early(found: int, count: int) -> str:
    runs = "no run" if found == 0 else "1 run" if found == 1 else f"{found} runs"
    return (
        f"the preview ends early: {runs} of the {count} asked for; EventBridge Scheduler schedules nothing after "
        f"{LAST_YEAR}, the last year its cron expressions accept"
    )


def deploy_preview(expression: str, timezone: str, now: datetime) -> dict[str, list[str]]:
    """The deploy response's fields for one cron trigger: ``next_run_times`` (ISO 8601 with offset) and
    ``warnings``."""
    result = preview(expression, timezone, DEPLOY_PREVIEW_COUNT, now)
    return {"next_run_times": [run.isoformat() for run in result.runs], "warnings": result.warnings}


def clock_change_warnings(translation: Translation, now: datetime, months: int = WARNING_MONTHS) -> list[str]:
    """One sentence per clock change in ``(now, now + months]`` that skips runs (spring forward: EventBridge
    does not fire a time that does not exist) or repeats them (fall back: EventBridge fires once)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    zone = zone_for(translation.timezone)
    crons = [parse_eventbridge_cron(schedule) for schedule in translation.schedules]
    warnings: list[str] = []
    for change in clock_changes(zone, now, _add_months(now, months)):
        sentence = _warning(change, crons, zone, translation.timezone)
        if sentence is not None:
            warnings.append(sentence)
    return warnings


def _warning(change: ClockChange, crons: Sequence[EventBridgeCron], zone: ZoneInfo, timezone: str) -> str | None:
    if change.forward:
        skipped = matching_wall_times(crons, change.wall_before, change.wall_after)
        if not skipped:
            return None
        return (
            f"{_day(skipped[0])}: clocks in {timezone} go forward from {_clock(change.wall_before)} to "
            f"{_clock(change.wall_after)}, so local times {_span(change.wall_before, change.wall_after)} do not "
            f"exist that day; EventBridge skips {_runs(skipped)}"
        )
    repeated = matching_wall_times(crons, change.wall_after, change.wall_before)
    if not repeated:
        return None
    first = repeated[0].replace(tzinfo=zone, fold=0)
    second = repeated[0].replace(tzinfo=zone, fold=1)
    each = "" if len(repeated) == 1 else " each"
    return (
        f"{_day(repeated[0])}: clocks in {timezone} go back from {_clock(change.wall_before)} to "
        f"{_clock(change.wall_after)}, so local times {_span(change.wall_after, change.wall_before)} happen "
        f"twice; EventBridge fires {_runs(repeated)} once{each}, at the first occurrence ({_offset(first)}), "
        f"not again at {_offset(second)}"
    )


def _span(first: datetime, end: datetime) -> str:
    """'02:00-02:59' for the minutes from ``first`` up to, not including, ``end``."""
    return f"{_clock(first)}-{_clock(end - timedelta(minutes=1))}"


def _runs(walls: list[datetime]) -> str:
    if len(walls) == 1:
        return f"the run at {_clock(walls[0])}"
    if len(walls) <= _LISTED_TIMES:
        listed = [_clock(wall) for wall in walls]
        return "the runs at " + ", ".join(listed[:-1]) + " and " + listed[-1]
    return f"the {len(walls)} runs from {_clock(walls[0])} to {_clock(walls[-1])}"


def _day(wall: datetime) -> str:
    return wall.strftime("%A %Y-%m-%d")


def _clock(wall: datetime) -> str:
    return wall.strftime("%H:%M")


def _offset(local: datetime) -> str:
    offset = local.strftime("%z")  # +0200
    label = f"UTC{offset[:3]}:{offset[3:]}"
    name = local.tzname()
    # Zones without an abbreviation of their own name their offsets like '-03': say it once.
    return label if name is None or name.startswith(("+", "-")) else f"{name}, {label}"


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in range(moment.day, 0, -1):  # the 31st of a shorter month becomes its last day
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has a 28th")
