"""Every name the infrastructure uses, in one place: the stack, its constructs, paths, env vars, sizes."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, aws_logs

SERVICE_NAME = "workflow_scheduler"
METRICS_NAMESPACE = "WorkflowScheduler"
STACK_NAME = "WorkflowSchedulerStack"
STACK_DESCRIPTION = "workflow_scheduler: trigger management and scheduling core of the workflow platform"

# Paths of the assets, from the repository root (absolute, so synth works from any working directory).
REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"
DEFAULT_OUTDIR = REPO_ROOT / "cdk.out"
SHARED_LAYER_DIR = REPO_ROOT / "layers" / "shared"
DEPS_LAYER_DIR = REPO_ROOT / "build" / "layer" / "deps"
FUNCTIONS_DIR = REPO_ROOT / "functions"
HANDLER = "handler.lambda_handler"  # functions/<name>/handler.py
# Ship only the Lambda runtime's bytecode (scripts/build_layer.sh); a developer's 3.11 .pyc would be dead weight.
ASSET_EXCLUDE = ["**/__pycache__/*.pyc", "!**/__pycache__/*.cpython-312.pyc", "**/.pytest_cache", "**/.mypy_cache"]

# Construct ids: also the prefixes of the logical ids in the template.
LAYERS_ID = "Layers"
DATABASE_ID = "Database"
STATE_TABLE_ID = "StateTable"
DISPATCH_QUEUE_ID = "DispatchQueue"
API_ID = "Api"
MIGRATIONS_ID = "Migrations"
WEBHOOKS_ID = "Webhooks"
DISPATCH_ID = "Dispatch"
ALARMS_ID = "Alarms"
CRON_ID = "Cron"
RECONCILE_ID = "Reconcile"
GITHUB_APP_ID = "GithubApp"
GITHUB_ID = "Github"
GITHUB_ROUTER_ID = "GithubRouter"
GITHUB_REDELIVERY_ID = "GithubRedelivery"
EMAIL_POLLER_ID = "EmailPoller"
RETENTION_ID = "Retention"
API_FUNCTION_ID = "ApiFunction"
MIGRATE_FUNCTION_ID = "MigrateFunction"
WEBHOOK_FUNCTION_ID = "WebhookFunction"
DISPATCH_FUNCTION_ID = "DispatchFunction"
CRON_FUNCTION_ID = "CronFunction"
RECONCILE_FUNCTION_ID = "ReconcileFunction"
GITHUB_FUNCTION_ID = "GithubFunction"
GITHUB_ROUTER_FUNCTION_ID = "GithubRouterFunction"
GITHUB_REDELIVERY_FUNCTION_ID = "GithubRedeliveryFunction"
EMAIL_POLLER_FUNCTION_ID = "EmailPollerFunction"
RETENTION_FUNCTION_ID = "RetentionFunction"

# Function folders under functions/.
API_FUNCTION = "api"
MIGRATE_FUNCTION = "migrate"
WEBHOOK_FUNCTION = "webhook"
DISPATCH_FUNCTION = "dispatch"
CRON_FUNCTION = "cron"
RECONCILE_FUNCTION = "reconcile"
GITHUB_FUNCTION = "github"
GITHUB_ROUTER_FUNCTION = "github_router"
GITHUB_REDELIVERY_FUNCTION = "github_redelivery"
EMAIL_POLLER_FUNCTION = "email_poller"
RETENTION_FUNCTION = "retention"

# Environment variables the functions read (workflow_scheduler.settings). Names, not values: hence the noqa.
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "LOG_LEVEL"
# Powertools Tracer: whether capture_lambda_handler records the handler's answer and exception as trace metadata.
ENV_TRACER_CAPTURE_RESPONSE = "POWERTOOLS_TRACER_CAPTURE_RESPONSE"
ENV_TRACER_CAPTURE_ERROR = "POWERTOOLS_TRACER_CAPTURE_ERROR"
ENV_DB_SECRET_ARN = "DB_SECRET_ARN"  # noqa: S105
ENV_DB_HOST = "DB_HOST"
ENV_DB_NAME = "DB_NAME"
ENV_STATE_TABLE_NAME = "STATE_TABLE_NAME"
ENV_DISPATCH_QUEUE_URL = "DISPATCH_QUEUE_URL"
ENV_JWT_SECRET_ARN = "JWT_SECRET_ARN"  # noqa: S105
ENV_WEBHOOK_MAX_BODY_BYTES = "WEBHOOK_MAX_BODY_BYTES"
# DispatchSettings (EngineSettings, TestingMailSettings, whose mail fields read these names, and its own fields).
ENV_WORKFLOW_ENGINE_URL = "WORKFLOW_ENGINE_URL"
ENV_ENGINE_CONNECT_TIMEOUT = "ENGINE_CONNECT_TIMEOUT_SECONDS"
ENV_ENGINE_READ_TIMEOUT = "ENGINE_READ_TIMEOUT_SECONDS"
ENV_DISPATCH_MAX_ATTEMPTS = "DISPATCH_MAX_ATTEMPTS"
ENV_DISPATCH_BACKOFF_BASE = "DISPATCH_BACKOFF_BASE_SECONDS"
ENV_DISPATCH_BACKOFF_MAX = "DISPATCH_BACKOFF_MAX_SECONDS"
ENV_TESTING_MODE = "TESTING_MODE"
ENV_TESTING_EMAIL_RECIPIENT = "TESTING_EMAIL_RECIPIENT"
ENV_EMAIL_CLIENT_TYPE = "EMAIL_CLIENT_TYPE"
ENV_EMAIL_FROM = "EMAIL_FROM"
ENV_SMTP_HOST = "SMTP_HOST"
ENV_SMTP_PORT = "SMTP_PORT"
ENV_SMTP_SECURITY = "SMTP_SECURITY"
ENV_SMTP_USERNAME = "SMTP_USERNAME"
ENV_SMTP_PASSWORD_SECRET_ARN = "SMTP_PASSWORD_SECRET_ARN"  # noqa: S105
# SchedulerSettings (api, reconcile) and LockSettings (reconcile).
ENV_SCHEDULE_GROUP_NAME = "SCHEDULE_GROUP_NAME"
ENV_CRON_FUNCTION_ARN = "CRON_FUNCTION_ARN"
ENV_SCHEDULER_ROLE_ARN = "SCHEDULER_ROLE_ARN"
ENV_SCHEDULES_DLQ_ARN = "SCHEDULES_DLQ_ARN"
ENV_LOCK_BACKEND = "LOCK_BACKEND"
# ReconcileSettings (reconcile).
ENV_RECONCILE_SHARD_SIZE = "RECONCILE_SHARD_SIZE"
ENV_RECONCILE_CALLS_PER_SECOND = "RECONCILE_CALLS_PER_SECOND"
# The GitHub functions (GithubWebhookSettings, GithubRouterSettings, GithubRedeliverySettings, GithubAppSettings).
ENV_GITHUB_WEBHOOK_SECRET_ARN = "GITHUB_WEBHOOK_SECRET_ARN"  # noqa: S105
ENV_GITHUB_EVENTS_QUEUE_URL = "GITHUB_EVENTS_QUEUE_URL"
ENV_GITHUB_APP_ID = "GITHUB_APP_ID"
ENV_GITHUB_APP_PRIVATE_KEY_SECRET_ARN = "GITHUB_APP_PRIVATE_KEY_SECRET_ARN"  # noqa: S105
ENV_GITHUB_API_URL = "GITHUB_API_URL"
ENV_GITHUB_ROUTER_MAX_RECEIVES = "GITHUB_ROUTER_MAX_RECEIVES"
# EmailPollerSettings.
ENV_EMAIL_ATTACHMENTS_BUCKET = "EMAIL_ATTACHMENTS_BUCKET"
ENV_EMAIL_ATTACHMENT_URL_SECONDS = "EMAIL_ATTACHMENT_URL_SECONDS"
ENV_EMAIL_MAILBOX_SECRET_ARN = "EMAIL_MAILBOX_SECRET_ARN"  # noqa: S105
ENV_EMAIL_ALLOWED_PRIVATE_CIDRS = "EMAIL_ALLOWED_PRIVATE_CIDRS"
# RetentionSettings (retention).
ENV_FIRING_RETENTION_DAYS = "FIRING_RETENTION_DAYS"
LOG_LEVEL = "INFO"
# Never: answers carry workflow specs and tenants' data (docs/decisions.md, "traces without answers"). The X-Ray
# SDK still records an exception's type, message and stack as the trace's cause, so an error stays debuggable.
TRACER_CAPTURE = "false"
LOCK_BACKEND = "dynamodb"  # locks in the state table (adapters/locks_dynamodb.py); no Redis in the stack

# Lambda functions.
API_MEMORY_MB = 512
API_TIMEOUT = Duration.seconds(29)  # API Gateway's integration timeout
MIGRATE_MEMORY_MB = 256
MIGRATE_TIMEOUT = Duration.minutes(5)
WEBHOOK_MEMORY_MB = 512
WEBHOOK_TIMEOUT = API_TIMEOUT  # behind the same API Gateway integration timeout
DISPATCH_MEMORY_MB = 512
CRON_MEMORY_MB = 512  # CPU scales with memory: a firing's delay includes the cold start
CRON_TIMEOUT = Duration.seconds(30)  # one deployment lookup, one audit row, one SQS message (5 s connect timeout)
# Reconcile runs in shards (infra_cdk/functions/reconcile.py): a state machine plans them, works up to
# RECONCILE_MAX_CONCURRENCY at once (each invocation stops 90 s before its timeout and the next goes on from its
# checkpoint) and finishes the run. A shard holds at most RECONCILE_SHARD_SIZE cron triggers and calls EventBridge
# Scheduler at most RECONCILE_CALLS_PER_SECOND times a second: 10 x 50 = 500 calls a second at most, half the lowest
# default quota of the primary Regions (1,000 for UpdateSchedule, DeleteSchedule and GetSchedule; decisions.md).
RECONCILE_MEMORY_MB = 512  # a shard of 5,000 peaks under 2 MB of objects (bench/reconcile.py): this buys CPU
RECONCILE_TIMEOUT = Duration.minutes(15)
RECONCILE_SHARD_SIZE = 5000
RECONCILE_CALLS_PER_SECOND = 50
RECONCILE_MAX_CONCURRENCY = 10
# A whole run, retries included; below the run lock's lease (domain/triggers/cron/reconcile.py RUN_LEASE_SECONDS, 6 h)
# so that a run that dies without finishing frees the lock before the next day's run.
RECONCILE_RUN_TIMEOUT = Duration.hours(5)
# A shard invocation that fails (the database, EventBridge Scheduler, its lock held by an attempt still running) is
# tried again from its checkpoint: 30 s, 1, 2, 4, 8 minutes later (jittered). Then the run fails and alarms.
RECONCILE_SHARD_RETRY_INTERVAL = Duration.seconds(30)
RECONCILE_SHARD_RETRY_ATTEMPTS = 5
RECONCILE_SHARD_RETRY_BACKOFF = 2.0
# GitHub App deliveries (infra_cdk/functions/github*.py). GitHub waits 10 s for an answer and counts a slower one
# as failed: the github function only verifies, records and queues.
GITHUB_MEMORY_MB = 512
GITHUB_TIMEOUT = Duration.seconds(10)
# The router: one delivery takes a candidate query, the filters and a few GitHub API calls (each waits out a rate
# limit for at most GITHUB_API_MAX_WAIT_SECONDS, 20 s); a batch of them fits with room to spare.
GITHUB_ROUTER_MEMORY_MB = 512
GITHUB_ROUTER_TIMEOUT = Duration.seconds(150)
GITHUB_ROUTER_BATCH_SIZE = 5
GITHUB_ROUTER_BATCHING_WINDOW = Duration.seconds(1)
GITHUB_ROUTER_MAX_CONCURRENCY = 5  # the App's API rate limit and the database are shared by every instance
# A delivery the router must postpone (GitHub's rate limit, an outage) comes back after the visibility timeout, six
# times the function's (AWS's advice): 15 minutes, so 5 receives span about an hour, GitHub's rate-limit window.
# The router reads GITHUB_ROUTER_MAX_RECEIVES to know its last attempt, on which it refuses instead of postponing.
GITHUB_EVENTS_VISIBILITY_TIMEOUT = Duration.seconds(6 * GITHUB_ROUTER_TIMEOUT.to_seconds())
GITHUB_EVENTS_MAX_RECEIVES = 5
GITHUB_EVENTS_DLQ_RETENTION = Duration.days(14)  # SQS's maximum
GITHUB_REDELIVERY_MEMORY_MB = 256
GITHUB_REDELIVERY_TIMEOUT = Duration.minutes(5)  # up to 10 pages of deliveries and 50 redeliveries
GITHUB_REDELIVERY_RATE = Duration.minutes(10)  # within the 6-hour lookback, every failure is seen many times
GITHUB_WEBHOOK_PATH = "/webhooks/github"
GITHUB_WEBHOOK_SECRET_LENGTH = 40
DEFAULT_GITHUB_API_URL = "https://api.github.com"
# The history's retention run: catalog queries, short DDL and batched deletes of a day's claims; nothing in memory.
RETENTION_MEMORY_MB = 256
RETENTION_TIMEOUT = Duration.minutes(15)
LOG_RETENTION = aws_logs.RetentionDays.THREE_MONTHS

# E-mail triggers (infra_cdk/functions/email_poller.py). The poller runs every minute and polls each trigger at its
# own check_interval. Its timeout stays under the lease of a mailbox's lock (domain/triggers/email/poll.py,
# LOCK_LEASE_SECONDS = 300): a run still reading a mailbox when its lease ended could overlap the next one.
EMAIL_POLL_RATE = Duration.minutes(1)
EMAIL_POLLER_TIMEOUT = Duration.minutes(4)
EMAIL_POLLER_MEMORY_MB = 1024  # whole messages are read into memory (ten at a time), attachments and all
# A failed run is not retried: the next minute's run is the retry (and finds the same mail again).
EMAIL_POLL_RETRY_ATTEMPTS = 0
EMAIL_POLL_MAX_EVENT_AGE = Duration.minutes(1)  # the least Lambda and EventBridge Scheduler accept
# IMAP over TLS (993) and IMAP with STARTTLS (143): the only ports the poller may open besides HTTPS (AWS APIs,
# OAuth token endpoints) and the database proxy. The same ports as the outbound policy's (domain/outbound.py).
IMAP_PORTS = (993, 143)
HTTPS_PORT = 443
# Large attachments (adapters/attachments_s3.py): objects expire with the presigned URLs that give them out (24 h;
# S3 counts whole days from the next midnight UTC, so an object always outlives its URL).
EMAIL_ATTACHMENT_URL_SECONDS = 24 * 3600
EMAIL_ATTACHMENT_EXPIRY = Duration.days(1)
EMAIL_ATTACHMENT_PREFIX = "email-attachments/"  # S3AttachmentStore's key prefix
# What the poller reports each run (functions/email_poller/handler.py) and the alarms watch.
EMAIL_METRIC_FAILING = "EmailTriggersFailing"
EMAIL_METRIC_STALE = "EmailTriggersStale"
EMAIL_FAILING_PERIODS = 3  # failing polls for 15 minutes: one lost connection does not page anyone
EMAIL_NOT_RUNNING_PERIODS = 3  # no run of the poller for 15 minutes

# PostgreSQL behind RDS Proxy.
DB_NAME = "workflow_scheduler"
DB_PORT = 5432
DB_ADMIN_USER = "scheduler_admin"
DB_ALLOCATED_STORAGE_GB = 20
DB_MAX_ALLOCATED_STORAGE_GB = 100
DB_BACKUP_RETENTION = Duration.days(7)
DB_SECRET_ROTATION = Duration.days(30)
VPC_MAX_AZS = 2
# One NAT gateway: egress for Secrets Manager, GitHub, IMAP and the engine. Two make egress AZ-independent.
VPC_NAT_GATEWAYS = 1

# DynamoDB table of locks and idempotency records (Powertools DynamoDBPersistenceLayer's defaults).
STATE_TABLE_PARTITION_KEY = "id"
STATE_TABLE_TTL_ATTRIBUTE = "expiration"

# SQS queue of accepted firings, on their way to the engine (the local system's twin: local/aws_resources.py).
# Deliveries before a firing goes to the dead-letter queue: the queue's maxReceiveCount AND the dispatch
# function's DISPATCH_MAX_ATTEMPTS (it records the last attempt's transient failure as "parked").
DISPATCH_MAX_RECEIVES = 5
# The engine call: a hung engine holds a record for at most connect + read timeout (about 28 s).
ENGINE_CONNECT_TIMEOUT_SECONDS = 3.05  # just over a multiple of 3 s, TCP's retransmission window (requests' advice)
ENGINE_READ_TIMEOUT_SECONDS = 25.0
# One batch's records are delivered concurrently, so a batch lasts about as long as its slowest record: one engine
# call at its timeouts, plus PostgreSQL (5 s connect timeout) and DynamoDB around it. Room for that, not more.
DISPATCH_TIMEOUT = Duration.seconds(60)
# Six times the timeout of the function that consumes it (AWS's advice for Lambda event sources; it must be at
# least the function timeout). Only a failed invocation waits for it: retries set their own delay.
DISPATCH_VISIBILITY_TIMEOUT = Duration.seconds(6 * DISPATCH_TIMEOUT.to_seconds())
DISPATCH_DLQ_RETENTION = Duration.days(14)  # SQS's maximum; counted from the original enqueue time
# Retry n waits base * 2**(n-1) s (+ up to 20% jitter, capped): 30, 60, 120, 240 s, so about 7.5 minutes of
# engine trouble before a firing is parked; enough to ride out an engine deployment.
DISPATCH_BACKOFF_BASE_SECONDS = 30
DISPATCH_BACKOFF_MAX_SECONDS = 900  # SQS allows a visibility timeout of up to 12 hours
DISPATCH_BATCH_SIZE = 10  # records per invocation, delivered concurrently (functions/dispatch: 10 workers)
DISPATCH_BATCHING_WINDOW = Duration.seconds(1)  # gathers a burst into fewer invocations; adds at most 1 s

# Cron triggers on EventBridge Scheduler (infra_cdk/functions/cron.py). The group holds only the schedules of cron
# triggers: reconcile deletes every schedule in it that no trigger owns.
SCHEDULE_GROUP_NAME = "workflow-scheduler"
SCHEDULES_DLQ_RETENTION = Duration.days(14)  # SQS's maximum
# The cron function's asynchronous invocations (EventBridge Scheduler invokes it with InvocationType=Event). Lambda's
# default of 2 retries, set explicitly: a retry has the same scheduled time, hence the same execution id, so it can
# never fire twice. Events older than an hour are not retried (the schedules' own retry policy gives up after an hour
# too: adapters/scheduler.py SchedulerTarget.maximum_event_age_seconds). What fails for good goes to the schedules'
# dead-letter queue.
CRON_RETRY_ATTEMPTS = 2
CRON_MAX_EVENT_AGE = Duration.hours(1)
# The daily reconcile run, by EventBridge Scheduler too, in the account's default group (never in the service's
# group, where reconcile would delete it as an orphan). 03:17 UTC: off the hour, when few cron triggers fire.
RECONCILE_SCHEDULE_MINUTE = "17"
RECONCILE_SCHEDULE_HOUR = "3"
RECONCILE_INPUT = {"dry_run": False}
# The daily retention run of the firing history (infra_cdk/functions/retention.py), by an EventBridge rule: 04:47 UTC,
# off the hour and after reconcile. It creates the months ahead, so the time of day does not matter.
RETENTION_SCHEDULE_MINUTE = "47"
RETENTION_SCHEDULE_HOUR = "4"
RETENTION_INPUT = {"dry_run": False}
RETENTION_RETRY_ATTEMPTS = 2  # idempotent: a failed run is retried, then alarms
RETENTION_MAX_EVENT_AGE = Duration.hours(6)

# REST API.
API_STAGE_NAME = "prod"
API_THROTTLE_RATE = 100  # stage defaults, per method: requests per second and burst
API_THROTTLE_BURST = 200
# Per-caller limits: WAF rate-based rules in front of the stage's shared buckets (infra_cdk/functions/api.py,
# docs/deploy.md "Rate limits"). Requests per evaluation window, counted per token on /v1, per source address on
# every other route but GitHub's, and per source address on GitHub's (its deliveries share GitHub's addresses).
RATE_LIMIT_WINDOW_SECONDS_CHOICES = (60, 120, 300, 600)  # what WAF accepts
RATE_LIMIT_RANGE = (10, 2_000_000_000)  # what WAF accepts
DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60
DEFAULT_RATE_LIMIT_PER_TOKEN = 600  # 10 requests a second, a tenth of the /v1 method's stage rate
DEFAULT_RATE_LIMIT_PER_ADDRESS = 1200  # 20 a second: webhook senders and offices share addresses
DEFAULT_GITHUB_RATE_LIMIT_PER_ADDRESS = 3000  # 50 a second, half the route's stage rate (docs/deploy.md)
HEALTH_PATH = "/health"
V1_PROXY_PATH = "/v1/{proxy+}"
# The webhook function reads event.path; the greedy parameter's name is the contract's (docs/architecture.md), the
# local gateway's (local/routes.py) and the sample events' (events/webhook).
WEBHOOK_PROXY_PATH = "/webhook/{path+}"
# Every request body reaches the functions base64-encoded, byte for byte: binary webhook payloads and HMAC
# signatures over them survive (without it API Gateway reads bodies as UTF-8 text). Powertools decodes it.
API_BINARY_MEDIA_TYPES = ["*/*"]
JWT_SECRET_LENGTH = 64

# Where the service keeps the trigger secrets it manages (new ones; and the webhook secrets earlier releases made,
# still in use), and the tags of every secret the service creates or may use (the same as
# workflow_scheduler.domain.inline_secrets, checked by tests/infra).
MANAGED_SECRET_PREFIX = "workflow-scheduler/triggers/"  # noqa: S105
LEGACY_SECRET_PREFIX = "workflow-scheduler/webhooks/"  # noqa: S105
MANAGED_SECRET_TAG = ("managed-by", "workflow_scheduler")
SECRET_OWNER_TAG = "workflow-scheduler:owner"  # noqa: S105
SECRET_WORKFLOW_TAG = "workflow-scheduler:workflow-id"  # noqa: S105
SECRET_TRIGGER_TAG = "workflow-scheduler:trigger-id"  # noqa: S105

# Alarms.
ALARM_PERIOD = Duration.minutes(5)

# Stack context (`cdk deploy -c key=value`, or "context" in cdk.json): see infra_cdk/config.py and docs/deploy.md.
CTX_WORKFLOW_ENGINE_URL = "workflowEngineUrl"
CTX_WEBHOOK_SECRET_ARNS = "webhookSecretArns"  # noqa: S105
CTX_WEBHOOK_MAX_BODY_BYTES = "webhookMaxBodyBytes"
CTX_DISPATCH_MAX_CONCURRENCY = "dispatchMaxConcurrency"
CTX_FIRING_RETENTION_DAYS = "firingRetentionDays"
CTX_ALARM_EMAIL = "alarmEmail"
CTX_TESTING_MODE = "testingMode"
CTX_TESTING_EMAIL_RECIPIENT = "testingEmailRecipient"
CTX_EMAIL_CLIENT_TYPE = "emailClientType"
CTX_EMAIL_FROM = "emailFrom"
CTX_SES_IDENTITIES = "sesIdentities"
CTX_SMTP_HOST = "smtpHost"
CTX_SMTP_PORT = "smtpPort"
CTX_SMTP_SECURITY = "smtpSecurity"
CTX_SMTP_USERNAME = "smtpUsername"
CTX_SMTP_PASSWORD_SECRET_ARN = "smtpPasswordSecretArn"  # noqa: S105
CTX_GITHUB_APP_ID = "githubAppId"
CTX_GITHUB_API_URL = "githubApiUrl"
CTX_GITHUB_WEBHOOK_SECRET_ARN = "githubWebhookSecretArn"  # noqa: S105
CTX_GITHUB_APP_PRIVATE_KEY_SECRET_ARN = "githubAppPrivateKeySecretArn"  # noqa: S105
CTX_EMAIL_ALLOWED_PRIVATE_CIDRS = "emailAllowedPrivateCidrs"
CTX_RATE_LIMIT_WINDOW_SECONDS = "rateLimitWindowSeconds"
CTX_RATE_LIMIT_PER_TOKEN = "rateLimitPerToken"  # noqa: S105
CTX_RATE_LIMIT_PER_ADDRESS = "rateLimitPerAddress"
CTX_GITHUB_RATE_LIMIT_PER_ADDRESS = "githubRateLimitPerAddress"
# Their defaults.
DEFAULT_WORKFLOW_ENGINE_URL = "http://workflow-engine.internal:8002"
DEFAULT_DISPATCH_MAX_CONCURRENCY = 10  # concurrent dispatch invocations, each up to 10 engine calls at once
DEFAULT_FIRING_RETENTION_DAYS = 30  # workflow_scheduler.domain.retention's default (checked by tests/infra)
DEFAULT_MAIL_FROM = "workflow-scheduler@localhost"  # TestingMailSettings' default; SES needs a real one
DEFAULT_SMTP_PORT = 587
DEFAULT_SMTP_SECURITY = "starttls"
# Bounds: the event source mapping's maximum concurrency (2-1000); a webhook body up to what one synchronous
# Lambda invocation carries (6 MB for the whole event, the body base64-encoded: 4/3 of its size).
DISPATCH_MAX_CONCURRENCY_RANGE = (2, 1000)
WEBHOOK_MAX_BODY_BYTES_RANGE = (1024, 4 * 1024 * 1024)
# At least the day a webhook Idempotency-Key is remembered (workflow_scheduler.domain.retention; tests/infra).
FIRING_RETENTION_DAYS_RANGE = (1, 3650)

# Outputs.
OUTPUT_API_URL = "ApiUrl"
OUTPUT_JWT_SECRET_ARN = "JwtSecretArn"  # noqa: S105
OUTPUT_MIGRATE_FUNCTION = "MigrateFunctionName"
OUTPUT_DISPATCH_QUEUE_URL = "DispatchQueueUrl"
OUTPUT_DISPATCH_DLQ_URL = "DispatchDeadLetterQueueUrl"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"
OUTPUT_SCHEDULE_GROUP_NAME = "ScheduleGroupName"
OUTPUT_SCHEDULES_DLQ_URL = "SchedulesDeadLetterQueueUrl"
OUTPUT_CRON_FUNCTION = "CronFunctionName"
OUTPUT_RECONCILE_FUNCTION = "ReconcileFunctionName"
OUTPUT_RECONCILE_STATE_MACHINE = "ReconcileStateMachineArn"
OUTPUT_GITHUB_WEBHOOK_URL = "GithubWebhookUrl"
OUTPUT_GITHUB_WEBHOOK_SECRET_ARN = "GithubWebhookSecretArn"  # noqa: S105
OUTPUT_GITHUB_APP_PRIVATE_KEY_SECRET_ARN = "GithubAppPrivateKeySecretArn"  # noqa: S105
OUTPUT_GITHUB_EVENTS_DLQ_URL = "GithubEventsDeadLetterQueueUrl"
OUTPUT_EMAIL_MAILBOX_SECRET_ARN = "EmailServiceMailboxSecretArn"  # noqa: S105
OUTPUT_EMAIL_ATTACHMENTS_BUCKET = "EmailAttachmentsBucketName"
OUTPUT_RETENTION_FUNCTION = "RetentionFunctionName"
