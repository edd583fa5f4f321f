"""Dispatching one message of the dispatch queue: deliver the firing once, record the outcome, schedule a retry.

The queue's receive count is the attempt number. After ``max_attempts`` receives the queue moves a message to
its dead-letter queue, so a transient failure on the last attempt is recorded as ``parked``; ``dlq redrive``
sends it again. Retries wait ``base * 2**(attempt-1)`` seconds (capped, with jitter) by delaying the message's
next delivery; the execution id travels unchanged, so the engine can deduplicate by its ``Idempotency-Key``.

A message this release cannot read as a firing is never dropped silently: its firing (found by the execution id
in the body or beside it) is marked retrying, then parked with the reason, like an engine outage, and the
message reaches the dead-letter queue, from which ``dlq redrive`` replays it (e.g. after a fix).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from workflow_scheduler.domain.delivery import Deliverer, Delivery, DeliveryResult
from workflow_scheduler.domain.firing import FiringStatus, TriggerEvent

_MAX_DOUBLINGS = 60  # 2**60 seconds is past any cap; keeps the arithmetic finite for absurd attempt numbers


class DispatchStore(Protocol):
    def payload(self, execution_id: str) -> dict[str, Any] | None:
        """The data of a firing too large for its queue message, or None if it is not stored (yet)."""

    def update(
        self,
        event: TriggerEvent,
        status: FiringStatus,
        *,
        attempts: int,
        error: str | None = None,
        latency_ms: int | None = None,
        dispatched_at: datetime | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...

    def mark(self, execution_id: str, status: FiringStatus, *, attempts: int, error: str) -> bool:
        """Set the status of a firing not yet resolved (queued, retrying, parked); False if there is none."""


@dataclass(frozen=True)
class GuardedDelivery:
    delivery: Delivery
    # The remembered outcome of an earlier delivery of the same execution id: the deliverer was not called.
    replayed: bool = False


class DeliveryGuard(Protocol):
    def deliver_once(self, event: TriggerEvent, deliver: Callable[[TriggerEvent], Delivery]) -> GuardedDelivery:
        """Call ``deliver`` unless this execution id was already delivered or rejected.

        A DELIVERED or REJECTED outcome is remembered and replayed to later deliveries of the same execution id;
        a RETRY is forgotten, so the next attempt calls ``deliver`` again.
        """


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # the queue's maxReceiveCount: the last attempt before the dead-letter queue
    base_seconds: float
    max_seconds: float
    jitter_ratio: float = 0.2  # up to 20% on top, so firings failed together do not come back together

    def delay_seconds(self, attempt: int, *, jitter: float, at_least: float | None = None) -> int:
        """Seconds before attempt ``attempt + 1``; ``jitter`` in [0, 1), ``at_least`` e.g. the Retry-After."""
        backoff = min(self.max_seconds, self.base_seconds * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))
        delay = max(backoff * (1 + self.jitter_ratio * jitter), at_least or 0.0)
        return math.ceil(min(delay, self.max_seconds))  # SQS takes whole seconds


@dataclass(frozen=True)
class DispatchReport:
    """What became of one queue message."""

    attempt: int
    event: TriggerEvent | None  # None: the message is not a TriggerEvent
    status: FiringStatus | None  # what was recorded; None when there was nothing to record
    delivery: Delivery | None = None
    replayed: bool = False
    # Set when the message must stay on the queue: deliver it again after this many seconds.
    retry_in_seconds: int | None = None
    error: str | None = None
    unreadable_execution_id: str | None = None  # the firing of an unreadable message, when it could be recovered


class Dispatcher:
    def __init__(
        self,
        store: DispatchStore,
        deliverer: Deliverer,
        guard: DeliveryGuard,
        policy: RetryPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._deliverer = deliverer
        self._guard = guard
        self._policy = policy
        self._clock = clock
        self._jitter = jitter

    def dispatch(self, body: str, attempt: int, execution_id: str | None = None) -> DispatchReport:
        """``execution_id``: the one the sender put beside the body (a message attribute), if any."""
        attempt = max(1, attempt)
        # Python's parser, not pydantic's (which stops at 200 levels): firings queued before the depth limit
        # existed (the old writer went up to ~250 levels) are read and delivered.
        try:
            message = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return self._unreadable(None, f"not JSON ({type(exc).__name__})", attempt, execution_id)
        try:
            event = TriggerEvent.model_validate(message)
        except ValidationError as exc:
            return self._unreadable(message, _problems(exc), attempt, execution_id)
        if event.payload_stored:
            data = self._store.payload(event.execution_id)
            if data is None:  # the claim that stores it may not have committed yet
                missing = Delivery(DeliveryResult.RETRY, 0, error="the firing's data is not in the store yet")
                return self._record(event, GuardedDelivery(missing), attempt)
            event = event.model_copy(update={"data": data, "payload_stored": False})
        return self._record(event, self._guard.deliver_once(event, self._deliverer.deliver), attempt)

    def _unreadable(self, message: Any, problem: str, attempt: int, hint: str | None) -> DispatchReport:
        """Retried like a transient failure (a claim not committed yet, a fix on its way), then parked."""
        found = message.get("execution_id") if isinstance(message, dict) else None
        execution_id = found if isinstance(found, str) and found else hint
        error = f"the dispatcher cannot read this firing's message: {problem}"
        last = attempt >= self._policy.max_attempts
        status = FiringStatus.PARKED if last else FiringStatus.RETRYING
        if last:
            error = _parked(error, attempt)
        recorded = execution_id is not None and self._store.mark(execution_id, status, attempts=attempt, error=error)
        delay = 0 if last else self._policy.delay_seconds(attempt, jitter=self._jitter())
        return DispatchReport(
            attempt,
            None,
            status if recorded else None,
            retry_in_seconds=delay,
            error=error,
            unreadable_execution_id=execution_id,
        )

    def _record(self, event: TriggerEvent, guarded: GuardedDelivery, attempt: int) -> DispatchReport:
        delivery = guarded.delivery
        detail = _detail(delivery)
        if delivery.result is DeliveryResult.DELIVERED:
            self._store.update(
                event,
                FiringStatus.DISPATCHED,
                attempts=attempt,
                latency_ms=delivery.latency_ms,
                dispatched_at=self._clock(),
                detail=detail,
            )
            return DispatchReport(attempt, event, FiringStatus.DISPATCHED, delivery, guarded.replayed)
        if delivery.result is DeliveryResult.REJECTED:
            self._store.update(
                event,
                FiringStatus.FAILED,
                attempts=attempt,
                error=delivery.error,
                latency_ms=delivery.latency_ms,
                detail=detail,
            )
            return DispatchReport(attempt, event, FiringStatus.FAILED, delivery, guarded.replayed, error=delivery.error)
        if attempt >= self._policy.max_attempts:
            error = _parked(delivery.error, attempt)
            self._store.update(event, FiringStatus.PARKED, attempts=attempt, error=error, detail=detail)
            # Visible again at once: the queue's next receive moves it to the dead-letter queue.
            return DispatchReport(attempt, event, FiringStatus.PARKED, delivery, retry_in_seconds=0, error=error)
        self._store.update(event, FiringStatus.RETRYING, attempts=attempt, error=delivery.error, detail=detail)
        delay = self._policy.delay_seconds(attempt, jitter=self._jitter(), at_least=delivery.retry_after_seconds)
        return DispatchReport(
            attempt, event, FiringStatus.RETRYING, delivery, retry_in_seconds=delay, error=delivery.error
        )


def _parked(error: str | None, attempt: int) -> str:
    return f"{error} (gave up after {attempt} attempts: parked in the dead-letter queue)"


def _problems(exc: ValidationError) -> str:
    """The first few validation errors, by field: enough to find what is wrong, never the data itself."""
    found = [f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors(include_input=False)[:3]]
    more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(found) + more


def _detail(delivery: Delivery) -> dict[str, Any]:
    """What the audit row keeps of the receiver's answer."""
    detail: dict[str, Any] = {}
    if delivery.status_code is not None:
        detail["status_code"] = delivery.status_code
    if delivery.detail:
        detail["response"] = delivery.detail
    return detail
