"""Parsing 5-field Unix cron as crontab(5) of ISC/Vixie cron defines it, refusing what it cannot pin down.

The result is the sets of minutes, hours, days of month, months and weekdays named, plus which day fields
restrict: crontab(5) runs on a day when the day-of-month *or* the day-of-week matches if both are restricted,
and on the restricted one alone otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from workflow_scheduler.domain.triggers.cron.errors import CronError

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # crontab numbering: SUN = 0 (and 7)
# The longest each month ever gets: February 29 exists in leap years.
LONGEST_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_FIELD_ORDER = "minute hour day-of-month month day-of-week"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i
    names_start: int = 0

    def value_of_name(self, name: str) -> int | None:
        return self.names.index(name) + self.names_start if name in self.names else None


MINUTE = FieldSpec("minute", 0, 59)
HOUR = FieldSpec("hour", 0, 23)
DAY_OF_MONTH = FieldSpec("day-of-month", 1, 31)
MONTH = FieldSpec("month", 1, 12, MONTH_NAMES, names_start=1)
DAY_OF_WEEK = FieldSpec("day-of-week", 0, 7, WEEKDAY_NAMES, names_start=0)  # 7 is Sunday again
FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)


class DayRule(StrEnum):
    EVERY_DAY = "every_day"  # both day fields are '*'
    DAY_OF_MONTH = "day_of_month"  # only the day-of-month restricts
    DAY_OF_WEEK = "day_of_week"  # only the day-of-week restricts
    EITHER = "either"  # both restrict: a day matching either runs


@dataclass(frozen=True)
class UnixCron:
    """What a crontab(5) expression names. Weekdays use crontab numbering 0-6 (Sunday 0; a written 7 is 0)."""

    expression: str  # as written (a macro stays a macro), whitespace normalized
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_rule: DayRule
    day_of_month_text: str
    day_of_week_text: str


# item := '*' ['/' step] | value ['-' value] ['/' step]; values are numbers or (month, weekday) names
_ITEM = re.compile(r"(?:(?P<star>\*)|(?P<first>[0-9A-Z]+)(?:-(?P<last>[0-9A-Z]+))?)(?:/(?P<step>[0-9]+))?")
_LAST_PART = re.compile(r"L|LW|[0-9]+L")
_NEAREST_WEEKDAY_PART = re.compile(r"W|[0-9]+W")


def parse_unix_cron(expression: str) -> UnixCron:
    """Parse ``expression``; ``CronError`` naming the field and the problem when it cannot be honoured exactly."""
    text = " ".join(expression.split())
    if not text:
        raise CronError("expression", f"is empty; write 5 fields: {_FIELD_ORDER}")
    if text.startswith("@"):
        return _parse_macro(text)
    if re.match(r"(?i)(cron|rate|at)\(", text):
        raise CronError(
            "expression",
            f"{text!r} looks like an EventBridge expression; write 5-field Unix cron ({_FIELD_ORDER}), "
            "for example '0 9 * * 1-5'",
        )
    parts = text.split(" ")
    if len(parts) == 6:
        raise CronError(
            "expression",
            f"has 6 fields; seconds and year fields are not supported: write 5 fields ({_FIELD_ORDER})",
        )
    if len(parts) == 7:
        raise CronError(
            "expression",
            f"has 7 fields; seconds and year fields are not supported: write 5 fields ({_FIELD_ORDER})",
        )
    if len(parts) != 5:
        raise CronError("expression", f"has {len(parts)} field(s); write 5 fields ({_FIELD_ORDER})")

    minutes, hours, days_of_month, months, weekdays = (
        _parse_field(part, spec) for part, spec in zip(parts, FIELDS, strict=True)
    )
    dom_text, dow_text = parts[2], parts[4]
    day_rule = _day_rule(dom_text, dow_text)
    if day_rule in (DayRule.DAY_OF_MONTH, DayRule.EITHER):
        _check_dates_exist(days_of_month, months, dom_text)
    return UnixCron(
        expression=text,
        minutes=minutes,
        hours=hours,
        days_of_month=days_of_month,
        months=months,
        weekdays=frozenset(0 if day == 7 else day for day in weekdays),
        day_rule=day_rule,
        day_of_month_text=dom_text,
        day_of_week_text=dow_text,
    )


def _parse_macro(text: str) -> UnixCron:
    macro = text.lower()
    if macro == "@reboot":
        raise CronError("expression", "'@reboot' runs when a machine starts; a hosted scheduler has no such moment")
    if macro not in MACROS:
        known = " ".join(MACROS)
        raise CronError("expression", f"unknown macro {text!r}; the macros are {known}")
    return replace(parse_unix_cron(MACROS[macro]), expression=text)


def _day_rule(dom_text: str, dow_text: str) -> DayRule:
    dom_restricted, dow_restricted = dom_text != "*", dow_text != "*"
    if dom_restricted and dow_restricted:
        # ISC cron (and cronie) decide "both must match" by a leading '*' (so '*/2' next to 'MON' means odd days
        # that are Mondays); croniter and many libraries read it as "either matches". Nothing exact to do.
        for name, written, other_name, other in (
            ("day-of-month", dom_text, "day-of-week", dow_text),
            ("day-of-week", dow_text, "day-of-month", dom_text),
        ):
            if written.startswith("*"):
                raise CronError(
                    name,
                    f"{written!r} starts with '*' while {other_name} {other!r} is restricted: a day must then match "
                    "both fields in ISC cron but either field in others (croniter, for one); write "
                    f"{name} without '*' (for example a range with a step) to mean either, or set {other_name} "
                    "to '*'",
                )
        return DayRule.EITHER
    if dom_restricted:
        return DayRule.DAY_OF_MONTH
    if dow_restricted:
        return DayRule.DAY_OF_WEEK
    return DayRule.EVERY_DAY


def _check_dates_exist(days_of_month: frozenset[int], months: frozenset[int], dom_text: str) -> None:
    if any(day <= LONGEST_MONTH[month] for day in days_of_month for month in months):
        return
    raise CronError(
        "day-of-month",
        f"{dom_text!r} never falls in {describe_months(months)}: no such date exists, so this would never run",
    )


def describe_months(months: frozenset[int]) -> str:
    names = [_MONTH_FULL_NAMES[month - 1] for month in sorted(months)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


_MONTH_FULL_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _parse_field(text: str, spec: FieldSpec) -> frozenset[int]:
    upper = text.upper()
    items = upper.split(",")
    values: set[int] = set()
    for item in items:
        if not item:
            raise CronError(spec.name, f"{text!r} has an empty list item")
        _refuse_foreign_syntax(item, spec)
        match = _ITEM.fullmatch(item)
        if match is None:
            raise CronError(
                spec.name, f"cannot read {item!r}; write numbers, ranges (a-b), steps (*/n, a-b/n) or lists"
            )
        values.update(_item_values(match, item, spec, in_list=len(items) > 1))
    return frozenset(values)


def _refuse_foreign_syntax(item: str, spec: FieldSpec) -> None:
    """Name the cron dialect a piece of syntax comes from: more useful than "cannot read"."""
    foreign: tuple[str, str] | None = None
    if "?" in item:
        foreign = "?", "\"no specific value\" in Quartz and EventBridge; write '*'"
    elif "#" in item:
        foreign = "#", '"n-th weekday of the month" in Quartz and EventBridge'
    elif "~" in item:
        foreign = "~", "a random value in OpenBSD cron"
    for part in re.split(r"[-/]", item):
        if foreign is not None:
            break
        if _LAST_PART.fullmatch(part):
            foreign = "L", '"last" in Quartz and EventBridge'
        elif _NEAREST_WEEKDAY_PART.fullmatch(part):
            foreign = "W", '"nearest weekday" in Quartz and EventBridge'
        elif part == "H" or part.startswith("H("):
            foreign = "H", "a hashed value in Jenkins"
        elif part == "R":
            foreign = "R", "a random value in some schedulers"
    if foreign is not None:
        mark, meaning = foreign
        where = "" if item == mark else f" in {item!r}"
        raise CronError(spec.name, f"'{mark}'{where} is not crontab(5) syntax ({meaning})")


def _item_values(match: re.Match[str], item: str, spec: FieldSpec, *, in_list: bool) -> range:
    step = _step(match.group("step"), item, spec)
    if match.group("star"):
        if in_list:
            # Harmless in most fields, but in a day field it changes the day rule in some crons: keep it simple.
            raise CronError(spec.name, f"'{item}' inside a list; write '*' or '*/n' alone, or list the values")
        return range(spec.low, spec.high + 1, step)
    first = _value(match.group("first"), spec)
    last_text = match.group("last")
    if last_text is None:
        if match.group("step") is None:
            return range(first, first + 1)
        if spec is DAY_OF_WEEK:
            # cronie reads 'N/step' as N-7/step (7 is Sunday again), croniter as N-6/step: they differ.
            raise CronError(
                spec.name,
                f"{item!r} is ambiguous: some crons step up to 6 (Saturday), others up to 7 (Sunday); write a "
                "range such as 1-5/2, or list the days",
            )
        # 'N/step' is not ISC syntax; every cron that takes it (cronie, croniter, Quartz, EventBridge) means
        # N-<last value>/step.
        return range(first, spec.high + 1, step)
    last = _value(last_text, spec)
    if first > last:
        # ISC cron refuses reversed ranges while croniter and others wrap around: ambiguous.
        raise CronError(
            spec.name,
            f"range {item!r} runs backwards ({first} > {last}); wrapping ranges mean different things in "
            "different crons: write it as a list, for example "
            f"{_wrap_example(first, last, spec)}",
        )
    return range(first, last + 1, step)


def _wrap_example(first: int, last: int, spec: FieldSpec) -> str:
    high = 6 if spec is DAY_OF_WEEK else spec.high
    low = 0 if spec is DAY_OF_WEEK else spec.low
    head = f"{first}-{high}" if first < high else f"{first}"
    tail = f"{low}-{last}" if low < last else f"{low}"
    return f"'{head},{tail}'"


def _step(text: str | None, item: str, spec: FieldSpec) -> int:
    if text is None:
        return 1
    step = int(text)
    if step == 0:
        raise CronError(spec.name, f"{item!r} has step 0; a step must be 1 or more")
    return step


def _value(text: str, spec: FieldSpec) -> int:
    if text.isdigit():
        value = int(text)
        if not spec.low <= value <= spec.high:
            raise CronError(spec.name, f"{value} is out of range {spec.low}-{spec.high}")
        return value
    if not spec.names:
        raise CronError(spec.name, f"{text!r} is not a number; names are allowed only for months and weekdays")
    named = spec.value_of_name(text)
    if named is None:
        raise CronError(spec.name, f"unknown name {text!r}; use {spec.names[0]}-{spec.names[-1]} or numbers")
    return named
