"""Powertools Logger, Metrics and Tracer shared by every function (log fields: docs/architecture.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "workflow_scheduler"
NAMESPACE = "WorkflowScheduler"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def log_event(event: str, **fields: Any) -> None:
    """One structured line per domain event: ``event`` plus the seed's fields (workflow_id, status, ...)."""
    logger.info(event, extra={"event": event, **fields})
