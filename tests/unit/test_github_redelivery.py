"""The redelivery sweep: only failed deliveries the service never recorded are asked for again, within bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.github_fakes import FakeAppDeliveries, MemoryGithubStore
from workflow_scheduler.domain.triggers.github.api import GithubApiError, GithubRateLimited
from workflow_scheduler.domain.triggers.github.deliveries import Delivery
from workflow_scheduler.domain.triggers.github.redelivery import RedeliverySweep, SweepLimits

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def attempt(attempt_id: int, guid: str, status_code: int, minutes_ago: int = 10, **extra: Any) -> dict[str, Any]:
    delivered = (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    return {
        "id": attempt_id,
        "guid": guid,
        "status_code": status_code,
        "delivered_at": delivered,
        "event": "push",
    } | extra


def record(store: MemoryGithubStore, guid: str) -> None:
    with store.record(Delivery(guid, "push", None, "o/r", 1, None, "{}"), note=None, installation=None):
        pass


def sweep(deliveries: FakeAppDeliveries | None, store: MemoryGithubStore, **limits: Any) -> RedeliverySweep:
    return RedeliverySweep(deliveries, store, SweepLimits(**limits), clock=lambda: NOW)


def test_only_failed_deliveries_never_recorded_are_redelivered() -> None:
    store = MemoryGithubStore(clock=lambda: NOW)
    record(store, "failed-but-recorded")  # our answer was lost, or came after GitHub's 10 s
    deliveries = FakeAppDeliveries(
        [  # newest first, as GitHub lists them
            attempt(7, "retried-ok", 202, 1, redelivery=True),
            attempt(6, "ok", 202, 2),
            attempt(5, "failed-but-recorded", 502, 3),
            attempt(4, "lost", 0, 4),  # no answer at all (a timeout)
            attempt(3, "unauthorized", 401, 5),
            attempt(2, "retried-ok", 503, 6),
        ]
    )
    report = sweep(deliveries, store).run()
    assert deliveries.redelivered == [3, 4]  # oldest first
    assert report.redelivered == ["unauthorized", "lost"]
    assert (report.listed, report.failed, report.recorded) == (6, 3, 1)
    assert deliveries.since == [NOW - timedelta(hours=6)]


def test_a_run_redelivers_at_most_its_bound_and_leaves_the_rest_to_the_next() -> None:
    deliveries = FakeAppDeliveries([attempt(i, f"g{i}", 500, 10 - i) for i in range(5, 0, -1)])
    report = sweep(deliveries, MemoryGithubStore(), max_redeliveries=2).run()
    assert deliveries.redelivered == [1, 2]
    assert report.deferred == 3


def test_a_delivery_is_given_up_after_its_attempts() -> None:
    deliveries = FakeAppDeliveries(
        [attempt(3, "g", 500, 1, redelivery=True), attempt(2, "g", 500, 2, redelivery=True), attempt(1, "g", 500, 3)]
    )
    report = sweep(deliveries, MemoryGithubStore(), max_attempts=3).run()
    assert deliveries.redelivered == [] and report.gave_up == ["g"]
    report = sweep(deliveries, MemoryGithubStore(), max_attempts=4).run()
    assert deliveries.redelivered == [3]  # the newest attempt is the one asked again


@pytest.mark.parametrize("status", [413, 400, 422])
def test_a_failure_the_same_body_would_meet_again_is_not_redelivered(status: int) -> None:
    deliveries = FakeAppDeliveries([attempt(1, "g", status)])
    report = sweep(deliveries, MemoryGithubStore()).run()
    assert deliveries.redelivered == [] and report.futile == ["g"]


def test_a_rate_limit_stops_the_run_and_other_refusals_do_not() -> None:
    deliveries = FakeAppDeliveries(
        [attempt(3, "c", 500, 1), attempt(2, "b", 500, 2), attempt(1, "a", 500, 3)],
        fail_redeliver={1: GithubApiError("GitHub answered 404", 404), 2: GithubRateLimited("limited", 900.0, 403)},
    )
    report = sweep(deliveries, MemoryGithubStore()).run()
    assert deliveries.redelivered == []
    assert len(report.errors) == 2 and "next run" in report.errors[1]


def test_a_run_that_cannot_list_the_deliveries_fails() -> None:
    deliveries = FakeAppDeliveries(fail_list=GithubApiError("GitHub answered 401 for the App's deliveries", 401))
    with pytest.raises(GithubApiError):
        sweep(deliveries, MemoryGithubStore()).run()


def test_old_records_are_pruned_even_without_app_credentials() -> None:
    store = MemoryGithubStore(clock=lambda: NOW - timedelta(days=31))
    record(store, "old")
    store.clock = lambda: NOW
    record(store, "new")
    report = sweep(None, store).run()
    assert report.pruned == 1 and set(store.rows) == {"new"}
    assert report.note is not None and "not configured" in report.note
