"""Both lock backends against real stores: Redis on loopback and DynamoDB in moto (the table as the stack makes it).

Leases are a few hundred milliseconds so expiry is real but the module stays within seconds. Every test uses
its own lock name; the Redis keys live under a prefix of this run and are deleted at the end.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import redis
from botocore.config import Config
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from tests.integration.conftest import create_state_table
from workflow_scheduler.adapters.locks_dynamodb import DynamoDBLockManager
from workflow_scheduler.adapters.locks_redis import RedisLockManager
from workflow_scheduler.domain.locks import (
    DistributedLockManager,
    Lease,
    LockBackendUnavailable,
    LockNotAcquired,
    StaleFencingToken,
    check_fence,
)
from workflow_scheduler.local.aws_resources import STATE_TABLE_NAME

REDIS_URL = "redis://127.0.0.1:6379/0"
SHORT = 0.3  # seconds: a lease meant to run out during the test
PAST_SHORT = 0.4


@pytest.fixture(scope="module")
def dynamodb_locks() -> Iterator[DynamoDBLockManager]:
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        # DynamoDB applies a conditional write atomically. moto checks and writes without a lock, and threads
        # interleave inside it (two holders at once, or "dictionary changed size" errors): one request at a time
        # makes it as atomic as the real service.
        one_at_a_time = threading.Lock()
        call_action = DynamoHandler.call_action

        def serialised(self: DynamoHandler) -> Any:
            with one_at_a_time:
                return call_action(self)

        patch.setattr(DynamoHandler, "call_action", serialised)
        client = boto3.client("dynamodb")
        create_state_table(STATE_TABLE_NAME)
        client.update_time_to_live(
            TableName=STATE_TABLE_NAME, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )
        yield DynamoDBLockManager(STATE_TABLE_NAME, client)


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    prefix = f"test-locks-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["dynamodb", "redis"])
def locks(request: pytest.FixtureRequest, redis_prefix: str) -> DistributedLockManager:
    if request.param == "dynamodb":
        manager: DistributedLockManager = request.getfixturevalue("dynamodb_locks")
        return manager
    return RedisLockManager.from_url(REDIS_URL, key_prefix=redis_prefix)


@pytest.fixture
def name() -> str:
    return f"lock-{uuid.uuid4().hex[:8]}"


class FencedResource:
    """A protected resource: stores the newest fencing token with each write, in one atomic step."""

    def __init__(self) -> None:
        self.latest: int | None = None
        self.values: list[str] = []
        self._mutex = threading.Lock()

    def write(self, token: int, value: str) -> None:
        with self._mutex:
            check_fence(self.latest, token)
            self.latest = token
            self.values.append(value)


def test_only_one_holder_at_a_time_under_contention(locks: DistributedLockManager, name: str) -> None:
    inside, overlaps, tokens, lost = 0, 0, [], 0
    counter = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        nonlocal inside, overlaps, lost
        start.wait()
        for _ in range(25):
            lease = locks.acquire(name, 5)
            if lease is None:
                continue
            with counter:
                inside += 1
                overlaps += inside > 1
                tokens.append(lease.fencing_token)
            time.sleep(0.001)  # hold it long enough for the others to try
            with counter:
                inside -= 1
                lost += not locks.release(lease)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (overlaps, lost) == (0, 0)
    assert len(tokens) >= 8  # the lock was taken again and again, not once
    # Recorded inside the lock, so in acquisition order: each holder's token beats the one before.
    assert tokens == sorted(set(tokens))


def test_only_the_owner_can_release(locks: DistributedLockManager, name: str) -> None:
    lease = locks.acquire(name, 5)
    assert lease is not None
    impostor = Lease(name, uuid.uuid4().hex, lease.fencing_token, lease.expires_at)

    assert locks.release(impostor) is False
    assert locks.renew(impostor, 5) is None
    assert locks.acquire(name, 5) is None  # still held
    assert locks.release(lease) is True
    assert locks.release(lease) is False  # already released
    assert locks.acquire(name, 5) is not None


def test_an_expired_lease_lets_another_take_over(locks: DistributedLockManager, name: str) -> None:
    first = locks.acquire(name, SHORT)
    assert first is not None
    assert locks.acquire(name, SHORT) is None

    time.sleep(PAST_SHORT)
    second = locks.acquire(name, 5)

    assert second is not None
    assert second.fencing_token > first.fencing_token
    assert locks.release(first) is False  # an expired lease is not released, even before a takeover
    assert locks.release(second) is True


def test_a_slow_holder_cannot_touch_the_new_lease_and_its_writes_are_fenced_off(
    locks: DistributedLockManager, name: str
) -> None:
    resource = FencedResource()
    slow = locks.acquire(name, SHORT)
    assert slow is not None
    resource.write(slow.fencing_token, "slow: before the pause")

    time.sleep(PAST_SHORT)  # the slow holder stalls past its lease
    fast = locks.acquire(name, 5)
    assert fast is not None
    resource.write(fast.fencing_token, "fast")

    # The slow holder wakes up still believing it holds the lock.
    assert locks.renew(slow, 5) is None
    assert locks.release(slow) is False
    with pytest.raises(StaleFencingToken):
        resource.write(slow.fencing_token, "slow: after the pause")

    assert resource.values == ["slow: before the pause", "fast"]
    assert locks.acquire(name, 5) is None  # the new holder's lease survived all of it
    assert locks.release(fast) is True


def test_fencing_tokens_increase_across_releases_expiries_and_names(locks: DistributedLockManager, name: str) -> None:
    tokens = []
    for _ in range(3):
        lease = locks.acquire(name, 5)
        assert lease is not None
        tokens.append(lease.fencing_token)
        assert locks.release(lease)
    expiring = locks.acquire(name, 0.05)
    assert expiring is not None
    tokens.append(expiring.fencing_token)
    time.sleep(0.1)
    after_expiry = locks.acquire(name, 5)
    assert after_expiry is not None
    tokens.append(after_expiry.fencing_token)

    assert tokens == sorted(set(tokens))  # strictly increasing
    other = locks.acquire(f"{name}-other", 5)  # another name has its own counter
    assert other is not None
    assert locks.release(other)
    assert locks.release(after_expiry)


def test_renew_extends_the_lease(locks: DistributedLockManager, name: str) -> None:
    lease = locks.acquire(name, SHORT)
    assert lease is not None

    renewed = locks.renew(lease, 2)

    assert renewed is not None
    assert renewed.expires_at > lease.expires_at
    assert (renewed.owner, renewed.fencing_token) == (lease.owner, lease.fencing_token)
    time.sleep(PAST_SHORT)  # past the original lease
    assert locks.acquire(name, 5) is None
    assert locks.release(renewed) is True


def test_waiting_acquires_once_the_holder_releases(locks: DistributedLockManager, name: str) -> None:
    holder = locks.acquire(name, 5)
    assert holder is not None
    releaser = threading.Timer(0.3, locks.release, args=(holder,))
    started = time.monotonic()
    releaser.start()

    waiter = locks.acquire(name, 5, wait_seconds=3)

    waited = time.monotonic() - started
    releaser.join()
    assert waiter is not None
    assert waiter.fencing_token > holder.fencing_token
    assert 0.25 < waited < 1.5  # the backoff stays well under a second at this point
    assert locks.release(waiter)


def test_waiting_gives_up_at_the_deadline(locks: DistributedLockManager, name: str) -> None:
    holder = locks.acquire(name, 5)
    assert holder is not None
    started = time.monotonic()

    assert locks.acquire(name, 5, wait_seconds=0.3) is None

    assert 0.3 <= time.monotonic() - started < 0.8
    assert locks.release(holder)


def test_hold_raises_when_taken_and_releases_after_the_block(locks: DistributedLockManager, name: str) -> None:
    with locks.hold(name, 5) as lease:
        with pytest.raises(LockNotAcquired) as taken, locks.hold(name, 5):
            pass
        assert taken.value.holder is not None
        assert taken.value.holder.owner == lease.owner
        assert taken.value.holder.fencing_token == lease.fencing_token
        assert taken.value.holder.expires_at is not None
        assert taken.value.holder.expires_at > datetime.now(UTC)

    with pytest.raises(RuntimeError), locks.hold(name, 5):
        raise RuntimeError("the work failed")
    assert locks.acquire(name, 5) is not None  # released both times


def test_dynamodb_lock_items_are_prefixed_and_expire_by_ttl(dynamodb_locks: DynamoDBLockManager, name: str) -> None:
    lease = dynamodb_locks.acquire(name, 5)
    assert lease is not None
    client = boto3.client("dynamodb")

    item = client.get_item(TableName=STATE_TABLE_NAME, Key={"id": {"S": f"lock#{name}"}})["Item"]
    assert item["owner"] == {"S": lease.owner}
    assert int(item["expires_at"]["N"]) == int(lease.expires_at.timestamp() * 1000)
    assert int(item["expiration"]["N"]) > lease.expires_at.timestamp()  # TTL only after the lease (and a margin)

    assert dynamodb_locks.release(lease)
    item = client.get_item(TableName=STATE_TABLE_NAME, Key={"id": {"S": f"lock#{name}"}})["Item"]
    assert set(item) == {"id", "fence", "expiration"}  # free, and the counter kept


def test_redis_keys_share_one_hash_tag(redis_prefix: str, name: str) -> None:
    locks = RedisLockManager.from_url(REDIS_URL, key_prefix=redis_prefix)
    lease = locks.acquire(name, 5)
    assert lease is not None
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)

    assert client.get(f"{redis_prefix}{{{name}}}") == lease.owner
    assert 4000 < client.pttl(f"{redis_prefix}{{{name}}}") <= 5000
    assert int(client.get(f"{redis_prefix}{{{name}}}:fence") or 0) == lease.fencing_token
    assert client.pttl(f"{redis_prefix}{{{name}}}:fence") > 5000  # the counter outlives the lease

    assert locks.release(lease)
    assert client.exists(f"{redis_prefix}{{{name}}}") == 0
    client.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_redis_down_is_reported_not_taken_for_a_held_lock(name: str) -> None:
    locks = RedisLockManager.from_url(f"redis://127.0.0.1:{_closed_port()}/0", timeout_seconds=0.5)
    lease = Lease(name, "owner", 1, datetime.now(UTC))

    with pytest.raises(LockBackendUnavailable):
        locks.acquire(name, 5, wait_seconds=1)
    with pytest.raises(LockBackendUnavailable):
        locks.release(lease)
    with pytest.raises(LockBackendUnavailable):
        locks.renew(lease, 5)
    with pytest.raises(LockBackendUnavailable), locks.hold(name, 5):
        pass


def test_dynamodb_unreachable_is_reported_not_taken_for_a_held_lock(name: str) -> None:
    config = Config(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 1})
    client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{_closed_port()}", config=config)
    locks = DynamoDBLockManager(STATE_TABLE_NAME, client)

    with pytest.raises(LockBackendUnavailable):
        locks.acquire(name, 5)
    with pytest.raises(LockBackendUnavailable):
        locks.release(Lease(name, "owner", 1, datetime.now(UTC)))
