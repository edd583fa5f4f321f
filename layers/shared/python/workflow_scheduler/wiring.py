"""The composition root: every handler's services, built on the real adapters from its typed settings (the
handlers, the CLI and the benchmarks use it; nothing else builds adapters for a domain service).

Each function imports what its own services need when it is called, not at the top: a handler's cold start then
pays only for its own path (the dispatch function never loads the deployment code, the webhook function never
loads EventBridge Scheduler's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from workflow_scheduler.adapters.postgres import Database
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.settings import (
    ApiSettings,
    CronSettings,
    DatabaseSettings,
    DispatchSettings,
    EmailPollerSettings,
    EmailSettings,
    GithubAppSettings,
    GithubRedeliverySettings,
    GithubRouterSettings,
    GithubWebhookSettings,
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
    from workflow_scheduler.adapters.github_app import GithubAppClient
    from workflow_scheduler.adapters.imap_connector import MailboxConnector, ServiceMailbox
    from workflow_scheduler.adapters.scheduler import EventBridgeSchedules, SchedulerTarget
    from workflow_scheduler.domain.delivery import Deliverer
    from workflow_scheduler.domain.deployments import DeploymentService
    from workflow_scheduler.domain.dispatch import Dispatcher
    from workflow_scheduler.domain.firing import FiringService, SecretOwnerCheck, SecretReader, TriggerFiring
    from workflow_scheduler.domain.history import History
    from workflow_scheduler.domain.retention import HistoryRetention
    from workflow_scheduler.domain.secret_adoption import AdoptionReport
    from workflow_scheduler.domain.triggers.cron.firing import CronInvocation
    from workflow_scheduler.domain.triggers.cron.reconcile import Reconciler
    from workflow_scheduler.domain.triggers.email.mailbox import Mailbox
    from workflow_scheduler.domain.triggers.email.poll import MailboxAccess
    from workflow_scheduler.domain.triggers.email.registrar import EmailDeployDeps
    from workflow_scheduler.domain.triggers.email.service import DefaultMailbox, EmailPollService
    from workflow_scheduler.domain.triggers.github.ingress import GithubIngress
    from workflow_scheduler.domain.triggers.github.redelivery import RedeliverySweep
    from workflow_scheduler.domain.triggers.github.router import GithubRouter
    from workflow_scheduler.domain.triggers.manual.firing import ManualRequest
    from workflow_scheduler.domain.triggers.registrar import TriggerRegistrar
    from workflow_scheduler.domain.triggers.webhook.firing import WebhookRequest


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


def registrars(
    scheduler: SchedulerSettings | None = None, *, email: EmailDeployDeps | None = None
) -> list[TriggerRegistrar]:
    """The trigger types whose firing path exists here; any other subtype is refused at deploy."""
    from workflow_scheduler.domain.triggers import registrars as available
    from workflow_scheduler.domain.triggers.registrar import RegistrarDeps

    store = schedules(scheduler) if scheduler is not None and scheduler.scheduler_configured else None
    return available(RegistrarDeps(schedules=store, email=email))


def service_mailbox(settings: EmailSettings) -> ServiceMailbox:
    """The service-wide mailbox of e-mail triggers that name none: from variables locally, a secret in AWS."""
    from workflow_scheduler.adapters.imap_connector import ServiceMailbox
    from workflow_scheduler.adapters.secrets import read_secret

    return ServiceMailbox(
        server=settings.imap_server,
        username=settings.email_user,
        password=settings.email_password,
        use_ssl=settings.imap_use_ssl,
        secret_arn=settings.email_mailbox_secret_arn,
        read_secret=read_secret,
    )


def email_deploy(db: Database, settings: EmailSettings) -> EmailDeployDeps:
    """What deploying an e-mail trigger needs: a login with the secrets as they are now, the cursors. The IMAP
    adapters load at the first e-mail deploy, not at the api function's cold start (they cost ~150 ms)."""
    from workflow_scheduler.adapters.email_store import PostgresEmailStore
    from workflow_scheduler.domain.triggers.email.registrar import EmailDeployDeps

    mailbox = cache(partial(service_mailbox, settings))

    @cache
    def connector() -> MailboxConnector:
        from workflow_scheduler.adapters.imap_connector import MailboxConnector
        from workflow_scheduler.adapters.outbound import Destinations
        from workflow_scheduler.adapters.secrets import read_secret

        destinations = Destinations(settings.outbound_policy())
        return MailboxConnector(read_secret, mailbox(), destinations=destinations, always_fresh=True)

    def open_mailbox(access: MailboxAccess) -> Mailbox:
        return connector()(access)

    def default_mailbox() -> DefaultMailbox | None:
        return mailbox()()

    return EmailDeployDeps(
        open_mailbox=open_mailbox,
        cursors=PostgresEmailStore(db),
        default_mailbox=default_mailbox,
        default_interval=timedelta(seconds=settings.email_check_interval),
        min_interval=timedelta(seconds=settings.email_min_check_interval),
        outbound=settings.outbound_policy(),
    )


def deployment_service(
    db: Database,
    scheduler: SchedulerSettings | None = None,
    *,
    max_triggers: int | None = None,
    email: EmailSettings | None = None,
) -> DeploymentService:
    from workflow_scheduler.adapters.concurrency import thread_pool_runner
    from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
    from workflow_scheduler.adapters.secret_store import SecretsManagerStore
    from workflow_scheduler.domain.deployments import DEFAULT_MAX_TRIGGERS, DeploymentService
    from workflow_scheduler.domain.triggers.manager import TriggerManager
    from workflow_scheduler.observability import logger

    def report(failed: list[str]) -> None:
        logger.error("compensation failed; run reconcile", extra={"event": "compensation_failed", "actions": failed})

    return DeploymentService(
        PostgresDeploymentStore(db),
        # E-mail deploys write cursors from the deploy's side-effect threads, while its transaction holds ``db``.
        TriggerManager(registrars(scheduler, email=email_deploy(db.sibling(), email) if email is not None else None)),
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


def trigger_firing(
    trigger_type: TriggerType,
    db: Database,
    dispatch_queue_url: str,
    *,
    read_secret: SecretReader | None = None,
    check_secret: SecretOwnerCheck | None = None,
    max_body_bytes: int | None = None,
) -> TriggerFiring[Any]:
    """A type's firing (the registry's) on the firing store and the dispatch queue, with what else it needs."""
    from workflow_scheduler.domain.firing import FiringDeps
    from workflow_scheduler.domain.triggers import firing

    store, service = firing_service(db, dispatch_queue_url)
    deps = FiringDeps(store, service, read_secret, check_secret, max_body_bytes)
    return firing(trigger_type, deps)


def history(db: Database, stale_after: timedelta, email_check_interval: timedelta | None = None) -> History:
    """Firings and trigger health; with ``email_check_interval`` (the poller's default), e-mail polls' health too."""
    from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
    from workflow_scheduler.adapters.email_store import PostgresEmailStore
    from workflow_scheduler.adapters.firing_store import PostgresFiringStore
    from workflow_scheduler.domain.history import History
    from workflow_scheduler.domain.triggers.email.health import EmailPollHealth

    polls = EmailPollHealth(PostgresEmailStore(db), email_check_interval) if email_check_interval else None
    return History(PostgresDeploymentStore(db), PostgresFiringStore(db), stale_after, polls=polls)


@dataclass(frozen=True)
class ApiServices:
    database: Database
    deployments: DeploymentService
    manual: TriggerFiring[ManualRequest]
    history: History


def api_services(settings: ApiSettings) -> ApiServices:
    """The api function's: deployments, manual runs and the firing history, on one connection pool."""
    db = connection_pool(settings)
    return ApiServices(
        database=db,
        deployments=deployment_service(db, settings, max_triggers=settings.max_triggers_per_workflow, email=settings),
        manual=trigger_firing(TriggerType.MANUAL, db, settings.dispatch_queue_url),
        history=history(
            db,
            timedelta(seconds=settings.firing_stale_after_seconds),
            timedelta(seconds=settings.email_check_interval),
        ),
    )


def webhook_firing(settings: WebhookSettings) -> TriggerFiring[WebhookRequest]:
    """The webhook function's: each request's trigger, its auth (secrets read with their owner checked), firing."""
    from workflow_scheduler.adapters.secrets import SecretOwnership, read_secret

    return trigger_firing(
        TriggerType.WEBHOOK,
        connection_pool(settings),
        settings.dispatch_queue_url,
        read_secret=read_secret,
        check_secret=SecretOwnership(),
        max_body_bytes=settings.webhook_max_body_bytes,
    )


def cron_firing(settings: CronSettings) -> TriggerFiring[CronInvocation]:
    """The cron function's: a scheduled invocation to its firing."""
    return trigger_firing(TriggerType.CRON, connection_pool(settings), settings.dispatch_queue_url)


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
    from workflow_scheduler.adapters.concurrency import RateLimiter
    from workflow_scheduler.adapters.locks_dynamodb import lock_manager
    from workflow_scheduler.adapters.reconcile_store import PostgresReconcileStore
    from workflow_scheduler.adapters.scheduler import EventBridgeSchedules
    from workflow_scheduler.domain.triggers.cron.reconcile import Reconciler

    if not settings.scheduler_configured:
        raise ValueError("reconcile needs SCHEDULE_GROUP_NAME, CRON_FUNCTION_ARN and SCHEDULER_ROLE_ARN")
    calls = EventBridgeSchedules(
        scheduler_target(settings), limiter=RateLimiter(settings.reconcile_calls_per_second), max_connections=1
    )
    return Reconciler(
        PostgresReconcileStore(connection_pool(settings)),
        calls,
        lock_manager(settings),
        shard_size=settings.reconcile_shard_size,
    )


def legacy_secret_adoption(db: Database, *, dry_run: bool = False) -> AdoptionReport:
    """Owner tags for the managed secrets created before secrets carried them (domain/secret_adoption.py)."""
    from workflow_scheduler.adapters.deployment_store import PostgresDeploymentStore
    from workflow_scheduler.adapters.secret_store import SecretsManagerStore
    from workflow_scheduler.domain.inline_secrets import LEGACY_PREFIX
    from workflow_scheduler.domain.secret_adoption import adopt_legacy_secrets

    refs = PostgresDeploymentStore(db).webhook_secret_refs(LEGACY_PREFIX)
    return adopt_legacy_secrets(refs, SecretsManagerStore(), dry_run=dry_run)


def github_api(settings: GithubAppSettings) -> GithubAppClient | None:
    """The GitHub App's REST client, or None without the App's id and key (what needs the API is then refused).

    In AWS the key is read from Secrets Manager once per instance: a new key (GitHub lets an App have several)
    reaches the functions as their instances are replaced.
    """
    if not settings.github_app_configured:
        return None
    from workflow_scheduler.adapters.github_app import GithubAppClient
    from workflow_scheduler.adapters.secrets import read_secret

    key = settings.github_app_private_key or read_secret(
        required(settings.github_app_private_key_secret_arn, "GITHUB_APP_PRIVATE_KEY_SECRET_ARN")
    )
    return GithubAppClient(
        required(settings.github_app_id, "GITHUB_APP_ID"),
        key,
        api_url=settings.github_api_url,
        timeout=(3.05, settings.github_api_timeout_seconds),
        max_wait_seconds=settings.github_api_max_wait_seconds,
    )


def github_ingress(settings: GithubWebhookSettings) -> GithubIngress:
    """The github function's: verify, record and queue each delivery (503 while the secret or queue is not set)."""
    from workflow_scheduler.adapters.github_queue import MissingDeliveryQueue, SqsDeliveryQueue
    from workflow_scheduler.adapters.github_store import PostgresGithubStore
    from workflow_scheduler.adapters.secrets import read_secret
    from workflow_scheduler.domain.triggers.github.ingress import (
        GithubIngress,
        GithubNotConfigured,
        webhook_secrets_from,
    )

    def secrets() -> list[str]:
        if settings.github_webhook_secret:
            return webhook_secrets_from(settings.github_webhook_secret)
        if settings.github_webhook_secret_arn:
            return webhook_secrets_from(read_secret(settings.github_webhook_secret_arn))  # cached 5 minutes
        raise GithubNotConfigured("GITHUB_WEBHOOK_SECRET_ARN is not set: GitHub deliveries cannot be verified")

    url = settings.github_events_queue_url
    return GithubIngress(
        PostgresGithubStore(connection_pool(settings)),
        SqsDeliveryQueue(url) if url else MissingDeliveryQueue(),
        secrets,
        settings.github_webhook_max_body_bytes,
    )


def github_router(settings: GithubRouterSettings) -> GithubRouter:
    """The github router's: candidates, filters, changed files and enrichment from the App, firings."""
    from workflow_scheduler.adapters.github_store import PostgresGithubStore
    from workflow_scheduler.domain.triggers.github.router import GithubRouter

    db = connection_pool(settings)
    targets, firing = firing_service(db, settings.dispatch_queue_url)
    return GithubRouter(PostgresGithubStore(db), targets, firing, github_api(settings))


def github_redelivery_sweep(settings: GithubRedeliverySettings) -> RedeliverySweep:
    """The github redelivery function's: failed deliveries never recorded, asked for again; old records pruned."""
    from workflow_scheduler.adapters.github_store import PostgresGithubStore
    from workflow_scheduler.domain.triggers.github.redelivery import RedeliverySweep, SweepLimits

    limits = SweepLimits(
        lookback=timedelta(hours=settings.github_redelivery_lookback_hours),
        max_redeliveries=settings.github_redelivery_max_per_run,
        max_attempts=settings.github_redelivery_max_attempts,
        retention=timedelta(days=settings.github_delivery_retention_days),
    )
    return RedeliverySweep(github_api(settings), PostgresGithubStore(connection_pool(settings)), limits)


def email_poll_service(settings: EmailPollerSettings) -> EmailPollService:
    """The e-mail poller's: the due e-mail triggers polled over IMAP under the mailbox locks, their firings queued,
    large attachments in S3, cursors and poll health in PostgreSQL, secrets read with their owner checked."""
    from workflow_scheduler.adapters.attachments_s3 import S3AttachmentStore
    from workflow_scheduler.adapters.concurrency import thread_pool_runner
    from workflow_scheduler.adapters.email_store import PostgresEmailStore
    from workflow_scheduler.adapters.imap_connector import MailboxConnector
    from workflow_scheduler.adapters.locks_dynamodb import lock_manager
    from workflow_scheduler.adapters.outbound import Destinations
    from workflow_scheduler.adapters.secrets import SecretOwnership, read_secret
    from workflow_scheduler.domain.triggers.email.poll import EmailPoller
    from workflow_scheduler.domain.triggers.email.service import EmailPollService

    db = connection_pool(settings)
    _, firing = firing_service(db, settings.dispatch_queue_url)
    store = PostgresEmailStore(db)
    mailbox = service_mailbox(settings)
    attachments = S3AttachmentStore(settings.email_attachments_bucket, expires_in=settings.email_attachment_url_seconds)
    connector = MailboxConnector(read_secret, mailbox, destinations=Destinations(settings.outbound_policy()))
    poller = EmailPoller(store, firing, lock_manager(settings), connector, attachments)
    return EmailPollService(
        store,
        poller,
        default_mailbox=mailbox,
        default_interval=timedelta(seconds=settings.email_check_interval),
        check_secret=SecretOwnership(),
        run_all=thread_pool_runner(settings.email_poll_concurrency),
    )


def history_retention(settings: RetentionSettings) -> HistoryRetention:
    """The retention function's (and ``workflow-scheduler retention``'s): the firing history's months."""
    from workflow_scheduler.adapters.history_partitions import PostgresHistoryPartitions
    from workflow_scheduler.domain.retention import HistoryRetention

    return HistoryRetention(PostgresHistoryPartitions(connection_pool(settings)), settings.firing_retention_days)
