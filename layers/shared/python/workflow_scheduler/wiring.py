"""Composition: the domain services built on the real adapters (used by handlers, the CLI and benchmarks)."""

from __future__ import annotations

from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.dispatch_queue import SqsDispatchQueue
from workflow_scheduler.adapters.firing_store import PostgresFiringStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.adapters.secret_store import SecretsManagerStore
from workflow_scheduler.domain.deployments import DeploymentService
from workflow_scheduler.domain.firing import FiringService
from workflow_scheduler.domain.history import History
from workflow_scheduler.domain.manual import ManualRuns
from workflow_scheduler.domain.registrars import ManualRegistrar, TriggerRegistrar, WebhookRegistrar
from workflow_scheduler.domain.triggers import TriggerManager
from workflow_scheduler.observability import logger


def registrars() -> list[TriggerRegistrar]:
    """The trigger types whose firing path exists; any other subtype is refused at deploy."""
    return [ManualRegistrar(), WebhookRegistrar()]


def deployment_service(db: Database) -> DeploymentService:
    def report(failed: list[str]) -> None:
        logger.error("compensation failed; run reconcile", extra={"event": "compensation_failed", "actions": failed})

    return DeploymentService(
        PostgresDeploymentStore(db),
        TriggerManager(registrars()),
        on_compensation_failure=report,
        secrets=SecretsManagerStore(),
    )


def firing_service(db: Database, dispatch_queue_url: str) -> tuple[PostgresFiringStore, FiringService]:
    store = PostgresFiringStore(db)
    return store, FiringService(store, SqsDispatchQueue(dispatch_queue_url))


def manual_runs(db: Database, dispatch_queue_url: str) -> ManualRuns:
    store, firing = firing_service(db, dispatch_queue_url)
    return ManualRuns(store, firing)


def history(db: Database) -> History:
    return History(PostgresDeploymentStore(db), PostgresFiringStore(db))
