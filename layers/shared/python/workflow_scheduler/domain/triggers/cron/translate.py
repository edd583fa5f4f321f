"""Unix cron to EventBridge Scheduler cron, exactly: the same minutes, hours, days, months and weekdays.

EventBridge restricts one day field per schedule (the other is ``?``), so a Unix expression restricting both
("either matches") becomes two schedules, one per day field; the evaluator fires a minute both name once.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflow_scheduler.domain.triggers.cron.errors import CronError
from workflow_scheduler.domain.triggers.cron.eventbridge import MAX_EXPRESSION_LENGTH, EventBridgeCron
from workflow_scheduler.domain.triggers.cron.timezones import zone_for
from workflow_scheduler.domain.triggers.cron.unix import (
    LONGEST_MONTH,
    DayRule,
    UnixCron,
    describe_months,
    parse_unix_cron,
)

_EVERY_DAY_OF_MONTH = frozenset(range(1, 32))
_EVERY_WEEKDAY = frozenset(range(1, 8))  # EventBridge numbering


@dataclass(frozen=True)
class Translation:
    """The EventBridge schedules (one, or two for an "either" day rule) that fire exactly when the Unix
    expression does, in ``timezone``; ``warnings`` are things worth telling whoever wrote the expression."""

    schedules: tuple[str, ...]
    timezone: str
    warnings: tuple[str, ...]


def translate(expression: str, timezone: str = "UTC") -> Translation:
    """Translate a 5-field Unix cron expression; ``CronError`` says why when that cannot be done exactly."""
    zone_for(timezone)
    cron = parse_unix_cron(expression)
    schedules = tuple(schedule.expression for schedule in eventbridge_schedules(cron))
    for schedule in schedules:
        # A guard: the longest the formatter can write is about 240 characters.
        if len(schedule) > MAX_EXPRESSION_LENGTH:
            raise CronError(
                "expression",
                f"translates to {schedule!r}, longer than the {MAX_EXPRESSION_LENGTH} characters EventBridge "
                "takes; simplify the lists",
            )
    return Translation(schedules=schedules, timezone=timezone, warnings=tuple(_warnings(cron)))


def eventbridge_schedules(cron: UnixCron) -> tuple[EventBridgeCron, ...]:
    weekdays = frozenset(day + 1 for day in cron.weekdays)  # crontab SUN = 0 -> EventBridge SUN = 1

    def schedule(days_of_month: frozenset[int] | None, days_of_week: frozenset[int] | None) -> EventBridgeCron:
        return EventBridgeCron(
            minutes=cron.minutes,
            hours=cron.hours,
            days_of_month=days_of_month,
            months=cron.months,
            days_of_week=days_of_week,
        )

    every_day = schedule(_EVERY_DAY_OF_MONTH, None)
    if cron.day_rule is DayRule.EVERY_DAY:
        return (every_day,)
    if cron.day_rule is DayRule.DAY_OF_MONTH:
        return (schedule(cron.days_of_month, None),)
    if weekdays == _EVERY_WEEKDAY or (cron.day_rule is DayRule.EITHER and cron.days_of_month == _EVERY_DAY_OF_MONTH):
        return (every_day,)
    if cron.day_rule is DayRule.DAY_OF_WEEK:
        return (schedule(None, weekdays),)
    return (schedule(cron.days_of_month, None), schedule(None, weekdays))


def _warnings(cron: UnixCron) -> list[str]:
    warnings: list[str] = []
    if cron.day_rule in (DayRule.DAY_OF_MONTH, DayRule.EITHER):
        never = sorted(day for day in cron.days_of_month if all(day > LONGEST_MONTH[m] for m in cron.months))
        if never:
            days = ", ".join(str(day) for day in never)
            one = len(never) == 1
            warnings.append(
                f"day-of-month {days} never {'occurs' if one else 'occur'} in {describe_months(cron.months)}: "
                f"{'that day is' if one else 'those days are'} never run"
            )
        possible = {(day, m) for day in cron.days_of_month for m in cron.months if day <= LONGEST_MONTH[m]}
        if cron.day_rule is DayRule.DAY_OF_MONTH and possible == {(29, 2)}:
            warnings.append("the only date named is February 29: this runs in leap years only")
    if cron.day_rule is DayRule.EITHER:
        for name, text, covers_all in (
            ("day-of-week", cron.day_of_week_text, len(cron.weekdays) == 7),
            ("day-of-month", cron.day_of_month_text, cron.days_of_month == _EVERY_DAY_OF_MONTH),
        ):
            if covers_all:
                warnings.append(
                    f"{name} {text!r} names every day, and a day matching either day field runs: this runs every day"
                )
    return warnings
