"""The firing history's retention plan (domain/retention.py): which months are created and dropped, and the floor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from workflow_scheduler.domain.retention import (
    HistoryBusy,
    HistoryRetention,
    Partition,
    RetentionTooShort,
    plan_retention,
    retention_period,
)
from workflow_scheduler.settings import RetentionSettings


def utc(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def months(*starts: tuple[int, int]) -> list[Partition]:
    parts = []
    for year, month in starts:
        end = utc(year + month // 12, month % 12 + 1)
        parts.append(Partition(f"p{year}_{month:02d}", utc(year, month), end))
    return parts


def test_months_ahead_wrap_into_the_next_year_and_existing_ones_are_left() -> None:
    plan = plan_retention(utc(2026, 11, 20), timedelta(days=30), months((2026, 11)))
    assert plan.create == (utc(2026, 12), utc(2027, 1))


def test_only_months_wholly_before_the_retention_are_dropped() -> None:
    parts = months((2026, 8), (2026, 9), (2026, 10), (2026, 11))
    # 30 days before 2026-11-05 is 2026-10-06: October has firings younger than that and stays.
    plan = plan_retention(utc(2026, 11, 5), timedelta(days=30), parts)
    assert plan.drop == ("p2026_08", "p2026_09")
    assert plan.keep_from == utc(2026, 10)
    assert plan.forget_before == utc(2026, 10, 6)


def test_the_history_before_partitioning_goes_once_its_last_month_is_past() -> None:
    legacy = Partition("trigger_events_legacy", None, utc(2027, 1))
    assert plan_retention(utc(2027, 1, 20), timedelta(days=30), [legacy]).drop == ()
    assert plan_retention(utc(2027, 2, 1), timedelta(days=30), [legacy]).drop == ("trigger_events_legacy",)
    # Months it covers are never created again.
    assert utc(2026, 12) not in plan_retention(utc(2026, 12, 7), timedelta(days=30), [legacy]).create


def test_a_retention_shorter_than_the_idempotency_window_is_refused() -> None:
    assert retention_period(1) == timedelta(days=1)
    with pytest.raises(RetentionTooShort, match="shorter than the 24 h a webhook Idempotency-Key is remembered"):
        retention_period(0)
    with pytest.raises(ValidationError, match="FIRING_RETENTION_DAYS: a firing history retention of 0 day"):
        RetentionSettings(database_url="postgresql://x/y", firing_retention_days=0)
    assert RetentionSettings(database_url="postgresql://x/y").firing_retention_days == 30


class BusyPartitions:
    """Every partition change times out on its lock."""

    def __init__(self) -> None:
        self.claims_before: datetime | None = None

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        yield True

    def partitions(self) -> list[Partition]:
        return months((2026, 1))

    def create(self, start: datetime, end: datetime) -> int:
        raise HistoryBusy("locked")

    def drop(self, name: str) -> None:
        raise HistoryBusy("locked")

    def expire_claims(self, before: datetime) -> int:
        self.claims_before = before
        return 3

    def expire_unpartitioned(self, before: datetime) -> int:
        return 0


def test_what_a_lock_kept_from_changing_is_left_for_the_next_run_and_the_rest_is_done() -> None:
    store = BusyPartitions()
    report = HistoryRetention(store, 30, clock=lambda: utc(2026, 6, 10)).run()
    assert report.created == [] and report.dropped == []
    assert report.skipped == [
        "create 2026-06: locked",
        "create 2026-07: locked",
        "create 2026-08: locked",
        "drop p2026_01: locked",
    ]
    assert report.claims_expired == 3 and store.claims_before == utc(2026, 5, 11)
