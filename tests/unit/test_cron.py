"""Unit tests of the cron package: what is refused and why, translations, the evaluator across clock changes,
previews and their clock-change warnings. The property tests are in test_cron_properties.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow_scheduler.domain.triggers.cron.errors import CronError
from workflow_scheduler.domain.triggers.cron.evaluate import iter_fire_times, next_fire_times
from workflow_scheduler.domain.triggers.cron.eventbridge import EventBridgeCron, parse_eventbridge_cron
from workflow_scheduler.domain.triggers.cron.preview import clock_change_warnings, deploy_preview, preview
from workflow_scheduler.domain.triggers.cron.timezones import clock_changes
from workflow_scheduler.domain.triggers.cron.translate import translate
from workflow_scheduler.domain.triggers.cron.unix import DayRule, parse_unix_cron

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def schedules(expression: str) -> tuple[str, ...]:
    return translate(expression).schedules


def local(times: list[datetime]) -> list[str]:
    return [time.isoformat() for time in times]


# --- refused, with the field and the reason -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "field", "reason"),
    [
        ("", "expression", "is empty"),
        ("* * * *", "expression", "has 4 field(s)"),
        ("0 0 9 * * *", "expression", "has 6 fields; seconds and year fields are not supported"),
        ("0 0 9 * * ? 2027", "expression", "has 7 fields; seconds and year fields are not supported"),
        ("@reboot", "expression", "'@reboot' runs when a machine starts"),
        ("@every_5m", "expression", "unknown macro '@every_5m'"),
        ("cron(0 9 * * ? *)", "expression", "looks like an EventBridge expression"),
        ("60 * * * *", "minute", "60 is out of range 0-59"),
        ("0 24 * * *", "hour", "24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month", "0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month", "32 is out of range 1-31"),
        ("0 0 * 13 *", "month", "13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week", "8 is out of range 0-7"),
        ("0 0 30 2 *", "day-of-month", "'30' never falls in February: no such date exists"),
        ("0 0 31 4,6,9,11 *", "day-of-month", "never falls in April, June, September or November"),
        ("0 0 30,31 FEB MON", "day-of-month", "never falls in February"),  # the either rule too
        ("0 0 L * *", "day-of-month", "'L' is not crontab(5) syntax (\"last\" in Quartz and EventBridge)"),
        ("0 0 * * 5L", "day-of-week", "'L' in '5L' is not crontab(5) syntax"),
        ("0 0 15W * *", "day-of-month", "'W' in '15W' is not crontab(5) syntax (\"nearest weekday\""),
        ("0 0 LW * *", "day-of-month", "'L' in 'LW' is not crontab(5) syntax"),
        ("0 0 * * MON#2", "day-of-week", "'#' in 'MON#2' is not crontab(5) syntax"),
        ("0 0 ? * *", "day-of-month", "'?' is not crontab(5) syntax"),
        ("H * * * *", "minute", "'H' is not crontab(5) syntax (a hashed value in Jenkins)"),
        ("H(0-29)/10 * * * *", "minute", "'H' in 'H(0-29)/10' is not crontab(5) syntax"),
        ("R * * * *", "minute", "'R' is not crontab(5) syntax"),
        ("0~30 * * * *", "minute", "'~' in '0~30' is not crontab(5) syntax"),
        ("*/0 * * * *", "minute", "'*/0' has step 0"),
        ("0 1-5/0 * * *", "hour", "'1-5/0' has step 0"),
        ("5-1 * * * *", "minute", "range '5-1' runs backwards (5 > 1)"),
        ("0 22-2 * * *", "hour", "write it as a list, for example '22-23,0-2'"),
        ("0 0 * * FRI-MON", "day-of-week", "for example '5-6,0-1'"),
        ("0 0 * * SAT-SUN", "day-of-week", "range 'SAT-SUN' runs backwards (6 > 0)"),
        ("0 0 * * 1/2", "day-of-week", "'1/2' is ambiguous"),
        ("0 0 */2 * MON", "day-of-month", "'*/2' starts with '*' while day-of-week 'MON' is restricted"),
        ("0 0 1 * */2", "day-of-week", "'*/2' starts with '*' while day-of-month '1' is restricted"),
        ("0 0 */1 * */1", "day-of-month", "starts with '*'"),
        ("*,5 * * * *", "minute", "'*' inside a list"),
        ("0 0 1,*/10 * *", "day-of-month", "'*/10' inside a list"),
        ("1,,2 * * * *", "minute", "empty list item"),
        ("MON * * * *", "minute", "'MON' is not a number; names are allowed only for months and weekdays"),
        ("0 0 * JANUARY *", "month", "unknown name 'JANUARY'"),
        ("0 0 * * MONDAY", "day-of-week", "unknown name 'MONDAY'; use SUN-SAT"),
        ("-5 * * * *", "minute", "cannot read '-5'"),
        ("*/x * * * *", "minute", "cannot read '*/X'"),
    ],
)
def test_refused_with_the_field_and_the_reason(expression: str, field: str, reason: str) -> None:
    with pytest.raises(CronError) as raised:
        translate(expression)

    assert raised.value.field == field
    assert reason in raised.value.problem
    assert str(raised.value) == f"{field}: {raised.value.problem}"
    assert isinstance(raised.value, ValueError)  # pydantic validators report it as a validation error


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "", "europe/berlin", "Europe/Berlin ", "localtime", "posix/UTC"])
def test_unknown_time_zones_are_refused(timezone: str) -> None:
    with pytest.raises(CronError) as raised:
        translate("* * * * *", timezone)

    assert raised.value.field == "timezone"


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_iana_time_zones_are_taken(timezone: str) -> None:
    assert translate("* * * * *", timezone).timezone == timezone


# --- translations -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * *", ("cron(* * * * ? *)",)),
        ("*/15 9-17 * * 1-5", ("cron(0/15 9-17 ? * MON-FRI *)",)),
        ("0 9 * * MON-FRI", ("cron(0 9 ? * MON-FRI *)",)),
        ("5/15 */3 */2 */3 *", ("cron(5/15 0/3 1/2 1/3 ? *)",)),  # N/step is N-<end>/step
        ("0 0 10/10 * *", ("cron(0 0 10/10 * ? *)",)),  # 10, 20, 30
        ("0,30 8-10,14 1-15 JAN-MAR,dec *", ("cron(0,30 8-10,14 1-15 1-3,12 ? *)",)),
        ("0 0 1 * *", ("cron(0 0 1 * ? *)",)),
        ("0 0 1-31 * *", ("cron(0 0 * * ? *)",)),
        ("*/90 * * * *", ("cron(0 * * * ? *)",)),  # a step past the end names the first value only
        ("0 0 1-5/10 * *", ("cron(0 0 1 * ? *)",)),
        ("0 0 2-2 * *", ("cron(0 0 2 * ? *)",)),  # crontab(5): the 2nd (croniter reads every day)
        ("0 0 * * 0-7", ("cron(0 0 * * ? *)",)),
        ("0 0 1 * 0-6", ("cron(0 0 * * ? *)",)),  # either: every weekday names every day
        ("0 0 1-31 * MON", ("cron(0 0 * * ? *)",)),
    ],
)
def test_translations(expression: str, expected: tuple[str, ...]) -> None:
    assert schedules(expression) == expected


@pytest.mark.parametrize(
    ("day_of_week", "expected"),
    [
        ("0", "SUN"),
        ("7", "SUN"),
        ("0,7", "SUN"),
        ("sun", "SUN"),
        ("1", "MON"),
        ("6", "SAT"),
        ("1-5", "MON-FRI"),
        ("5-7", "SUN,FRI,SAT"),
        ("6,7", "SUN,SAT"),
        ("*/2", "SUN,TUE,THU,SAT"),
        ("*/3", "SUN,WED,SAT"),
        ("*/7", "SUN"),
        ("1-7/3", "SUN,MON,THU"),
        ("MON-FRI/2", "MON,WED,FRI"),
        ("tue,Thu", "TUE,THU"),
        ("0-3", "SUN-WED"),
    ],
)
def test_day_of_week_numbering_shifts_to_eventbridge(day_of_week: str, expected: str) -> None:
    assert schedules(f"0 12 * * {day_of_week}") == (f"cron(0 12 ? * {expected} *)",)


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("@hourly", "cron(0 * * * ? *)"),
        ("@daily", "cron(0 0 * * ? *)"),
        ("@midnight", "cron(0 0 * * ? *)"),
        ("@weekly", "cron(0 0 ? * SUN *)"),
        ("@monthly", "cron(0 0 1 * ? *)"),
        ("@yearly", "cron(0 0 1 1 ? *)"),
        ("@annually", "cron(0 0 1 1 ? *)"),
        ("@Daily", "cron(0 0 * * ? *)"),
    ],
)
def test_macros(macro: str, expected: str) -> None:
    assert schedules(macro) == (expected,)


def test_both_day_fields_restricted_split_into_two_schedules() -> None:
    translation = translate("0 9 1,15 * MON", "Europe/Berlin")

    assert translation.schedules == ("cron(0 9 1,15 * ? *)", "cron(0 9 ? * MON *)")
    assert translation.timezone == "Europe/Berlin"
    assert parse_unix_cron("0 9 1,15 * MON").day_rule is DayRule.EITHER


def test_a_minute_both_halves_of_a_split_name_fires_once() -> None:
    # 2026-06-01 is a Monday and the 1st: both schedules name 09:00 that day.
    runs = next_fire_times(schedules("0 9 1,15 * MON"), "UTC", datetime(2026, 5, 31, tzinfo=UTC), 4)

    assert local(runs) == [
        "2026-06-01T09:00:00+00:00",
        "2026-06-08T09:00:00+00:00",
        "2026-06-15T09:00:00+00:00",  # the 15th and a Monday
        "2026-06-22T09:00:00+00:00",
    ]


def test_whitespace_and_case_do_not_matter() -> None:
    assert schedules("  0\t9  *  jan-Mar  mon-FRI ") == ("cron(0 9 ? 1-3 MON-FRI *)",)


@pytest.mark.parametrize(
    ("expression", "warning"),
    [
        ("0 0 29 2 *", "the only date named is February 29: this runs in leap years only"),
        ("0 0 1,31 2,4 *", "day-of-month 31 never occurs in February or April: that day is never run"),
        ("0 0 1,30,31 2 1", "day-of-month 30, 31 never occur in February: those days are never run"),
        ("0 0 1 * 0-6", "day-of-week '0-6' names every day, and a day matching either day field runs"),
        ("0 0 1-31 * 1", "day-of-month '1-31' names every day"),
    ],
)
def test_translation_warnings(expression: str, warning: str) -> None:
    warnings = translate(expression).warnings

    assert any(warning in text for text in warnings), warnings


def test_no_warnings_for_ordinary_expressions() -> None:
    assert translate("0 0 31 * *").warnings == ()
    assert translate("0 0 29 2 MON").warnings == ()


# --- the evaluator --------------------------------------------------------------------------------------------


def test_runs_are_strictly_after_start_in_the_schedules_zone() -> None:
    start = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)  # 09:00 in Berlin

    runs = next_fire_times(schedules("0 9,10 * * *"), "Europe/Berlin", start, 3)

    assert local(runs) == ["2026-06-01T10:00:00+02:00", "2026-06-02T09:00:00+02:00", "2026-06-02T10:00:00+02:00"]
    assert all(run.tzinfo == BERLIN for run in runs)


def test_a_start_with_seconds_runs_from_the_next_minute() -> None:
    runs = next_fire_times(["cron(* * * * ? *)"], "UTC", datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC), 2)

    assert local(runs) == ["2026-01-01T10:01:00+00:00", "2026-01-01T10:02:00+00:00"]


def test_a_time_in_the_spring_gap_does_not_fire() -> None:
    # Berlin 2027-03-28: 02:00 -> 03:00
    runs = next_fire_times(schedules("30 2 * * *"), "Europe/Berlin", datetime(2027, 3, 26, tzinfo=UTC), 3)

    assert local(runs) == ["2027-03-26T02:30:00+01:00", "2027-03-27T02:30:00+01:00", "2027-03-29T02:30:00+02:00"]


def test_a_repeated_autumn_time_fires_once_at_its_first_occurrence() -> None:
    # New York 2026-11-01: 02:00 EDT -> 01:00 EST
    runs = next_fire_times(schedules("30 1 * * *"), "America/New_York", datetime(2026, 10, 31, tzinfo=UTC), 3)

    assert local(runs) == ["2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]


def test_every_half_hour_across_the_autumn_repeat() -> None:
    start = datetime(2026, 11, 1, 4, 45, tzinfo=UTC)  # 00:45 EDT

    runs = next_fire_times(schedules("*/30 * * * *"), "America/New_York", start, 4)

    # 01:00 and 01:30 EST repeat 01:00 and 01:30 EDT: not fired again.
    assert local(runs) == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T02:00:00-05:00",
        "2026-11-01T02:30:00-05:00",
    ]


def test_a_start_in_the_second_pass_of_a_repeated_hour() -> None:
    start = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, the second 01:10

    runs = next_fire_times(schedules("*/30 * * * *"), "America/New_York", start, 2)

    assert local(runs) == ["2026-11-01T02:00:00-05:00", "2026-11-01T02:30:00-05:00"]


def test_the_evaluator_reads_eventbridge_syntax_it_does_not_emit() -> None:
    runs = next_fire_times(["cron(0/20 8-9 ? JAN-FEB MON-WED 2027)"], "UTC", datetime(2026, 1, 1, tzinfo=UTC), 3)

    assert local(runs) == ["2027-01-04T08:00:00+00:00", "2027-01-04T08:20:00+00:00", "2027-01-04T08:40:00+00:00"]
    assert parse_eventbridge_cron("cron(0 12 */10 jul ? *)").days_of_month == frozenset({1, 11, 21, 31})
    assert parse_eventbridge_cron("cron(0 12 ? * WED,sat *)").days_of_week == frozenset({4, 7})


def test_schedules_that_end_give_fewer_runs() -> None:
    runs = next_fire_times(["cron(0 0 1 1 ? 2027-2028)"], "UTC", datetime(2026, 1, 1, tzinfo=UTC), 5)

    assert local(runs) == ["2027-01-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00"]


def test_a_schedule_that_never_fires_gives_no_runs() -> None:
    assert next_fire_times(["cron(0 0 30 2 ? *)"], "UTC", datetime(2026, 1, 1, tzinfo=UTC), 1) == []


def test_fire_times_can_be_iterated_lazily() -> None:
    times = iter_fire_times(["cron(* * * * ? *)"], "UTC", datetime(2026, 1, 1, tzinfo=UTC))

    assert next(times) == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert next(times) == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 9 * * *", "is not an EventBridge cron expression"),
        ("cron(0 9 * * *)", "has 5 fields"),
        ("cron(0 9 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 9 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 9 L * ? *)", "'L', 'W' and '#' are not supported by this evaluator"),
        ("cron(0 9 ? * 2#1 *)", "'L', 'W' and '#' are not supported by this evaluator"),
        ("cron(0 9 ? * */2 *)", "EventBridge allows no '/' in day-of-week"),
        ("cron(0 9 ? * 0 *)", "0 is out of range 1-7"),
        ("cron(0 9 * * ? 1969)", "1969 is out of range 1970-2199"),
        ("cron(0 9 5-1 * ? *)", "runs backwards"),
    ],
)
def test_the_evaluator_refuses_what_it_cannot_read(expression: str, reason: str) -> None:
    with pytest.raises(CronError, match=reason):
        next_fire_times([expression], "UTC", datetime(2026, 1, 1, tzinfo=UTC), 1)


def test_iterating_checks_its_arguments_at_once() -> None:
    with pytest.raises(CronError, match="timezone"):
        iter_fire_times(["cron(* * * * ? *)"], "Nowhere/Land", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(CronError, match="has 5 fields"):
        iter_fire_times(["cron(* * * * *)"], "UTC", datetime(2026, 1, 1, tzinfo=UTC))


def test_the_evaluator_needs_an_aware_start_and_schedules() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_times(["cron(* * * * ? *)"], "UTC", datetime(2026, 1, 1), 1)
    with pytest.raises(ValueError, match="no schedules"):
        next_fire_times([], "UTC", datetime(2026, 1, 1, tzinfo=UTC), 1)


def test_eventbridge_cron_needs_exactly_one_question_mark() -> None:
    every = frozenset({0})
    with pytest.raises(ValueError, match="exactly one"):
        EventBridgeCron(minutes=every, hours=every, days_of_month=None, months=frozenset({1}), days_of_week=None)


# --- clock changes and previews -------------------------------------------------------------------------------


def test_clock_changes_are_found_to_the_second() -> None:
    changes = clock_changes(NEW_YORK, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))

    assert [(change.at.isoformat(), change.forward) for change in changes] == [
        ("2026-03-08T07:00:00+00:00", True),
        ("2026-11-01T06:00:00+00:00", False),
    ]
    assert (changes[0].wall_before.isoformat(), changes[0].wall_after.isoformat()) == (
        "2026-03-08T02:00:00",
        "2026-03-08T03:00:00",
    )


def test_preview_warns_of_the_spring_skip_in_berlin() -> None:
    result = preview("30 2 * * *", "Europe/Berlin", 2, datetime(2026, 12, 1, tzinfo=UTC))

    assert local(result.runs) == ["2026-12-01T02:30:00+01:00", "2026-12-02T02:30:00+01:00"]
    assert result.warnings[0] == (
        "Sunday 2027-03-28: clocks in Europe/Berlin go forward from 02:00 to 03:00, so local times 02:00-02:59 do "
        "not exist that day; EventBridge skips the run at 02:30"
    )
    # Berlin repeats 02:00-02:59 in October: 02:30 is named there too.
    assert result.warnings[1].startswith("Sunday 2027-10-31: clocks in Europe/Berlin go back from 03:00 to 02:00")
    assert len(result.warnings) == 2


def test_preview_warns_of_the_autumn_repeat_in_new_york() -> None:
    result = preview("30 1 * * *", "America/New_York", 1, datetime(2026, 6, 1, tzinfo=UTC))

    assert result.warnings == [
        "Sunday 2026-11-01: clocks in America/New_York go back from 02:00 to 01:00, so local times 01:00-01:59 "
        "happen twice; EventBridge fires the run at 01:30 once, at the first occurrence (EDT, UTC-04:00), not "
        "again at EST, UTC-05:00"
    ]


def test_many_affected_runs_are_summarized() -> None:
    warnings = preview("* * * * *", "America/New_York", 1, datetime(2026, 6, 1, tzinfo=UTC)).warnings

    assert [warning.split(": ", 1)[0] for warning in warnings] == ["Sunday 2026-11-01", "Sunday 2027-03-14"]
    assert "EventBridge fires the 60 runs from 01:00 to 01:59 once each" in warnings[0]
    assert "EventBridge skips the 60 runs from 02:00 to 02:59" in warnings[1]
    few = preview("0,20 2 * * *", "America/New_York", 1, datetime(2026, 12, 1, tzinfo=UTC)).warnings
    assert few[0].endswith("EventBridge skips the runs at 02:00 and 02:20")


def test_no_warning_when_no_named_time_is_affected() -> None:
    assert preview("0 9 * * *", "Europe/Berlin", 1, datetime(2026, 6, 1, tzinfo=UTC)).warnings == []
    assert preview("30 2 * * *", "Asia/Kolkata", 1, datetime(2026, 6, 1, tzinfo=UTC)).warnings == []
    # The change is on a Sunday: a weekday-only schedule is not affected.
    assert preview("30 2 * * MON-FRI", "Europe/Berlin", 1, datetime(2026, 6, 1, tzinfo=UTC)).warnings == []


def test_warnings_cover_the_next_twelve_months_only() -> None:
    translation = translate("30 2 * * *", "Europe/Berlin")

    # From 2026-03-27: the 2026-03-29 skip, the October repeat, not the 2027-03-28 skip (a year and a day on).
    warnings = clock_change_warnings(translation, datetime(2026, 3, 27, tzinfo=UTC))
    assert [warning[:17] for warning in warnings] == ["Sunday 2026-03-29", "Sunday 2026-10-25"]
    assert len(clock_change_warnings(translation, datetime(2026, 3, 30, tzinfo=UTC))) == 2


def test_a_midnight_change_in_santiago() -> None:
    warnings = preview("0 0 * * *", "America/Santiago", 1, datetime(2026, 6, 1, tzinfo=UTC)).warnings

    assert warnings == [
        "Sunday 2026-09-06: clocks in America/Santiago go forward from 00:00 to 01:00, so local times 00:00-00:59 "
        "do not exist that day; EventBridge skips the run at 00:00"
    ]


def test_a_half_hour_change_at_lord_howe() -> None:
    warnings = preview("*/10 2 * * *", "Australia/Lord_Howe", 1, datetime(2026, 6, 1, tzinfo=UTC)).warnings

    assert warnings[0].endswith(
        "local times 02:00-02:29 do not exist that day; EventBridge skips the runs at 02:00, 02:10 and 02:20"
    )


def test_preview_counts_and_serialization() -> None:
    result = preview("0 9 * * MON-FRI", "America/New_York", 3, datetime(2026, 6, 5, 14, tzinfo=UTC))

    assert result.as_dict() == {
        "runs": ["2026-06-08T09:00:00-04:00", "2026-06-09T09:00:00-04:00", "2026-06-10T09:00:00-04:00"],
        "warnings": [],
    }
    with pytest.raises(ValueError, match="count must be between 1 and 1000"):
        preview("* * * * *", "UTC", 0, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        preview("* * * * *", "UTC", 1, datetime(2026, 1, 1))


def test_preview_refuses_what_translate_refuses() -> None:
    with pytest.raises(CronError, match="timezone"):
        preview("* * * * *", "Nowhere/Land", 1, datetime(2026, 1, 1, tzinfo=UTC))


def test_deploy_preview_gives_five_runs_and_the_warnings() -> None:
    result = deploy_preview("30 1 * * *", "America/New_York", datetime(2026, 10, 29, 12, tzinfo=UTC))

    assert result["next_run_times"] == [
        "2026-10-30T01:30:00-04:00",
        "2026-10-31T01:30:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
        "2026-11-03T01:30:00-05:00",
    ]
    assert [warning[:17] for warning in result["warnings"]] == ["Sunday 2026-11-01"]


def test_leap_day_only_preview() -> None:
    result = preview("0 0 29 2 *", "UTC", 2, datetime(2026, 1, 1, tzinfo=UTC))

    assert local(result.runs) == ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]
    assert result.warnings == ["the only date named is February 29: this runs in leap years only"]


def test_runs_are_a_minute_apart_at_most_once() -> None:
    runs = next_fire_times(schedules("* * * * *"), "America/New_York", datetime(2026, 11, 1, 5, 58, tzinfo=UTC), 3)

    # 01:59 EDT, then 01:00 EST is a repeat, so the next is 02:00 EST, 61 minutes later.
    assert local(runs) == ["2026-11-01T01:59:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T02:01:00-05:00"]
    # Subtract in UTC: Python subtracts datetimes of one zone by wall time.
    assert runs[1].astimezone(UTC) - runs[0].astimezone(UTC) == timedelta(minutes=61)
