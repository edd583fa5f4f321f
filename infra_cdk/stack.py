"""The one stack of the service: the shared constructs, one construct per function, and the wiring between them."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra_cdk.config import StackConfig
from infra_cdk.constants import (
    ALARMS_ID,
    API_ID,
    CRON_ID,
    DATABASE_ID,
    DISPATCH_ID,
    DISPATCH_QUEUE_ID,
    EMAIL_POLLER_ID,
    GITHUB_APP_ID,
    GITHUB_ID,
    GITHUB_REDELIVERY_ID,
    GITHUB_ROUTER_ID,
    GITHUB_WEBHOOK_PATH,
    LAYERS_ID,
    MIGRATIONS_ID,
    OUTPUT_ALARM_TOPIC_ARN,
    OUTPUT_API_URL,
    OUTPUT_CRON_FUNCTION,
    OUTPUT_DISPATCH_DLQ_URL,
    OUTPUT_DISPATCH_QUEUE_URL,
    OUTPUT_EMAIL_ATTACHMENTS_BUCKET,
    OUTPUT_EMAIL_MAILBOX_SECRET_ARN,
    OUTPUT_GITHUB_APP_PRIVATE_KEY_SECRET_ARN,
    OUTPUT_GITHUB_EVENTS_DLQ_URL,
    OUTPUT_GITHUB_WEBHOOK_SECRET_ARN,
    OUTPUT_GITHUB_WEBHOOK_URL,
    OUTPUT_JWT_SECRET_ARN,
    OUTPUT_MIGRATE_FUNCTION,
    OUTPUT_RECONCILE_FUNCTION,
    OUTPUT_RECONCILE_STATE_MACHINE,
    OUTPUT_RETENTION_FUNCTION,
    OUTPUT_SCHEDULE_GROUP_NAME,
    OUTPUT_SCHEDULES_DLQ_URL,
    RECONCILE_ID,
    RETENTION_ID,
    STACK_DESCRIPTION,
    STATE_TABLE_ID,
    WEBHOOK_PROXY_PATH,
    WEBHOOKS_ID,
)
from infra_cdk.functions.api import Api
from infra_cdk.functions.cron import CronSchedules
from infra_cdk.functions.dispatch import Dispatch
from infra_cdk.functions.email_poller import EmailPoller
from infra_cdk.functions.github import AUTH_BY_SIGNATURE, GithubWebhooks
from infra_cdk.functions.github_redelivery import GithubRedelivery
from infra_cdk.functions.github_router import GithubRouter
from infra_cdk.functions.migrate import Migrations
from infra_cdk.functions.reconcile import Reconcile
from infra_cdk.functions.retention import Retention
from infra_cdk.functions.webhook import AUTH_PER_TRIGGER, Webhooks
from infra_cdk.shared.alarms import Alarms
from infra_cdk.shared.database import Database
from infra_cdk.shared.dispatch_queue import DispatchQueue
from infra_cdk.shared.github_app import GithubApp
from infra_cdk.shared.layers import Layers
from infra_cdk.shared.managed_secrets import ManagedSecrets
from infra_cdk.shared.resources import SharedResources
from infra_cdk.shared.state_table import StateTable


class WorkflowSchedulerStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description=STACK_DESCRIPTION, **kwargs)
        self.config = StackConfig.from_context(self)
        self._add_shared()
        self._add_trigger_functions()
        self._add_github()
        self._add_delivery_and_upkeep()
        self._add_outputs()

    def _add_shared(self) -> None:
        self.shared = SharedResources(
            layers=Layers(self, LAYERS_ID),
            database=Database(self, DATABASE_ID),
            state_table=StateTable(self, STATE_TABLE_ID),
            dispatch_queue=DispatchQueue(self, DISPATCH_QUEUE_ID),
            managed_secrets=ManagedSecrets(self, extra_arns=self.config.webhook_secret_arns),
        )

    def _add_trigger_functions(self) -> None:
        """The functions where firings come in, and the wiring between them (no construct takes another's)."""
        self.cron = CronSchedules(self, CRON_ID, shared=self.shared)
        self.api = Api(self, API_ID, shared=self.shared, rate_limits=self.config.rate_limits)
        self.cron.grant_manage(self.api.function)  # cron triggers' schedules, created, updated and deleted at deploy
        self.webhooks = Webhooks(
            self, WEBHOOKS_ID, shared=self.shared, max_body_bytes=self.config.webhook_max_body_bytes
        )
        self.api.add_function_route(
            WEBHOOK_PROXY_PATH, ["ANY"], self.webhooks.function, authentication=AUTH_PER_TRIGGER
        )
        self.email_poller = EmailPoller(
            self,
            EMAIL_POLLER_ID,
            shared=self.shared,
            allowed_private_cidrs=self.config.email_allowed_private_cidrs,
        )
        self.email_poller.grant_mailbox_checks(self.api.function)  # a deploy logs in to each e-mail trigger's mailbox

    def _add_github(self) -> None:
        """GitHub App deliveries: the route, the events queue and its router, the redelivery sweep (issue 9)."""
        self.github_app = GithubApp(self, GITHUB_APP_ID, config=self.config.github)
        self.github = GithubWebhooks(self, GITHUB_ID, shared=self.shared, config=self.config.github)
        self.api.add_function_route(
            GITHUB_WEBHOOK_PATH, ["POST"], self.github.function, authentication=AUTH_BY_SIGNATURE
        )
        self.github_router = GithubRouter(
            self,
            GITHUB_ROUTER_ID,
            shared=self.shared,
            github_app=self.github_app,
            webhooks=self.github,
        )
        self.github_redelivery = GithubRedelivery(
            self, GITHUB_REDELIVERY_ID, shared=self.shared, github_app=self.github_app
        )

    def _add_delivery_and_upkeep(self) -> None:
        """Delivery of queued firings, the daily reconcile, the alarms on both, the firing history's daily retention
        run, and the deploy-time migrations."""
        self.dispatch = Dispatch(self, DISPATCH_ID, shared=self.shared, config=self.config)
        self.reconcile = Reconcile(self, RECONCILE_ID, shared=self.shared, cron=self.cron)
        self.alarms = Alarms(
            self,
            ALARMS_ID,
            dispatch_queue=self.shared.dispatch_queue,
            dispatch_function=self.dispatch.function,
            schedules_dead_letters=self.cron.dead_letters,
            email=self.config.alarm_email,
        )
        self.reconcile.add_alarms(self.alarms)
        for github_part in (self.github, self.github_router, self.github_redelivery):
            github_part.add_alarms(self.alarms)
        self.email_poller.add_alarms(self.alarms)
        self.retention = Retention(
            self, RETENTION_ID, shared=self.shared, retention_days=self.config.firing_retention_days
        )
        self.retention.add_alarms(self.alarms)
        self.migrations = Migrations(
            self,
            MIGRATIONS_ID,
            shared=self.shared,
            run_before=[
                self.api.function,
                self.webhooks.function,
                self.github.function,
                self.github_router.function,
                self.github_redelivery.function,
                self.email_poller.function,
            ],
        )

    def _add_outputs(self) -> None:
        outputs = [
            (OUTPUT_API_URL, self.api.url, "Base URL of the REST API (stage included)"),
            (
                OUTPUT_JWT_SECRET_ARN,
                self.api.jwt_secret.secret_arn,
                "Secrets Manager secret whose value is the HS256 key of the API's bearer tokens",
            ),
            (
                OUTPUT_MIGRATE_FUNCTION,
                self.migrations.function.function_name,
                "Invoke to apply the schema migrations by hand (deployments run it already)",
            ),
            (
                OUTPUT_DISPATCH_QUEUE_URL,
                self.shared.dispatch_queue.queue.queue_url,
                "SQS queue of accepted firings (DISPATCH_QUEUE_URL of `workflow-scheduler dlq redrive`)",
            ),
            (
                OUTPUT_DISPATCH_DLQ_URL,
                self.shared.dispatch_queue.dead_letters.queue_url,
                "Dead-letter queue of parked firings (DISPATCH_DLQ_URL of `workflow-scheduler dlq redrive`)",
            ),
            (
                OUTPUT_ALARM_TOPIC_ARN,
                self.alarms.topic.topic_arn,
                "SNS topic of the service's alarms (parked or failed firings, function errors): subscribe",
            ),
            (
                OUTPUT_SCHEDULE_GROUP_NAME,
                self.cron.group.schedule_group_name,
                "EventBridge Scheduler group of the cron triggers' schedules (one per translated expression)",
            ),
            (
                OUTPUT_SCHEDULES_DLQ_URL,
                self.cron.dead_letters.queue_url,
                "Dead-letter queue of cron firings that failed for good (inspect, then replay: docs/deploy.md)",
            ),
            (
                OUTPUT_CRON_FUNCTION,
                self.cron.function.function_name,
                "The cron function: replay a failed firing by invoking it with the firing's input",
            ),
            (
                OUTPUT_RECONCILE_FUNCTION,
                self.reconcile.function.function_name,
                'Invoke with {"dry_run": true} for a whole reconcile run in one invocation (small installations)',
            ),
            (
                OUTPUT_RECONCILE_STATE_MACHINE,
                self.reconcile.state_machine.state_machine_arn,
                'Start an execution with {"dry_run": true} to see what reconcile would change, false to apply',
            ),
            (
                OUTPUT_GITHUB_WEBHOOK_URL,
                self.api.url + GITHUB_WEBHOOK_PATH.lstrip("/"),
                "The GitHub App's webhook URL (set it, with the webhook secret, in the App's settings)",
            ),
            (
                OUTPUT_GITHUB_WEBHOOK_SECRET_ARN,
                self.github.webhook_secret.secret_arn,
                "Secrets Manager secret holding the GitHub App's webhook secret (copy it into the App's settings)",
            ),
            (
                OUTPUT_GITHUB_APP_PRIVATE_KEY_SECRET_ARN,
                self.github_app.private_key.secret_arn,
                "Secrets Manager secret for the GitHub App's private key (put the App's PEM in it)",
            ),
            (
                OUTPUT_GITHUB_EVENTS_DLQ_URL,
                self.github.dead_letters.queue_url,
                "Dead-letter queue of GitHub deliveries the router failed on every attempt (redrive after the fix)",
            ),
            (
                OUTPUT_EMAIL_MAILBOX_SECRET_ARN,
                self.email_poller.service_mailbox.secret_arn,
                "The mailbox of e-mail triggers that name none: set IMAP_SERVER, EMAIL_USER, EMAIL_PASSWORD in it",
            ),
            (
                OUTPUT_EMAIL_ATTACHMENTS_BUCKET,
                self.email_poller.attachments.bucket_name,
                "Large e-mail attachments, given to workflows as presigned URLs; objects expire after a day",
            ),
            (
                OUTPUT_RETENTION_FUNCTION,
                self.retention.function.function_name,
                'Invoke with {"dry_run": true} to see which history months the retention run would create and drop',
            ),
        ]
        for output_id, value, description in outputs:
            CfnOutput(self, output_id, value=value, description=description)
