"""Delivering a firing: to the workflow engine, or (testing mode) as a notification e-mail instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from workflow_scheduler.domain.firing import TriggerEvent


class DeliveryResult(StrEnum):
    DELIVERED = "delivered"  # done: record as dispatched
    RETRY = "retry"  # transient failure (408, 429, 5xx, timeout, connection): deliver again later
    REJECTED = "rejected"  # permanent failure (another 4xx): record as failed, never retry


@dataclass(frozen=True)
class Delivery:
    result: DeliveryResult
    latency_ms: int
    status_code: int | None = None
    error: str | None = None  # what the receiver said, for the audit row (never a secret)
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. the engine's answer
    retry_after_seconds: float | None = None  # RETRY: the receiver asked to wait at least this long (Retry-After)


class Deliverer(Protocol):
    def deliver(self, event: TriggerEvent) -> Delivery: ...
