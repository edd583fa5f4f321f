"""Distributed locks: one interface, leases with owner and fencing tokens; the backends live in ``adapters``.

A lease ends when its holder releases it or when it expires, whichever comes first. Expiry is what keeps a
crashed holder from blocking everyone, and it is also why a lock alone cannot protect a resource: a holder that
stalls past its lease (a GC pause, a slow network) still believes it holds the lock while a new holder works.
Every acquisition therefore gets a fencing token, larger than any earlier holder's, and the protected resource
refuses writes carrying a token older than the newest it has seen (``check_fence``).
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from workflow_scheduler.domain.errors import Conflict, StoreUnavailable

MAX_NAME_LENGTH = 200
_FIRST_POLL_SECONDS = 0.05
_MAX_POLL_SECONDS = 1.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str  # random per acquisition: proves ownership on release and renew
    fencing_token: int  # larger than every earlier holder's; send it with every write to the protected resource
    expires_at: datetime  # UTC, from the holder's clock read before the request: if anything, early

    def remaining_seconds(self, now: datetime) -> float:
        return (self.expires_at - now).total_seconds()


@dataclass(frozen=True)
class LockHolder:
    """Who held a lock when an acquisition failed, as far as the backend told (for messages and logs)."""

    owner: str | None
    fencing_token: int | None
    expires_at: datetime | None


class LockNotAcquired(Conflict):
    code = "lock_not_acquired"

    def __init__(self, name: str, holder: LockHolder | None = None) -> None:
        self.name = name
        self.holder = holder
        detail = ""
        if holder is not None and holder.expires_at is not None:
            detail = f" (held until {holder.expires_at.isoformat()}, fencing token {holder.fencing_token})"
        super().__init__(f"lock {name!r} is held by another owner{detail}")


class LockBackendUnavailable(StoreUnavailable):
    """The lock store failed or refused (connection, throttling): whether the lock is free is unknown."""

    code = "lock_backend_unavailable"


class StaleFencingToken(Conflict):
    code = "stale_fencing_token"

    def __init__(self, token: int, latest_seen: int) -> None:
        self.token = token
        self.latest_seen = latest_seen
        super().__init__(f"fencing token {token} is older than {latest_seen}: the lease it came with has ended")


def check_fence(latest_seen: int | None, token: int) -> None:
    """For a protected resource: refuse a write whose token is older than the newest one it has accepted.

    An equal token passes, because one holder writes many times under one lease. The resource must store the
    newest token in the same atomic step as the write (e.g. ``UPDATE ... WHERE fence <= :token``), or two
    writers can both pass the check.
    """
    if latest_seen is not None and token < latest_seen:
        raise StaleFencingToken(token, latest_seen)


def validate_lock_name(name: str) -> None:
    """Printable, no whitespace and no braces (Redis Cluster reads ``{...}`` in a key as its hash tag)."""
    if not 0 < len(name) <= MAX_NAME_LENGTH:
        raise ValueError(f"a lock name has 1 to {MAX_NAME_LENGTH} characters")
    if any(not c.isprintable() or c.isspace() or c in "{}" for c in name):
        raise ValueError(f"lock name {name!r}: no whitespace, control characters or braces")


def lease_milliseconds(lease_seconds: float) -> int:
    if not (math.isfinite(lease_seconds) and lease_seconds > 0):
        raise ValueError(f"lease_seconds must be a positive number, not {lease_seconds!r}")
    return max(1, math.ceil(lease_seconds * 1000))


def poll_delay(attempt: int, remaining_seconds: float, jitter: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1, 2, ...) before trying again.

    Doubles from 50 ms up to 1 s; ``jitter`` in [0, 1) takes up to half of it off, so waiters that failed
    together do not all come back together. Never sleeps past the deadline.
    """
    backoff = min(_MAX_POLL_SECONDS, _FIRST_POLL_SECONDS * 2.0 ** min(attempt - 1, 10))
    return max(0.0, min(remaining_seconds, backoff * (1 - jitter / 2)))


def utc_from_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


class DistributedLockManager(ABC):
    """Leases on named locks. Backends implement one acquisition attempt, ``release`` and ``renew``.

    ``clock`` gives epoch seconds: lease expiries (and, for DynamoDB, the expiry checks themselves) use it.
    Waiting uses ``monotonic`` and ``sleep``, so a clock step does not stretch or cut a wait.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    def _now_ms(self) -> int:
        return math.floor(self._clock() * 1000)

    @abstractmethod
    def _try_acquire(self, name: str, owner: str, lease_ms: int) -> Lease | LockHolder:
        """One attempt with this owner token: the new lease, or who holds the lock."""

    @abstractmethod
    def release(self, lease: Lease) -> bool:
        """End the lease if it is still this owner's and unexpired; False (and nothing changed) otherwise."""

    @abstractmethod
    def renew(self, lease: Lease, lease_seconds: float) -> Lease | None:
        """Extend to ``lease_seconds`` from now if still the owner and unexpired; the fencing token stays."""

    def acquire(self, name: str, lease_seconds: float, wait_seconds: float = 0) -> Lease | None:
        """A lease, or None if the lock stayed taken; with ``wait_seconds`` polls (with backoff) until then."""
        return self._acquire(name, lease_seconds, wait_seconds)[0]

    def _acquire(self, name: str, lease_seconds: float, wait_seconds: float) -> tuple[Lease | None, LockHolder | None]:
        validate_lock_name(name)
        lease_ms = lease_milliseconds(lease_seconds)
        if not (math.isfinite(wait_seconds) and wait_seconds >= 0):
            raise ValueError(f"wait_seconds must be zero or a positive number, not {wait_seconds!r}")
        deadline = self._monotonic() + wait_seconds
        attempt = 0
        while True:
            attempt += 1
            result = self._try_acquire(name, uuid.uuid4().hex, lease_ms)
            if isinstance(result, Lease):
                return result, None
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return None, result
            self._sleep(poll_delay(attempt, remaining, random.random()))  # noqa: S311 (jitter, not a secret)

    @contextmanager
    def hold(self, name: str, lease_seconds: float, wait_seconds: float = 0) -> Iterator[Lease]:
        """Hold the lock for the block; ``LockNotAcquired`` if it is taken (after ``wait_seconds``)."""
        lease, holder = self._acquire(name, lease_seconds, wait_seconds)
        if lease is None:
            raise LockNotAcquired(name, holder)
        try:
            yield lease
        finally:
            # A failed release must not hide how the block ended: the lease runs out by itself.
            try:
                released = self.release(lease)
            except LockBackendUnavailable:
                log.warning("lock %r not released (backend unavailable); it expires at %s", name, lease.expires_at)
            else:
                if not released:
                    log.warning("lock %r: the lease had expired before the block ended", name)
