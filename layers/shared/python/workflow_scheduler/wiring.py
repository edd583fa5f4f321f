"""Composition: the domain services built on the real adapters (used by handlers, the CLI and benchmarks)."""

from __future__ import annotations

from datetime import timedelta

from workflow_scheduler.adapters.concurrency import RateLimiter, thread_pool_runner
from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
from workflow_scheduler.adapters.dispatch_queue import SqsDispatchQueue
from workflow_scheduler.adapters.firing_store import PostgresFiringStore
from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.adapters.scheduler import EventBridgeSchedules, SchedulerTarget
from workflow_scheduler.adapters.secret_store import SecretsManagerStore
from workflow_scheduler.domain.cron_firing import CronFirings
from workflow_scheduler.domain.cron_registrar import CronRegistrar
from workflow_scheduler.domain.deployments import DEFAULT_MAX_TRIGGERS, DeploymentService
from workflow_scheduler.domain.firing import FiringService
from workflow_scheduler.domain.history import History
from workflow_scheduler.domain.inline_secrets import MANAGED_PREFIX
from workflow_scheduler.domain.manual import ManualRuns
from workflow_scheduler.domain.reconcile import Reconciler
from workflow_scheduler.domain.registrars import ManualRegistrar, TriggerRegistrar, WebhookRegistrar
from workflow_scheduler.domain.secret_adoption import AdoptionReport, adopt_legacy_secrets
from workflow_scheduler.domain.triggers import TriggerManager
from workflow_scheduler.observability import logger
from workflow_scheduler.settings import ReconcileSettings, SchedulerSettings, required


def scheduler_target(scheduler: SchedulerSettings) -> SchedulerTarget:
    return SchedulerTarget(
        group_name=required(scheduler.schedule_group_name, "SCHEDULE_GROUP_NAME"),
        function_arn=required(scheduler.cron_function_arn, "CRON_FUNCTION_ARN"),
        role_arn=required(scheduler.scheduler_role_arn, "SCHEDULER_ROLE_ARN"),
        dead_letter_arn=scheduler.schedules_dlq_arn,
    )


def schedules(scheduler: SchedulerSettings) -> EventBridgeSchedules:
    return EventBridgeSchedules(
        scheduler_target(scheduler),
        limiter=RateLimiter(scheduler.scheduler_max_calls_per_second),
        max_connections=scheduler.scheduler_max_concurrency,
    )


def registrars(scheduler: SchedulerSettings | None = None) -> list[TriggerRegistrar]:
    """The trigger types whose firing path exists; any other subtype is refused at deploy."""
    available: list[TriggerRegistrar] = [ManualRegistrar(), WebhookRegistrar()]
    if scheduler is not None and scheduler.scheduler_configured:
        available.append(CronRegistrar(schedules(scheduler)))
    return available


def deployment_service(
    db: Database, scheduler: SchedulerSettings | None = None, *, max_triggers: int = DEFAULT_MAX_TRIGGERS
) -> DeploymentService:
    def report(failed: list[str]) -> None:
        logger.error("compensation failed; run reconcile", extra={"event": "compensation_failed", "actions": failed})

    return DeploymentService(
        PostgresDeploymentStore(db),
        TriggerManager(registrars(scheduler)),
        on_compensation_failure=report,
        secrets=SecretsManagerStore(),
        max_triggers=max_triggers,
        run_all=thread_pool_runner(scheduler.scheduler_max_concurrency if scheduler is not None else 1),
    )


def firing_service(db: Database, dispatch_queue_url: str) -> tuple[PostgresFiringStore, FiringService]:
    store = PostgresFiringStore(db)
    return store, FiringService(store, SqsDispatchQueue(dispatch_queue_url))


def manual_runs(db: Database, dispatch_queue_url: str) -> ManualRuns:
    store, firing = firing_service(db, dispatch_queue_url)
    return ManualRuns(store, firing)


def history(db: Database, stale_after: timedelta) -> History:
    return History(PostgresDeploymentStore(db), PostgresFiringStore(db), stale_after)


def cron_firings(db: Database, dispatch_queue_url: str) -> CronFirings:
    store, firing = firing_service(db, dispatch_queue_url)
    return CronFirings(store, firing)


def reconciler(db: Database, settings: ReconcileSettings) -> Reconciler:
    from workflow_scheduler.adapters.locks_dynamodb import lock_manager

    if not settings.scheduler_configured:
        raise ValueError("reconcile needs SCHEDULE_GROUP_NAME, CRON_FUNCTION_ARN and SCHEDULER_ROLE_ARN")
    return Reconciler(PostgresDeploymentStore(db), schedules(settings), lock_manager(settings))


def legacy_secret_adoption(db: Database, *, dry_run: bool = False) -> AdoptionReport:
    """Owner tags for the managed secrets created before secrets carried them (domain/secret_adoption.py)."""
    refs = PostgresDeploymentStore(db).webhook_secret_refs(MANAGED_PREFIX)
    return adopt_legacy_secrets(refs, SecretsManagerStore(), dry_run=dry_run)
