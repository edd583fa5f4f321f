"""EventBridge Scheduler cron expressions: ``cron(minutes hours day-of-month month day-of-week year)``.

Day-of-week is 1-7 = SUN-SAT; exactly one of day-of-month and day-of-week is ``?``; day-of-week takes no ``/``.
This module writes the subset the translation emits and reads that subset back (plus ``*``/``/`` in any field
that allows them and the year field), for the evaluator; ``L``, ``W`` and ``#`` are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from workflow_scheduler.domain.triggers.cron.errors import CronError
from workflow_scheduler.domain.triggers.cron.unix import MONTH_NAMES, WEEKDAY_NAMES

# The Scheduler API takes at most 256 characters for ScheduleExpression.
MAX_EXPRESSION_LENGTH = 256
FIRST_YEAR, LAST_YEAR = 1970, 2199  # the year field's range


@dataclass(frozen=True)
class EventBridgeField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i
    steps_allowed: bool = True


MINUTES = EventBridgeField("minutes", 0, 59)
HOURS = EventBridgeField("hours", 0, 23)
DAY_OF_MONTH = EventBridgeField("day-of-month", 1, 31)
MONTH = EventBridgeField("month", 1, 12, MONTH_NAMES)
DAY_OF_WEEK = EventBridgeField("day-of-week", 1, 7, WEEKDAY_NAMES, steps_allowed=False)
YEAR = EventBridgeField("year", FIRST_YEAR, LAST_YEAR)


def eventbridge_weekday(day: date) -> int:
    """1 for Sunday … 7 for Saturday (``date.weekday()`` is 0 for Monday)."""
    return (day.weekday() + 1) % 7 + 1


@dataclass(frozen=True)
class EventBridgeCron:
    """The values an EventBridge cron expression names; ``None`` for a day field written ``?``.

    ``years`` is ``None`` for ``*``: every year up to EventBridge's last, 2199 (the evaluator stops there).
    """

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # EventBridge numbering: 1 = SUN … 7 = SAT
    years: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if (self.days_of_month is None) == (self.days_of_week is None):
            raise ValueError("exactly one of days_of_month and days_of_week must be None ('?')")

    def matches_day(self, day: date) -> bool:
        """Whether the schedule runs on ``day`` (the year, month and day rule; not the time of day)."""
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        return self.days_of_week is not None and eventbridge_weekday(day) in self.days_of_week

    @property
    def expression(self) -> str:
        day_of_month = "?" if self.days_of_month is None else format_field(self.days_of_month, DAY_OF_MONTH)
        day_of_week = "?" if self.days_of_week is None else format_field(self.days_of_week, DAY_OF_WEEK)
        year = "*" if self.years is None else format_field(self.years, YEAR)
        fields = (
            format_field(self.minutes, MINUTES),
            format_field(self.hours, HOURS),
            day_of_month,
            format_field(self.months, MONTH),
            day_of_week,
            year,
        )
        return f"cron({' '.join(fields)})"


def format_field(values: frozenset[int], field: EventBridgeField) -> str:
    """The shortest exact writing among ``*``, ``first/step`` (running to the field's end) and a list of
    values and ranges; day-of-week with names (``MON-FRI``), since ``/`` is not allowed there."""
    if not values:
        raise ValueError(f"{field.name}: no values to write")
    ordered = sorted(values)
    if ordered[0] < field.low or ordered[-1] > field.high:
        raise ValueError(f"{field.name}: values outside {field.low}-{field.high}")
    if len(ordered) == field.high - field.low + 1:
        return "*"
    candidates = [_as_list(ordered, field)]
    progression = _as_progression(ordered, field)
    if progression is not None:
        candidates.append(progression)
    return min(candidates, key=len)


def _as_list(ordered: list[int], field: EventBridgeField) -> str:
    def label(value: int) -> str:
        return field.names[value - field.low] if field is DAY_OF_WEEK else str(value)

    parts: list[str] = []
    run_start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        if previous - run_start >= 2:
            parts.append(f"{label(run_start)}-{label(previous)}")
        else:
            parts.extend(label(v) for v in range(run_start, previous + 1))
        if value is not None:
            run_start = previous = value
    return ",".join(parts)


def _as_progression(ordered: list[int], field: EventBridgeField) -> str | None:
    """``first/step`` means first, first+step, … up to the field's end: only when that is exactly the set."""
    if not field.steps_allowed or len(ordered) < 3:
        return None
    step = ordered[1] - ordered[0]
    if step < 2 or range(ordered[0], field.high + 1, step) != range(ordered[0], ordered[-1] + 1, step):
        return None
    if ordered != list(range(ordered[0], ordered[-1] + 1, step)):
        return None
    return f"{ordered[0]}/{step}"


_EXPRESSION = re.compile(r"cron\((?P<fields>[^()]*)\)")
_ITEM = re.compile(r"(?:(?P<star>\*)|(?P<first>[0-9A-Z]+)(?:-(?P<last>[0-9A-Z]+))?)(?:/(?P<step>[0-9]+))?")


def parse_eventbridge_cron(expression: str) -> EventBridgeCron:
    """Read an EventBridge cron expression (without ``L``, ``W`` and ``#``); ``CronError`` when it is not one."""
    match = _EXPRESSION.fullmatch(expression.strip())
    if match is None:
        raise CronError("expression", f"{expression!r} is not an EventBridge cron expression 'cron(...)'")
    parts = match.group("fields").split()
    if len(parts) != 6:
        raise CronError("expression", f"{expression!r} has {len(parts)} fields; EventBridge cron takes 6")
    minutes, hours, dom_text, months, dow_text, year_text = parts
    if (dom_text == "?") == (dow_text == "?"):
        raise CronError("expression", f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
    return EventBridgeCron(
        minutes=_parse_field(minutes, MINUTES),
        hours=_parse_field(hours, HOURS),
        days_of_month=None if dom_text == "?" else _parse_field(dom_text, DAY_OF_MONTH),
        months=_parse_field(months, MONTH),
        days_of_week=None if dow_text == "?" else _parse_field(dow_text, DAY_OF_WEEK),
        years=None if year_text == "*" else _parse_field(year_text, YEAR),
    )


def _parse_field(text: str, field: EventBridgeField) -> frozenset[int]:
    values: set[int] = set()
    for item in text.upper().split(","):
        if any(mark in item for mark in "LW#") and not _is_name_item(item, field):
            raise CronError(field.name, f"{item!r}: 'L', 'W' and '#' are not supported by this evaluator")
        match = _ITEM.fullmatch(item)
        if match is None:
            raise CronError(field.name, f"cannot read {item!r}")
        step = 1 if match.group("step") is None else int(match.group("step"))
        if match.group("step") is not None and not field.steps_allowed:
            raise CronError(field.name, f"{item!r}: EventBridge allows no '/' in {field.name}")
        if step == 0:
            raise CronError(field.name, f"{item!r} has step 0")
        if match.group("star"):
            values.update(range(field.low, field.high + 1, step))
            continue
        first = _value(match.group("first"), field)
        if match.group("last") is not None:
            last = _value(match.group("last"), field)
        elif match.group("step") is not None:
            last = field.high  # 'first/step' runs to the field's end
        else:
            last = first
        if first > last:
            raise CronError(field.name, f"range {item!r} runs backwards")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _is_name_item(item: str, field: EventBridgeField) -> bool:
    """Names such as 'JUL' or 'WED' contain L and W: they are not the special characters."""
    return bool(field.names) and all(
        token.isdigit() or token in field.names for token in re.split(r"[-/]", item) if token
    )


def _value(text: str, field: EventBridgeField) -> int:
    if text.isdigit():
        value = int(text)
    elif text in field.names:
        value = field.names.index(text) + field.low
    else:
        raise CronError(field.name, f"cannot read {text!r}")
    if not field.low <= value <= field.high:
        raise CronError(field.name, f"{value} is out of range {field.low}-{field.high}")
    return value
