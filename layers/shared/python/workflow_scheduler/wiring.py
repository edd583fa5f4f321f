"""The composition root: every handler's services, built on the real adapters from its typed settings (the
handlers, the CLI and the benchmarks use it; nothing else builds adapters for a domain service).

Each function imports what its own services need when it is called, not at the top: a handler's cold start then
pays only for its own path (the dispatch function never loads the deployment code, the webhook function never
loads EventBridge Scheduler's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.settings import (
    ApiSettings,
    CronSettings,
    DatabaseSettings,
    DispatchSettings,
    ReconcileSettings,
    RetentionSettings,
    SchedulerSettings,
    WebhookSettings,
    required,
)

if TYPE_CHECKING:
    import requests

    from workflow_scheduler.adapters.delivery_guard import IdempotentDeliveryGuard
    from workflow_scheduler.adapters.firing_store import PostgresFiringStore
    from workflow_scheduler.adapters.scheduler import EventBridgeSchedules, SchedulerTarget
    from workflow_scheduler.domain.cron_firing import CronFirings
    from workflow_scheduler.domain.delivery import Deliverer
    from workflow_scheduler.domain.deployments import DeploymentService
    from workflow_scheduler.domain.dispatch import Dispatcher
    from workflow_scheduler.domain.firing import FiringService
    from workflow_scheduler.domain.history import History
    from workflow_scheduler.domain.manual import ManualRuns
    from workflow_scheduler.domain.reconcile import Reconciler
    from workflow_scheduler.domain.registrars import TriggerRegistrar
    from workflow_scheduler.domain.retention import HistoryRetention
    from workflow_scheduler.domain.secret_adoption import AdoptionReport
    from workflow_scheduler.domain.webhook import WebhookService


def connection_pool(settings: DatabaseSettings) -> Database:
    """The connection pool; it connects on first use, so building it at cold start costs nothing."""
    return Database(settings.conninfo, connect_timeout=settings.db_connect_timeout)


def scheduler_target(scheduler: SchedulerSettings) -> SchedulerTarget:
    from workflow_scheduler.adapters.scheduler import SchedulerTarget

    return SchedulerTarget(
        group_name=required(scheduler.schedule_group_name, "SCHEDULE_GROUP_NAME"),
        function_arn=required(scheduler.cron_function_arn, "CRON_FUNCTION_ARN"),
        role_arn=required(scheduler.scheduler_role_arn, "SCHEDULER_ROLE_ARN"),
        dead_letter_arn=scheduler.schedules_dlq_arn,
    )


def schedules(scheduler: SchedulerSettings) -> EventBridgeSchedules:
    from workflow_scheduler.adapters.concurrency import RateLimiter
    from workflow_scheduler.adapters.scheduler import EventBridgeSchedules

    return EventBridgeSchedules(
        scheduler_target(scheduler),
        limiter=RateLimiter(scheduler.scheduler_max_calls_per_second),
        max_connections=scheduler.scheduler_max_concurrency,
    )


def registrars(scheduler: SchedulerSettings | None = None) -> list[TriggerRegistrar]:
    """The trigger types whose firing path exists; any other subtype is refused at deploy."""
    from workflow_scheduler.domain.registrars import ManualRegistrar, WebhookRegistrar

    available: list[TriggerRegistrar] = [ManualRegistrar(), WebhookRegistrar()]
    if scheduler is not None and scheduler.scheduler_configured:
        from workflow_scheduler.domain.cron_registrar import CronRegistrar

        available.append(CronRegistrar(schedules(scheduler)))
    return available


def deployment_service(
    db: Database, scheduler: SchedulerSettings | None = None, *, max_triggers: int | None = None
) -> DeploymentService:
    from workflow_scheduler.adapters.concurrency import thread_pool_runner
    from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
    from workflow_scheduler.adapters.secret_store import SecretsManagerStore
    from workflow_scheduler.domain.deployments import DEFAULT_MAX_TRIGGERS, DeploymentService
    from workflow_scheduler.domain.triggers import TriggerManager
    from workflow_scheduler.observability import logger

    def report(failed: list[str]) -> None:
        logger.error("compensation failed; run reconcile", extra={"event": "compensation_failed", "actions": failed})

    return DeploymentService(
        PostgresDeploymentStore(db),
        TriggerManager(registrars(scheduler)),
        on_compensation_failure=report,
        secrets=SecretsManagerStore(),
        max_triggers=DEFAULT_MAX_TRIGGERS if max_triggers is None else max_triggers,
        run_all=thread_pool_runner(scheduler.scheduler_max_concurrency if scheduler is not None else 1),
    )


def firing_service(db: Database, dispatch_queue_url: str) -> tuple[PostgresFiringStore, FiringService]:
    from workflow_scheduler.adapters.dispatch_queue import SqsDispatchQueue
    from workflow_scheduler.adapters.firing_store import PostgresFiringStore
    from workflow_scheduler.domain.firing import FiringService

    store = PostgresFiringStore(db)
    return store, FiringService(store, SqsDispatchQueue(dispatch_queue_url))


def history(db: Database, stale_after: timedelta) -> History:
    from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
    from workflow_scheduler.adapters.firing_store import PostgresFiringStore
    from workflow_scheduler.domain.history import History

    return History(PostgresDeploymentStore(db), PostgresFiringStore(db), stale_after)


@dataclass(frozen=True)
class ApiServices:
    database: Database
    deployments: DeploymentService
    manual: ManualRuns
    history: History


def api_services(settings: ApiSettings) -> ApiServices:
    """The api function's: deployments, manual runs and the firing history, on one connection pool."""
    from workflow_scheduler.domain.manual import ManualRuns

    db = connection_pool(settings)
    store, firing = firing_service(db, settings.dispatch_queue_url)
    return ApiServices(
        database=db,
        deployments=deployment_service(db, settings, max_triggers=settings.max_triggers_per_workflow),
        manual=ManualRuns(store, firing),
        history=history(db, timedelta(seconds=settings.firing_stale_after_seconds)),
    )


def webhook_service(settings: WebhookSettings) -> WebhookService:
    """The webhook function's: each request's trigger, its auth (secrets read with their owner checked), firing."""
    from workflow_scheduler.adapters.secrets import SecretOwnership, read_secret
    from workflow_scheduler.domain.webhook import WebhookService

    store, firing = firing_service(connection_pool(settings), settings.dispatch_queue_url)
    return WebhookService(store, firing, read_secret, settings.webhook_max_body_bytes, check_secret=SecretOwnership())


def cron_firings(settings: CronSettings) -> CronFirings:
    """The cron function's: a scheduled invocation to its firing."""
    from workflow_scheduler.domain.cron_firing import CronFirings

    store, firing = firing_service(connection_pool(settings), settings.dispatch_queue_url)
    return CronFirings(store, firing)


@dataclass(frozen=True)
class DispatchServices:
    dispatcher: Dispatcher
    guard: IdempotentDeliveryGuard  # told of each invocation: Powertools idempotency needs its context


def dispatch_services(settings: DispatchSettings, session: requests.Session) -> DispatchServices:
    """The dispatch function's: firings delivered to the engine over ``session`` (testing mode: mailed) once."""
    from workflow_scheduler.adapters.delivery_guard import IdempotentDeliveryGuard
    from workflow_scheduler.adapters.firing_store import PostgresFiringStore
    from workflow_scheduler.domain.dispatch import Dispatcher, RetryPolicy

    guard = IdempotentDeliveryGuard(settings.state_table_name, settings.dispatch_idempotency_hours * 3600)
    dispatcher = Dispatcher(
        PostgresFiringStore(connection_pool(settings)),
        _deliverer(settings, session),
        guard,
        RetryPolicy(
            max_attempts=settings.dispatch_max_attempts,
            base_seconds=settings.dispatch_backoff_base_seconds,
            max_seconds=settings.dispatch_backoff_max_seconds,
        ),
    )
    return DispatchServices(dispatcher=dispatcher, guard=guard)


def _deliverer(settings: DispatchSettings, session: requests.Session) -> Deliverer:
    if settings.testing_mode:
        from workflow_scheduler.adapters.testing_mailer import MailNotifier  # only testing mode needs it

        return MailNotifier(settings)
    from workflow_scheduler.adapters.engine import EngineDeliverer

    return EngineDeliverer(
        settings.workflow_engine_url,
        session,
        connect_timeout=settings.engine_connect_timeout_seconds,
        read_timeout=settings.engine_read_timeout_seconds,
    )


def reconciler(settings: ReconcileSettings) -> Reconciler:
    """The reconcile function's (and ``workflow-scheduler reconcile``'s): the schedule group against the index."""
    from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
    from workflow_scheduler.adapters.locks_dynamodb import lock_manager
    from workflow_scheduler.domain.reconcile import Reconciler

    if not settings.scheduler_configured:
        raise ValueError("reconcile needs SCHEDULE_GROUP_NAME, CRON_FUNCTION_ARN and SCHEDULER_ROLE_ARN")
    return Reconciler(PostgresDeploymentStore(connection_pool(settings)), schedules(settings), lock_manager(settings))


def legacy_secret_adoption(db: Database, *, dry_run: bool = False) -> AdoptionReport:
    """Owner tags for the managed secrets created before secrets carried them (domain/secret_adoption.py)."""
    from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
    from workflow_scheduler.adapters.secret_store import SecretsManagerStore
    from workflow_scheduler.domain.inline_secrets import MANAGED_PREFIX
    from workflow_scheduler.domain.secret_adoption import adopt_legacy_secrets

    refs = PostgresDeploymentStore(db).webhook_secret_refs(MANAGED_PREFIX)
    return adopt_legacy_secrets(refs, SecretsManagerStore(), dry_run=dry_run)


def history_retention(settings: RetentionSettings) -> HistoryRetention:
    """The retention function's (and ``workflow-scheduler retention``'s): the firing history's months."""
    from workflow_scheduler.adapters.history_partitions import PostgresHistoryPartitions
    from workflow_scheduler.domain.retention import HistoryRetention

    return HistoryRetention(PostgresHistoryPartitions(connection_pool(settings)), settings.firing_retention_days)
