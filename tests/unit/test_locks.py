"""The pure parts of the locks: fencing, names, lease lengths, backoff, and the shared acquire/hold logic on a fake."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from workflow_scheduler.adapters.locks_dynamodb import DynamoDBLockManager, lock_manager
from workflow_scheduler.adapters.locks_redis import RedisLockManager
from workflow_scheduler.domain.errors import StoreUnavailable
from workflow_scheduler.domain.locks import (
    DistributedLockManager,
    Lease,
    LockBackendUnavailable,
    LockHolder,
    LockNotAcquired,
    StaleFencingToken,
    check_fence,
    lease_milliseconds,
    poll_delay,
    utc_from_ms,
    validate_lock_name,
)
from workflow_scheduler.settings import LockSettings

START = 1_800_000_000.0


class FakeTime:
    """One clock for everything: sleeping moves it forward, and may run a callback at a given time."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []
        self.at: tuple[float, Callable[[], object]] | None = None

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.at is not None and self.now >= self.at[0]:
            callback, self.at = self.at[1], None
            callback()


class MemoryLocks(DistributedLockManager):
    """The smallest backend that keeps the contract, on the fake clock."""

    def __init__(self, time: FakeTime) -> None:
        super().__init__(clock=lambda: time.now, sleep=time.sleep, monotonic=lambda: time.now)
        self.leases: dict[str, Lease] = {}
        self.fences: dict[str, int] = {}
        self.attempts = 0
        self.failing = False

    def _live(self, name: str) -> Lease | None:
        lease = self.leases.get(name)
        return lease if lease is not None and lease.expires_at > utc_from_ms(self._now_ms()) else None

    def _try_acquire(self, name: str, owner: str, lease_ms: int) -> Lease | LockHolder:
        self.attempts += 1
        held = self._live(name)
        if held is not None:
            return LockHolder(held.owner, held.fencing_token, held.expires_at)
        self.fences[name] = self.fences.get(name, 0) + 1
        self.leases[name] = Lease(name, owner, self.fences[name], utc_from_ms(self._now_ms() + lease_ms))
        return self.leases[name]

    def release(self, lease: Lease) -> bool:
        if self.failing:
            raise LockBackendUnavailable("down")
        held = self._live(lease.name)
        if held is None or held.owner != lease.owner:
            return False
        del self.leases[lease.name]
        return True

    def renew(self, lease: Lease, lease_seconds: float) -> Lease | None:
        held = self._live(lease.name)
        if held is None or held.owner != lease.owner:
            return None
        renewed = Lease(lease.name, lease.owner, lease.fencing_token, utc_from_ms(self._now_ms() + 1000))
        self.leases[lease.name] = renewed
        return renewed


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def locks(clock: FakeTime) -> MemoryLocks:
    return MemoryLocks(clock)


# Fencing


@pytest.mark.parametrize(("latest_seen", "token"), [(None, 1), (5, 5), (5, 6)])
def test_a_token_not_older_than_the_newest_seen_passes(latest_seen: int | None, token: int) -> None:
    check_fence(latest_seen, token)


def test_an_older_token_is_refused() -> None:
    with pytest.raises(StaleFencingToken) as refused:
        check_fence(7, 6)
    assert (refused.value.token, refused.value.latest_seen) == (6, 7)
    assert refused.value.code == "stale_fencing_token"


# Names, lease lengths, backoff


@pytest.mark.parametrize("name", ["cron:wf-1/daily", "mailbox:ops@example.com", "x", "é" * 200])
def test_lock_names_accepted(name: str) -> None:
    validate_lock_name(name)


@pytest.mark.parametrize("name", ["", "a" * 201, "two words", "tab\there", "line\n", "{tag}", "a}b"])
def test_lock_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match="lock name"):
        validate_lock_name(name)


@pytest.mark.parametrize(("seconds", "ms"), [(0.2, 200), (30, 30_000), (0.0001, 1), (1.0005, 1001)])
def test_lease_milliseconds_round_up(seconds: float, ms: int) -> None:
    assert lease_milliseconds(seconds) == ms


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf])
def test_lease_milliseconds_refuse_what_is_not_a_positive_number(seconds: float) -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        lease_milliseconds(seconds)


def test_poll_delay_doubles_to_a_second() -> None:
    assert [poll_delay(n, 60, 0) for n in range(1, 8)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert poll_delay(10_000, 60, 0) == 1.0


def test_poll_delay_jitter_takes_off_up_to_half_and_the_deadline_caps_it() -> None:
    assert poll_delay(6, 60, 0.5) == 0.75
    assert 0.5 < poll_delay(6, 60, 0.999) < 0.501
    assert poll_delay(6, 0.3, 0) == 0.3
    assert poll_delay(1, -1, 0) == 0.0


def test_lease_remaining_seconds() -> None:
    lease = Lease("n", "o", 1, datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC))
    assert lease.remaining_seconds(datetime(2026, 1, 1, tzinfo=UTC)) == 10


# The shared acquire / hold logic


def test_acquire_is_non_blocking_by_default(locks: MemoryLocks, clock: FakeTime) -> None:
    assert locks.acquire("job", 10) is not None
    assert locks.acquire("job", 10) is None
    assert (locks.attempts, clock.sleeps) == (2, [])


def test_acquire_with_wait_polls_with_backoff_until_the_holder_releases(locks: MemoryLocks, clock: FakeTime) -> None:
    holder = locks.acquire("job", 60)
    assert holder is not None
    clock.at = (START + 1.0, lambda: locks.release(holder))

    waiter = locks.acquire("job", 60, wait_seconds=30)

    assert waiter is not None
    assert waiter.fencing_token == holder.fencing_token + 1
    assert clock.now - START == pytest.approx(sum(clock.sleeps))
    assert 1.0 <= clock.now - START < 2.1  # found free within one (capped) backoff of the release
    assert all(b >= a / 2 for a, b in itertools.pairwise(clock.sleeps))  # backing off


def test_acquire_with_wait_gives_up_at_the_deadline(locks: MemoryLocks, clock: FakeTime) -> None:
    assert locks.acquire("job", 60) is not None

    assert locks.acquire("job", 60, wait_seconds=5) is None

    assert clock.now - START == pytest.approx(5)
    assert max(clock.sleeps) <= 1.0


def test_acquire_takes_over_an_expired_lease(locks: MemoryLocks, clock: FakeTime) -> None:
    first = locks.acquire("job", 1)
    assert first is not None
    clock.now += 1
    second = locks.acquire("job", 1)
    assert second is not None
    assert second.fencing_token > first.fencing_token
    assert locks.release(first) is False


def test_acquire_refuses_bad_arguments_before_asking_the_backend(locks: MemoryLocks) -> None:
    with pytest.raises(ValueError, match="lock name"):
        locks.acquire("a b", 1)
    with pytest.raises(ValueError, match="lease_seconds"):
        locks.acquire("job", 0)
    for wait in (-1, math.inf):
        with pytest.raises(ValueError, match="wait_seconds"):
            locks.acquire("job", 1, wait_seconds=wait)
    assert locks.attempts == 0


def test_hold_raises_lock_not_acquired_naming_the_holder(locks: MemoryLocks) -> None:
    holder = locks.acquire("job", 60)
    assert holder is not None

    with pytest.raises(LockNotAcquired) as taken, locks.hold("job", 10):
        pass

    assert taken.value.holder == LockHolder(holder.owner, holder.fencing_token, holder.expires_at)
    assert taken.value.code == "lock_not_acquired"
    assert f"fencing token {holder.fencing_token}" in taken.value.message


def test_hold_releases_after_the_block_even_when_it_fails(locks: MemoryLocks) -> None:
    with locks.hold("job", 10) as lease:
        assert locks.leases["job"] == lease
    assert "job" not in locks.leases

    with pytest.raises(RuntimeError, match="boom"), locks.hold("job", 10):
        raise RuntimeError("boom")
    assert "job" not in locks.leases


def test_hold_warns_when_the_lease_ran_out_during_the_block(
    locks: MemoryLocks, clock: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), locks.hold("job", 1):
        clock.now += 2
    assert "had expired before the block ended" in caplog.text


def test_hold_keeps_the_blocks_outcome_when_the_release_fails(
    locks: MemoryLocks, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(RuntimeError, match="the work failed"), locks.hold("job", 10):
        locks.failing = True
        raise RuntimeError("the work failed")
    assert "not released (backend unavailable)" in caplog.text


def test_a_redis_key_prefix_with_braces_is_refused() -> None:
    with pytest.raises(ValueError, match="hash tag"):
        RedisLockManager.from_url("redis://127.0.0.1:6379/0", key_prefix="{app}:")


def test_backend_unavailable_is_a_store_outage() -> None:
    assert issubclass(LockBackendUnavailable, StoreUnavailable)  # the API answers 503


# Adapters without a server: DynamoDB errors other than a failed condition, and settings


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_dynamodb_errors_are_backend_unavailable_not_lock_taken(code: str) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    locks = DynamoDBLockManager("state", client)
    lease = Lease("job", "owner", 1, datetime.now(UTC))
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("update_item", service_error_code=code, http_status_code=400)
        with pytest.raises(LockBackendUnavailable, match=code):
            locks.acquire("job", 10)
        with pytest.raises(LockBackendUnavailable):
            locks.release(lease)
        with pytest.raises(LockBackendUnavailable):
            locks.renew(lease, 10)


def test_lock_settings_pick_and_check_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCK_BACKEND", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("STATE_TABLE_NAME", "state")
    assert isinstance(lock_manager(LockSettings.from_environment()), DynamoDBLockManager)

    monkeypatch.setenv("LOCK_BACKEND", "redis")
    with pytest.raises(ValueError, match="REDIS_URL"):
        LockSettings.from_environment()
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    # no connection until the first call
    assert isinstance(lock_manager(LockSettings.from_environment()), RedisLockManager)

    monkeypatch.setenv("LOCK_BACKEND", "dynamodb")
    monkeypatch.delenv("STATE_TABLE_NAME")
    with pytest.raises(ValueError, match="STATE_TABLE_NAME"):
        LockSettings.from_environment()
