"""Composition: the domain services built on the real adapters (used by handlers, the CLI and benchmarks)."""

from __future__ import annotations

from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.registrars import ManualRegistrar, TriggerRegistrar, WebhookRegistrar
from workflow_scheduler.domain.triggers import TriggerManager
from workflow_scheduler.observability import logger


def registrars() -> list[TriggerRegistrar]:
    """The trigger types whose firing path exists; any other subtype is refused at deploy."""
    return [ManualRegistrar(), WebhookRegistrar()]


def deployment_service(db: Database) -> DeploymentService:
    def report(failed: list[str]) -> None:
        logger.error("compensation failed; run reconcile", extra={"event": "compensation_failed", "actions": failed})

    return DeploymentService(PostgresDeploymentStore(db), TriggerManager(registrars()), on_compensation_failure=report)
