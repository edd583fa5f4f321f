"""The one stack of the service: one construct per feature."""

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
    LAYERS_ID,
    MIGRATIONS_ID,
    OUTPUT_ALARM_TOPIC_ARN,
    OUTPUT_API_URL,
    OUTPUT_CRON_FUNCTION,
    OUTPUT_DISPATCH_DLQ_URL,
    OUTPUT_DISPATCH_QUEUE_URL,
    OUTPUT_JWT_SECRET_ARN,
    OUTPUT_MIGRATE_FUNCTION,
    OUTPUT_RECONCILE_FUNCTION,
    OUTPUT_SCHEDULE_GROUP_NAME,
    OUTPUT_SCHEDULES_DLQ_URL,
    RECONCILE_ID,
    STACK_DESCRIPTION,
    STATE_TABLE_ID,
    WEBHOOKS_ID,
)
from infra_cdk.features.alarms import Alarms
from infra_cdk.features.api import Api
from infra_cdk.features.cron import CronSchedules
from infra_cdk.features.database import Database
from infra_cdk.features.dispatch import Dispatch
from infra_cdk.features.dispatch_queue import DispatchQueue
from infra_cdk.features.layers import Layers
from infra_cdk.features.migrations import Migrations
from infra_cdk.features.reconcile import Reconcile
from infra_cdk.features.state_table import StateTable
from infra_cdk.features.webhook_secrets import WebhookSecrets
from infra_cdk.features.webhooks import Webhooks


class WorkflowSchedulerStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description=STACK_DESCRIPTION, **kwargs)
        self.config = StackConfig.from_context(self)
        self.layers = Layers(self, LAYERS_ID)
        self.database = Database(self, DATABASE_ID)
        self.state_table = StateTable(self, STATE_TABLE_ID)
        self.dispatch_queue = DispatchQueue(self, DISPATCH_QUEUE_ID)
        self.webhook_secrets = WebhookSecrets(self, extra_arns=self.config.webhook_secret_arns)
        self.cron = CronSchedules(
            self, CRON_ID, layers=self.layers, database=self.database, dispatch_queue=self.dispatch_queue
        )
        self.api = Api(
            self,
            API_ID,
            layers=self.layers,
            database=self.database,
            state_table=self.state_table,
            dispatch_queue=self.dispatch_queue,
            webhook_secrets=self.webhook_secrets,
            cron=self.cron,
        )
        self.webhooks = Webhooks(
            self,
            WEBHOOKS_ID,
            layers=self.layers,
            database=self.database,
            dispatch_queue=self.dispatch_queue,
            webhook_secrets=self.webhook_secrets,
            api=self.api,
            max_body_bytes=self.config.webhook_max_body_bytes,
        )
        self.dispatch = Dispatch(
            self,
            DISPATCH_ID,
            layers=self.layers,
            database=self.database,
            state_table=self.state_table,
            dispatch_queue=self.dispatch_queue,
            config=self.config,
        )
        self.reconcile = Reconcile(
            self,
            RECONCILE_ID,
            layers=self.layers,
            database=self.database,
            state_table=self.state_table,
            cron=self.cron,
        )
        self.alarms = Alarms(
            self,
            ALARMS_ID,
            dispatch_queue=self.dispatch_queue,
            dispatch_function=self.dispatch.function,
            schedules_dead_letters=self.cron.dead_letters,
            reconcile_function=self.reconcile.function,
            email=self.config.alarm_email,
        )
        self.migrations = Migrations(
            self,
            MIGRATIONS_ID,
            layers=self.layers,
            database=self.database,
            webhook_secrets=self.webhook_secrets,
            run_before=[self.api.function, self.webhooks.function],
        )

        CfnOutput(self, OUTPUT_API_URL, value=self.api.url, description="Base URL of the REST API (stage included)")
        CfnOutput(
            self,
            OUTPUT_JWT_SECRET_ARN,
            value=self.api.jwt_secret.secret_arn,
            description="Secrets Manager secret whose value is the HS256 key of the API's bearer tokens",
        )
        CfnOutput(
            self,
            OUTPUT_MIGRATE_FUNCTION,
            value=self.migrations.function.function_name,
            description="Invoke to apply the schema migrations by hand (deployments run it already)",
        )
        CfnOutput(
            self,
            OUTPUT_DISPATCH_QUEUE_URL,
            value=self.dispatch_queue.queue.queue_url,
            description="SQS queue of accepted firings (DISPATCH_QUEUE_URL of `workflow-scheduler dlq redrive`)",
        )
        CfnOutput(
            self,
            OUTPUT_DISPATCH_DLQ_URL,
            value=self.dispatch_queue.dead_letters.queue_url,
            description="Dead-letter queue of parked firings (DISPATCH_DLQ_URL of `workflow-scheduler dlq redrive`)",
        )
        CfnOutput(
            self,
            OUTPUT_ALARM_TOPIC_ARN,
            value=self.alarms.topic.topic_arn,
            description="SNS topic of the service's alarms (parked or failed firings, function errors): subscribe",
        )
        CfnOutput(
            self,
            OUTPUT_SCHEDULE_GROUP_NAME,
            value=self.cron.group.schedule_group_name,
            description="EventBridge Scheduler group of the cron triggers' schedules (one per translated expression)",
        )
        CfnOutput(
            self,
            OUTPUT_SCHEDULES_DLQ_URL,
            value=self.cron.dead_letters.queue_url,
            description="Dead-letter queue of cron firings that failed for good (inspect, then replay: docs/deploy.md)",
        )
        CfnOutput(
            self,
            OUTPUT_CRON_FUNCTION,
            value=self.cron.function.function_name,
            description="The cron function: replay a failed firing by invoking it with the firing's input",
        )
        CfnOutput(
            self,
            OUTPUT_RECONCILE_FUNCTION,
            value=self.reconcile.function.function_name,
            description='Invoke with {"dry_run": true} to see what reconcile would change, {"dry_run": false} to apply',
        )
