"""A bounded thread pool that runs a deploy's independent outside calls at once (the domain's ``CallRunner``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from workflow_scheduler.domain.ports import CallOutcomes, CallRunner


def _outcome(call: Callable[[], object]) -> Exception | None:
    try:
        call()
    except Exception as exc:
        return exc
    return None


def thread_pool_runner(max_workers: int) -> CallRunner:
    """Run the calls on at most ``max_workers`` threads; return when every call has finished."""
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")

    def run_all(calls: Sequence[Callable[[], object]]) -> CallOutcomes:
        if len(calls) <= 1 or max_workers == 1:
            return [_outcome(call) for call in calls]
        with ThreadPoolExecutor(max_workers=min(max_workers, len(calls)), thread_name_prefix="outside-call") as pool:
            return list(pool.map(_outcome, calls))

    return run_all


class RateLimiter:
    """Calls start at least ``1 / per_second`` apart, across threads: never more than the rate in any second.

    Each call reserves the next free slot under the lock, then waits for it outside the lock.
    """

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._interval = 1 / per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = clock()

    def acquire(self) -> None:
        """Wait until a call may start."""
        with self._lock:
            now = self._clock()
            slot = max(self._next_slot, now)
            self._next_slot = slot + self._interval
            wait = slot - now
        if wait > 0:
            self._sleep(wait)
