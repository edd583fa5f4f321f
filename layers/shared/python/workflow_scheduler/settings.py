"""Typed settings, read once at cold start. Each function composes the parts it needs.

Domain code never reads the environment: handlers build their settings model and pass values down.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Self
from urllib.parse import quote

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from workflow_scheduler.domain.outbound import IPNetwork, OutboundPolicy, private_networks
from workflow_scheduler.domain.retention import DEFAULT_RETENTION_DAYS, RetentionTooShort, retention_period


def environment_variables(settings: type[BaseModel]) -> dict[str, str]:
    """Each field's environment variable, by field name."""
    return {
        name: (info.validation_alias if isinstance(info.validation_alias, str) else name).upper()
        for name, info in settings.model_fields.items()
    }


def required(value: str | None, variable: str) -> str:
    """A setting the caller's path needs (the validators make sure of it); a ``ValueError`` naming it if unset."""
    if not value:
        raise ValueError(f"{variable} is not set")
    return value


class _Part(BaseModel):
    """Each field is read from the environment variable of its name (or its alias) in upper case; arguments win.

    That is all pydantic-settings would do for us here, and it costs ~250 ms of import on every cold start.
    A field whose name differs from the variable the deployed stack sets carries that variable as its alias.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True)

    @classmethod
    def from_environment(cls) -> Self:
        """The settings as the environment gives them (read once, at cold start)."""
        return cls.model_validate({})

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        variables = environment_variables(cls).items()
        environment = {name: os.environ[variable] for name, variable in variables if variable in os.environ}
        return {**environment, **data}


class DatabaseSettings(_Part):
    """Either ``DATABASE_URL`` (local, tests) or the RDS secret plus the RDS Proxy endpoint (AWS)."""

    database_url: str | None = None
    db_secret_arn: str | None = None
    db_host: str | None = None  # RDS Proxy endpoint; overrides the host in the secret
    db_name: str = "workflow_scheduler"
    db_connect_timeout: int = Field(default=5, ge=1, le=60)

    @model_validator(mode="after")
    def _one_source(self) -> DatabaseSettings:
        if not self.database_url and not self.db_secret_arn:
            raise ValueError("set DATABASE_URL, or DB_SECRET_ARN with DB_HOST")
        return self

    def conninfo(self, *, fresh: bool = False) -> str:
        """The connection string; in AWS the credentials come from Secrets Manager (cached by Parameters).

        ``fresh`` skips the cache: after a rotation the cached password fails until it is read again.
        """
        if self.database_url:
            return self.database_url
        from aws_lambda_powertools.utilities.parameters import get_secret  # only the AWS path needs it

        secret_arn = required(self.db_secret_arn, "DB_SECRET_ARN")
        secret: dict[str, Any] = get_secret(secret_arn, transform="json", max_age=300, force_fetch=fresh)
        host = self.db_host or secret["host"]
        user, password = quote(secret["username"], safe=""), quote(secret["password"], safe="")
        port = secret.get("port", 5432)
        return f"postgresql://{user}:{password}@{host}:{port}/{self.db_name}?sslmode=require"


class AuthSettings(_Part):
    """Bearer JWTs: HS256 with a secret in Secrets Manager, or RS256 against a JWKS URL."""

    jwt_secret_arn: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)

    @model_validator(mode="after")
    def _one_key_source(self) -> AuthSettings:
        if bool(self.jwt_secret_arn) == bool(self.jwt_jwks_url):
            raise ValueError("set exactly one of JWT_SECRET_ARN (HS256) and JWT_JWKS_URL (RS256)")
        return self


class FiringSettings(_Part):
    """Where accepted firings go: the dispatch queue (SQS)."""

    dispatch_queue_url: str


class DeadLetterSettings(FiringSettings):
    """``workflow-scheduler dlq redrive``: the dispatch queue and, if not its redrive policy's, its dead letters."""

    dispatch_dlq_url: str | None = None


class LocalSystemSettings(_Part):
    """Where ``workflow-scheduler dev`` listens by default."""

    host: str = "127.0.0.1"
    port: int = 8003


class SchedulerSettings(_Part):
    """EventBridge Scheduler for cron triggers; without it, cron triggers are refused at deploy."""

    schedule_group_name: str | None = None
    cron_function_arn: str | None = None  # the target of every schedule
    scheduler_role_arn: str | None = None  # the role EventBridge Scheduler assumes to invoke it
    schedules_dlq_arn: str | None = None  # invocations that failed every retry land here
    # A deploy's schedule calls run this many at once, within a rate per function instance: 100/s is well under
    # the lowest documented default quota per call type (250 TPS outside the primary Regions; see decisions.md),
    # leaving room for other deploys; throttled calls back off.
    scheduler_max_concurrency: int = Field(default=8, ge=1, le=64)
    scheduler_max_calls_per_second: float = Field(default=100.0, gt=0, le=10_000)

    @property
    def scheduler_configured(self) -> bool:
        return bool(self.schedule_group_name and self.cron_function_arn and self.scheduler_role_arn)


class LockSettings(_Part):
    """Which lock backend: ``LOCK_BACKEND`` (dynamodb, the default, or redis) with what it needs.

    DynamoDB uses the state table (``STATE_TABLE_NAME``); Redis needs ``REDIS_URL``.
    """

    lock_backend: Literal["dynamodb", "redis"] = "dynamodb"
    state_table_name: str | None = None
    redis_url: str | None = None

    @model_validator(mode="after")
    def _backend_configured(self) -> LockSettings:
        if self.lock_backend == "dynamodb" and not self.state_table_name:
            raise ValueError("LOCK_BACKEND=dynamodb needs STATE_TABLE_NAME")
        if self.lock_backend == "redis" and not self.redis_url:
            raise ValueError("LOCK_BACKEND=redis needs REDIS_URL")
        return self


def _networks(value: object) -> object:
    return private_networks(value) if isinstance(value, str) else value


class EmailSettings(_Part):
    """E-mail triggers, for the poller and for deploys (the api function checks each mailbox): how often a trigger
    is polled when it sets no ``check_interval``, the smallest it may set, and the service-wide mailbox for triggers
    that name none (seed: ``IMAP_SERVER``, ``EMAIL_USER``, ``EMAIL_PASSWORD``; in AWS one JSON secret with those
    keys, ``EMAIL_MAILBOX_SECRET_ARN``)."""

    email_check_interval: int = Field(default=60, ge=1, le=24 * 3600)  # seconds, for triggers that set none
    # In AWS the poller runs every minute; the local system polls more often and lowers it (local/dev.py).
    email_min_check_interval: int = Field(default=60, ge=1, le=24 * 3600)
    imap_server: str | None = None  # host or host:port
    imap_use_ssl: bool = True
    email_user: str | None = None
    email_password: str | None = Field(default=None, repr=False)  # locally only: in AWS it stays in the secret
    email_mailbox_secret_arn: str | None = None
    # Development and tests only (local/dev.py turns it on): a trigger may then name loopback and private addresses,
    # any port, and an http token endpoint on loopback. Never in AWS: a tenant could make the functions connect
    # inside the VPC or to the Lambda Runtime API (docs/decisions.md, "Outbound destinations of e-mail triggers").
    email_allow_private_destinations: bool = False
    # The operator's own mail servers in private address space (comma-separated CIDRs; CDK context
    # emailAllowedPrivateCidrs), reachable on the IMAP ports like public ones.
    email_allowed_private_cidrs: Annotated[tuple[IPNetwork, ...], BeforeValidator(_networks)] = ()

    def outbound_policy(self) -> OutboundPolicy:
        """Where e-mail triggers may make the functions connect (domain/outbound.py)."""
        return OutboundPolicy(self.email_allow_private_destinations, self.email_allowed_private_cidrs)

    @model_validator(mode="after")
    def _one_mailbox_source(self) -> EmailSettings:
        if self.email_mailbox_secret_arn and (self.imap_server or self.email_user or self.email_password):
            raise ValueError("set the service mailbox either by EMAIL_MAILBOX_SECRET_ARN or by IMAP_SERVER, not both")
        return self


class ReconcileSettings(DatabaseSettings, SchedulerSettings, LockSettings):
    """Reconcile's shards: cron triggers per shard, and each shard's Scheduler calls a second (the state machine runs
    ``RECONCILE_MAX_CONCURRENCY`` shards at once: their product stays under the account's quota, decisions.md)."""

    reconcile_shard_size: int = Field(default=5000, ge=1, le=1_000_000)
    reconcile_calls_per_second: float = Field(default=50.0, gt=0, le=10_000)


class ApiSettings(DatabaseSettings, AuthSettings, FiringSettings, SchedulerSettings, EmailSettings):
    public_base_url: str | None = None  # the webhook base URL; default: derived from the request
    spec_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    manual_inputs_max_bytes: int = Field(default=64 * 1024, ge=1024)
    # Trigger health calls a firing queued or retrying this long without progress stale: keep it well above
    # the longest wait between two dispatch attempts (DISPATCH_BACKOFF_MAX_SECONDS, the queue's visibility timeout).
    firing_stale_after_seconds: int = Field(default=3600, ge=1)
    max_triggers_per_workflow: int = Field(default=100, ge=1, le=1000)  # bounds a deploy's work (decisions.md)


class CronSettings(DatabaseSettings, FiringSettings):
    pass


class WebhookSettings(DatabaseSettings, FiringSettings):
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)


class EngineSettings(_Part):
    """The workflow engine's execute endpoint; timeouts keep a hung engine from holding a record for long."""

    workflow_engine_url: str = "http://workflow-engine:8002"
    engine_connect_timeout_seconds: float = Field(default=3.05, gt=0, le=30)
    engine_read_timeout_seconds: float = Field(default=25.0, gt=0, le=60)


class TestingMailSettings(_Part):
    """Testing mode (docs/decisions.md): notify by e-mail instead of calling the engine.

    "email" names the e-mail trigger in code; the variables keep the names deployed stacks already set.
    """

    testing_mode: bool = False
    mail_recipient: str | None = Field(default=None, validation_alias="testing_email_recipient")
    mail_client_type: Literal["smtp", "ses"] = Field(default="smtp", validation_alias="email_client_type")
    mail_from: str = Field(default="workflow-scheduler@localhost", validation_alias="email_from")
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password_secret_arn: str | None = None  # the password lives in Secrets Manager, never in the environment
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _recipient(self) -> TestingMailSettings:
        if self.testing_mode and not self.mail_recipient:
            raise ValueError("TESTING_MODE=true needs TESTING_EMAIL_RECIPIENT")
        return self


class DispatchSettings(DatabaseSettings, EngineSettings, TestingMailSettings):
    state_table_name: str  # Powertools idempotency records
    dispatch_max_attempts: int = Field(default=5, ge=1, le=100)  # the queue's maxReceiveCount, for the audit
    dispatch_backoff_base_seconds: float = Field(default=10.0, ge=0)
    dispatch_backoff_max_seconds: float = Field(default=900.0, ge=0, le=43200)
    dispatch_idempotency_hours: int = Field(default=24, ge=1, le=24 * 14)


class MigrateSettings(DatabaseSettings):
    pass


class GithubAppSettings(_Part):
    """The GitHub App: its id, its private key (a Secrets Manager secret in AWS, a PEM locally) and the API's URL
    (GitHub Enterprise and tests point it elsewhere)."""

    github_app_id: str | None = None
    github_app_private_key_secret_arn: str | None = None
    github_app_private_key: str | None = None  # locally only: in AWS the key stays in Secrets Manager
    github_api_url: str = "https://api.github.com"
    github_api_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # The longest a call waits out GitHub's rate limits before giving up (the router retries later).
    github_api_max_wait_seconds: float = Field(default=20.0, ge=0, le=600)

    @property
    def github_app_configured(self) -> bool:
        return bool(self.github_app_id and (self.github_app_private_key or self.github_app_private_key_secret_arn))


class GithubWebhookSettings(DatabaseSettings):
    """The github function (``POST /webhooks/github``): the App's webhook secret (a Secrets Manager secret in AWS,
    the value itself locally) and the queue it hands deliveries to. Without them every delivery is answered 503
    (the function still starts: the local system serves the route before it configures GitHub)."""

    github_webhook_secret_arn: str | None = None
    github_webhook_secret: str | None = None  # locally only: in AWS the secret stays in Secrets Manager
    github_events_queue_url: str | None = None
    # GitHub sends up to 25 MB; 4 MiB is what one Lambda invocation carries (domain/triggers/github/ingress.py).
    github_webhook_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=25 * 1024 * 1024)


class GithubRouterSettings(DatabaseSettings, FiringSettings, GithubAppSettings):
    """The github router (the events queue's consumer): firings go to the dispatch queue."""

    # The events queue's maxReceiveCount: on the last receive, what GitHub cannot answer is refused, not postponed.
    github_router_max_receives: int = Field(default=5, ge=1, le=1000)


class GithubRedeliverySettings(DatabaseSettings, GithubAppSettings):
    """The redelivery sweep: how far back it looks, how much it asks per run, how long deliveries are kept."""

    github_redelivery_lookback_hours: int = Field(default=6, ge=1, le=72)  # GitHub keeps deliveries 3 days
    github_redelivery_max_per_run: int = Field(default=50, ge=1, le=1000)
    github_redelivery_max_attempts: int = Field(default=3, ge=2, le=10)
    # At least GitHub's 3-day redelivery window: a redelivered id must still be found to be acknowledged.
    github_delivery_retention_days: int = Field(default=30, ge=4, le=3650)


class EmailPollerSettings(DatabaseSettings, FiringSettings, LockSettings, EmailSettings):
    """The e-mail poller: where large attachments go and how many mailboxes are read at once."""

    email_attachments_bucket: str
    email_attachment_url_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)  # SigV4 allows 7 days
    email_poll_concurrency: int = Field(default=4, ge=1, le=32)  # mailboxes read at once


class RetentionSettings(DatabaseSettings):
    """The firing history's retention run: how many days of ``trigger_events`` it keeps (domain/retention.py)."""

    firing_retention_days: int = DEFAULT_RETENTION_DAYS

    @model_validator(mode="after")
    def _not_shorter_than_idempotency(self) -> RetentionSettings:
        try:
            retention_period(self.firing_retention_days)
        except RetentionTooShort as exc:
            raise ValueError(f"FIRING_RETENTION_DAYS: {exc.message}") from exc
        return self
