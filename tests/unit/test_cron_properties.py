"""Property tests: the EventBridge translation fires exactly when croniter fires the Unix expression.

In UTC the next 500 fire times are equal. In zones with clock changes they differ only as EventBridge
documents: a local time that a spring-forward gap skips does not fire (croniter fires it once at the end of
the gap), and a local time that a fall-back repeats fires once (croniter fires both occurrences).

Generated expressions avoid croniter's own deviations from crontab(5), which the translation does not share:
a one-value range ``a-a`` (croniter reads every value) and what the translation refuses (wrapping ranges,
``N/step`` on day-of-week, a ``*``-led day field next to a restricted one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from workflow_scheduler.domain.triggers.cron.errors import CronError
from workflow_scheduler.domain.triggers.cron.evaluate import next_fire_times
from workflow_scheduler.domain.triggers.cron.eventbridge import LAST_YEAR
from workflow_scheduler.domain.triggers.cron.timezones import clock_changes
from workflow_scheduler.domain.triggers.cron.translate import translate

FIRES = 500
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MACROS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")


# --- generating crontab(5) expressions -------------------------------------------------------------------------


def _written(value: int, names: tuple[str, ...], names_start: int) -> st.SearchStrategy[str]:
    """One way of writing a value: the number, or its name in any case."""
    forms = [st.just(str(value))]
    if names and names_start <= value < names_start + len(names):
        name = names[value - names_start]
        forms.append(st.sampled_from([name, name.lower(), name.capitalize()]))
    return st.one_of(forms)


@st.composite
def _item(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...], names_start: int, n_step: bool) -> str:
    """One list item: a value, a range a-b (a < b: croniter reads a-a as every value), a range with a step,
    or N/step."""
    form = draw(
        st.sampled_from(["value", "range", "range/step", "N/step"] if n_step else ["value", "range", "range/step"])
    )
    first = draw(st.integers(low, high if form in ("value", "N/step") else high - 1))
    text = draw(_written(first, names, names_start))
    if form in ("range", "range/step"):
        last = draw(st.integers(first + 1, high))
        text += "-" + draw(_written(last, names, names_start))
    if form in ("range/step", "N/step"):
        text += f"/{draw(st.integers(1, high - low + 3))}"
    return text


def _field(
    low: int, high: int, names: tuple[str, ...] = (), names_start: int = 0, *, n_step: bool = True, star: bool = True
) -> st.SearchStrategy[str]:
    lists = st.lists(_item(low, high, names, names_start, n_step), min_size=1, max_size=4).map(",".join)
    if not star:
        return lists
    star_steps = st.integers(1, high - low + 5).map(lambda step: f"*/{step}")
    return st.one_of(st.just("*"), star_steps, lists)


def _days_of_month(*, star: bool = True) -> st.SearchStrategy[str]:
    return _field(1, 31, star=star)


def _days_of_week(*, star: bool = True) -> st.SearchStrategy[str]:
    # 0-7 with 0 and 7 Sunday; N/step is refused on day-of-week (crons disagree where it stops)
    return _field(0, 7, WEEKDAYS, 0, n_step=False, star=star)


def _day_fields() -> st.SearchStrategy[tuple[str, str]]:
    """Both '*', one restricted (any form), or both restricted without a leading '*' (split: either matches)."""
    return st.one_of(
        st.just(("*", "*")),
        st.tuples(_days_of_month(), st.just("*")),
        st.tuples(st.just("*"), _days_of_week()),
        st.tuples(_days_of_month(star=False), _days_of_week(star=False)),
    )


@st.composite
def unix_expressions(draw: st.DrawFn, hours: st.SearchStrategy[str] | None = None) -> str:
    """Mostly 5 fields (in ``hours``' hours half the time when given), sometimes a macro."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(MACROS))
    focused = hours is not None and draw(st.booleans())
    hour = draw(hours if hours is not None and focused else _field(0, 23))
    # Clock changes fall on one day a year: name every day and month often, or few changes are met.
    every_day = focused and draw(st.booleans())
    day_of_month, day_of_week = ("*", "*") if every_day else draw(_day_fields())
    month = "*" if every_day else draw(_field(1, 12, MONTHS, 1))
    fields = (draw(_field(0, 59)), hour, day_of_month, month, day_of_week)
    return draw(st.sampled_from([" ", " ", "  ", "\t"])).join(fields)


# Hours around the clock changes of the zones below (00:00 Santiago, 02:00-03:00 most, 02:45 Chatham).
_CHANGE_HOURS = st.sampled_from(["0", "1", "2", "3", "23", "2", "0,2", "1-2", "2,23", "1-3"])


# --- what EventBridge takes ------------------------------------------------------------------------------------

_NUMBERS = r"\d{1,2}(?:-\d{1,2})?(?:,\d{1,2}(?:-\d{1,2})?)*"
_DAYS = r"(?:SUN|MON|TUE|WED|THU|FRI|SAT)"
_DAY_LIST = rf"{_DAYS}(?:-{_DAYS})?(?:,{_DAYS}(?:-{_DAYS})?)*"
_STEPPED = rf"\*|\d{{1,2}}/\d{{1,2}}|{_NUMBERS}"
EVENTBRIDGE_GRAMMAR = re.compile(
    rf"cron\((?P<minutes>{_STEPPED}) (?P<hours>{_STEPPED}) (?P<dom>\?|{_STEPPED}) (?P<month>{_STEPPED}) "
    rf"(?P<dow>\?|{_DAY_LIST}) \*\)"
)
_RANGES = {"minutes": (0, 59), "hours": (0, 23), "dom": (1, 31), "month": (1, 12)}


def assert_eventbridge_accepts(schedule: str) -> None:
    assert len(schedule) <= 256, schedule
    match = EVENTBRIDGE_GRAMMAR.fullmatch(schedule)
    assert match is not None, schedule
    assert (match["dom"] == "?") != (match["dow"] == "?"), schedule
    for name, (low, high) in _RANGES.items():
        for number in re.findall(r"\d+", match[name]):
            assert low <= int(number) <= high or "/" in match[name], (schedule, name)


# --- UTC: equal ------------------------------------------------------------------------------------------------

UTC_STARTS = (
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 11, 29, 9, 17, tzinfo=UTC),
    datetime(2027, 12, 31, 23, 59, tzinfo=UTC),
    datetime(2028, 2, 28, 23, 30, 30, tzinfo=UTC),  # seconds, and a leap day ahead
)


def _translated(expression: str, timezone: str) -> tuple[str, ...]:
    try:
        translation = translate(expression, timezone)
    except CronError as error:
        # A day-of-month that exists in none of the months (30 with FEB): refused, tested in test_cron.py.
        assume(error.field != "day-of-month" or "no such date" not in error.problem)
        raise
    for schedule in translation.schedules:
        assert_eventbridge_accepts(schedule)
    return translation.schedules


def _croniter_times(expression: str, start: datetime, count: int) -> list[datetime]:
    """croniter's next ``count`` times, up to the end of EventBridge's last year (2199), as EventBridge fires."""
    iterator = croniter(expression, start)
    times = []
    while len(times) < count and (time := iterator.get_next(datetime)).year <= LAST_YEAR:
        times.append(time)
    return times


def _utc(times: list[datetime]) -> list[str]:
    return [time.astimezone(UTC).isoformat() for time in times]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=unix_expressions(), start=st.sampled_from(UTC_STARTS))
@example(expression="0 9 1,15 * MON", start=UTC_STARTS[0])  # split: the 1st and 15th, and Mondays
@example(expression="30 4 * * 7", start=UTC_STARTS[0])  # 7 is Sunday
@example(expression="0 0 * * */2", start=UTC_STARTS[0])  # SUN,TUE,THU,SAT
@example(expression="0 0 29 2 *", start=UTC_STARTS[0])  # leap years only
@example(expression="@weekly", start=UTC_STARTS[1])
def test_in_utc_the_translation_fires_exactly_when_croniter_does(expression: str, start: datetime) -> None:
    schedules = _translated(expression, "UTC")
    event(f"{len(schedules)} schedule(s)")

    ours = next_fire_times(schedules, "UTC", start, FIRES)

    assert _utc(ours) == _utc(_croniter_times(expression, start, FIRES))


# --- across clock changes: only the documented differences -----------------------------------------------------

DST_ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Asia/Kolkata",  # no clock changes: must be equal
    "America/Santiago",  # changes at midnight
    "Pacific/Chatham",  # changes at 02:45, offset +12:45/+13:45
    "Australia/Lord_Howe",  # half-hour change
)


def _change_instants(zone: str) -> list[datetime]:
    changes = clock_changes(ZoneInfo(zone), datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
    return [change.at for change in changes] or [datetime(2026, 3, 29, 1, tzinfo=UTC)]


_CHANGES = {zone: _change_instants(zone) for zone in DST_ZONES}


@st.composite
def _starts_before_a_change(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and a start up to three days before one of its clock changes (any time for Asia/Kolkata)."""
    zone = draw(st.sampled_from(DST_ZONES))
    change = draw(st.sampled_from(_CHANGES[zone]))
    minutes_before = draw(st.integers(0, 3 * 24 * 60))
    return zone, (change - timedelta(minutes=minutes_before)).astimezone(ZoneInfo(zone))


def assert_differs_only_as_eventbridge_documents(
    expression: str, zone: ZoneInfo, start: datetime, ours: list[datetime], theirs: list[datetime]
) -> list[str]:
    """Up to where both lists reach: every EventBridge time is croniter's, and croniter's extra times are
    second occurrences of repeated local times or the end of a gap that swallowed a named local time.
    Returns the differences seen."""
    ours_utc = [time.astimezone(UTC) for time in ours]
    theirs_utc = [time.astimezone(UTC) for time in theirs]
    assert ours_utc == sorted(set(ours_utc)), "EventBridge times must be strictly increasing"
    horizon = min(ours_utc[-1], theirs_utc[-1])
    ours_seen = {time for time in ours_utc if time <= horizon}
    theirs_seen = [time for time in theirs_utc if time <= horizon]

    missing = sorted(ours_seen - set(theirs_seen))
    assert not missing, f"EventBridge fires where croniter does not: {[t.isoformat() for t in missing]}"
    differences: list[str] = []
    previous: datetime | None = None
    for time in theirs_seen:
        duplicate = time == previous
        previous = time
        if time in ours_seen and not duplicate:
            continue
        if _is_second_occurrence(time, zone):
            first = time.astimezone(zone).replace(fold=0).astimezone(UTC)
            assert first in ours_seen or first <= start, f"{time.isoformat()}: first occurrence not fired"
            differences.append("croniter fires a repeated local time twice")
        elif _ends_gap_over_named_time(time, zone, expression):
            differences.append("croniter fires a skipped local time at the end of the gap")
        else:
            raise AssertionError(f"croniter fires at {time.astimezone(zone).isoformat()}, EventBridge does not")
    return differences


def _is_second_occurrence(instant: datetime, zone: ZoneInfo) -> bool:
    local = instant.astimezone(zone)
    wall = local.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return first != second and instant == second


def _ends_gap_over_named_time(instant: datetime, zone: ZoneInfo, expression: str) -> bool:
    before = (instant - timedelta(seconds=1)).astimezone(zone).utcoffset()
    after = instant.astimezone(zone).utcoffset()
    assert before is not None and after is not None
    if after <= before:
        return False
    gap_start = (instant + before).replace(tzinfo=None)  # naive local wall times the gap skips
    gap_end = (instant + after).replace(tzinfo=None)
    named = croniter(expression, gap_start - timedelta(minutes=1)).get_next(datetime)  # naive: calendar only
    return bool(named < gap_end)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=unix_expressions(hours=_CHANGE_HOURS), zone_and_start=_starts_before_a_change())
@example(expression="30 2 * * *", zone_and_start=("Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC)))
@example(expression="*/20 1 * * *", zone_and_start=("America/New_York", datetime(2026, 10, 31, tzinfo=UTC)))
def test_across_clock_changes_the_translation_differs_from_croniter_only_as_eventbridge_documents(
    expression: str, zone_and_start: tuple[str, datetime]
) -> None:
    timezone, start = zone_and_start
    zone = ZoneInfo(timezone)
    start = start.astimezone(zone)
    schedules = _translated(expression, timezone)

    ours = next_fire_times(schedules, timezone, start, FIRES)

    theirs = _croniter_times(expression, start, FIRES)
    for difference in set(assert_differs_only_as_eventbridge_documents(expression, zone, start, ours, theirs)):
        event(difference)


# --- the comparison itself refuses other differences -------------------------------------------------------------


def _checker_result(
    expression: str, timezone: str, start: datetime, change: Callable[[list[datetime]], None]
) -> list[str]:
    zone = ZoneInfo(timezone)
    ours = next_fire_times(translate(expression, timezone).schedules, timezone, start, 50)
    theirs = _croniter_times(expression, start.astimezone(zone), 50)
    change(theirs)
    return assert_differs_only_as_eventbridge_documents(expression, zone, start, ours, theirs)


def test_the_comparison_allows_the_documented_differences() -> None:
    spring = _checker_result("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 1, tzinfo=UTC), lambda _: None)
    autumn = _checker_result("30 1 * * *", "America/New_York", datetime(2026, 10, 1, tzinfo=UTC), lambda _: None)

    assert spring == ["croniter fires a skipped local time at the end of the gap"]
    assert autumn == ["croniter fires a repeated local time twice"]


@pytest.mark.parametrize(
    ("timezone", "start", "change"),
    [
        ("Europe/Berlin", datetime(2026, 3, 1, tzinfo=UTC), lambda times: times.pop(3)),  # a missing run
        (
            "Europe/Berlin",
            datetime(2026, 3, 1, tzinfo=UTC),
            lambda times: times.insert(3, times[3] - timedelta(hours=1)),
        ),
        ("America/New_York", datetime(2026, 10, 1, tzinfo=UTC), lambda times: times.insert(5, times[5])),
    ],
)
def test_the_comparison_refuses_any_other_difference(
    timezone: str, start: datetime, change: Callable[[list[datetime]], None]
) -> None:
    with pytest.raises(AssertionError):
        _checker_result("30 2 * * *", timezone, start, change)
