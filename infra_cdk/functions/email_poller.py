"""E-mail triggers (issue 10): the poller function, its schedule, its network, the service-wide mailbox's secret,
the bucket of large attachments, and the alarms on stale or failing mailboxes.

The schedule is EventBridge Scheduler's ``rate(1 minute)`` (as the architecture has it, and like the daily
reconcile: a role it assumes rather than a resource policy on the function, and a retry policy of its own),
in the account's default group: reconcile deletes every schedule in the cron triggers' group that no trigger owns.
The poller polls each trigger at its own check_interval. It runs in the VPC's egress subnets with a security
group of its own that opens IMAP (993, 143), HTTPS (AWS APIs, OAuth token endpoints) and the database proxy,
nothing else.
"""

from __future__ import annotations

import json
from typing import cast

from aws_cdk import (
    RemovalPolicy,
    Stack,
    aws_cloudwatch,
    aws_ec2,
    aws_iam,
    aws_lambda,
    aws_s3,
    aws_scheduler,
    aws_scheduler_targets,
    aws_secretsmanager,
)
from constructs import Construct

from infra_cdk import nag
from infra_cdk.constants import (
    ALARM_PERIOD,
    EMAIL_ATTACHMENT_EXPIRY,
    EMAIL_ATTACHMENT_PREFIX,
    EMAIL_ATTACHMENT_URL_SECONDS,
    EMAIL_FAILING_PERIODS,
    EMAIL_METRIC_FAILING,
    EMAIL_METRIC_STALE,
    EMAIL_NOT_RUNNING_PERIODS,
    EMAIL_POLL_MAX_EVENT_AGE,
    EMAIL_POLL_RATE,
    EMAIL_POLL_RETRY_ATTEMPTS,
    EMAIL_POLLER_FUNCTION,
    EMAIL_POLLER_FUNCTION_ID,
    EMAIL_POLLER_MEMORY_MB,
    EMAIL_POLLER_TIMEOUT,
    ENV_EMAIL_ALLOWED_PRIVATE_CIDRS,
    ENV_EMAIL_ATTACHMENT_URL_SECONDS,
    ENV_EMAIL_ATTACHMENTS_BUCKET,
    ENV_EMAIL_MAILBOX_SECRET_ARN,
    ENV_LOCK_BACKEND,
    HTTPS_PORT,
    IMAP_PORTS,
    LOCK_BACKEND,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)
from infra_cdk.functions.cron import default_group_role
from infra_cdk.shared.alarms import Alarms
from infra_cdk.shared.database import Database
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.resources import SharedResources

# The service-wide mailbox until the operator fills it in (docs/email.md): no IMAP_SERVER, no default mailbox.
SERVICE_MAILBOX_TEMPLATE = {"IMAP_SERVER": "", "EMAIL_USER": "", "IMAP_USE_SSL": "true"}


class EmailPoller(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedResources,
        allowed_private_cidrs: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self._managed_secrets = shared.managed_secrets
        # Where triggers may connect besides public addresses (domain/outbound.py): the operator's mail servers only.
        # EMAIL_ALLOW_PRIVATE_DESTINATIONS is never set here: it would let tenants reach into the VPC.
        self._destinations = (
            {ENV_EMAIL_ALLOWED_PRIVATE_CIDRS: ",".join(allowed_private_cidrs)} if allowed_private_cidrs else {}
        )
        self.security_group = self._security_group(shared.database)
        self.attachments = self._attachments_bucket()
        self.service_mailbox = self._service_mailbox_secret()
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            EMAIL_POLLER_FUNCTION_ID,
            shared=shared,
            name=EMAIL_POLLER_FUNCTION,
            description="E-mail triggers: polls the due mailboxes over IMAP each minute; queues a firing per new match",
            memory_size=EMAIL_POLLER_MEMORY_MB,
            timeout=EMAIL_POLLER_TIMEOUT,
            environment={
                ENV_LOCK_BACKEND: LOCK_BACKEND,
                ENV_EMAIL_ATTACHMENTS_BUCKET: self.attachments.bucket_name,
                ENV_EMAIL_ATTACHMENT_URL_SECONDS: str(EMAIL_ATTACHMENT_URL_SECONDS),
                ENV_EMAIL_MAILBOX_SECRET_ARN: self.service_mailbox.secret_arn,
                **self._destinations,
            },
            network=shared.database.allow_client(self.security_group),
        ).function
        shared.dispatch_queue.grant_send(self.function)
        shared.state_table.grant_read_write(self.function)  # the mailboxes' locks (adapters/locks_dynamodb.py)
        shared.managed_secrets.grant_read(self.function)  # the triggers' passwords and OAuth secrets, with owner tags
        self.service_mailbox.grant_read(self.function)
        self._grant_attachments()
        # The next minute's run is the retry: Lambda's own retries would only overlap it.
        self.function.configure_async_invoke(
            retry_attempts=EMAIL_POLL_RETRY_ATTEMPTS, max_event_age=EMAIL_POLL_MAX_EVENT_AGE
        )
        self._schedule()

    def grant_mailbox_checks(self, function: aws_lambda.Function) -> None:
        """What a deploy needs to log in to an e-mail trigger's mailbox (the api function): the service mailbox
        (its secret's ARN and read access), the triggers' own secrets (read, owner-tagged ones only) and the same
        destinations as the poller. Its network must reach IMAP (993, 143) and the OAuth token endpoints (443)."""
        function.add_environment(ENV_EMAIL_MAILBOX_SECRET_ARN, self.service_mailbox.secret_arn)
        for name, value in self._destinations.items():
            function.add_environment(name, value)
        self.service_mailbox.grant_read(function)
        self._managed_secrets.grant_read(function)

    def _security_group(self, database: Database) -> aws_ec2.SecurityGroup:
        group = aws_ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=database.vpc,
            description="The e-mail poller: IMAP, HTTPS and the database proxy only",
            allow_all_outbound=False,
        )
        for port in IMAP_PORTS:
            group.add_egress_rule(aws_ec2.Peer.any_ipv4(), aws_ec2.Port.tcp(port), f"IMAP servers ({port})")
        group.add_egress_rule(
            aws_ec2.Peer.any_ipv4(), aws_ec2.Port.tcp(HTTPS_PORT), "AWS APIs and OAuth token endpoints"
        )
        return group

    def _attachments_bucket(self) -> aws_s3.Bucket:
        bucket = aws_s3.Bucket(
            self,
            "Attachments",
            encryption=aws_s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=aws_s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=aws_s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                aws_s3.LifecycleRule(
                    id="ExpireWithTheirUrls",
                    expiration=EMAIL_ATTACHMENT_EXPIRY,
                    abort_incomplete_multipart_upload_after=EMAIL_ATTACHMENT_EXPIRY,
                )
            ],
            # Objects expire within a day or two anyway; a deleted stack leaves an empty bucket behind to delete.
            removal_policy=RemovalPolicy.RETAIN,
        )
        nag.acknowledge(
            bucket,
            "the attachments live a day and are only written by the poller and read through the URLs it signs; "
            "server access logs would keep the object keys (execution ids) far longer than the objects themselves, "
            "and the poller's logs already record every firing",
            "AwsSolutions-S1",
        )
        return bucket

    def _grant_attachments(self) -> None:
        """Put the objects and sign their download URLs (a presigned GET needs the signer's s3:GetObject)."""
        objects = self.attachments.arn_for_objects(f"{EMAIL_ATTACHMENT_PREFIX}*")
        bucket_id = Stack.of(self).get_logical_id(cast(aws_s3.CfnBucket, self.attachments.node.default_child))
        self.function.add_to_role_policy(
            aws_iam.PolicyStatement(actions=["s3:PutObject", "s3:GetObject"], resources=[objects])
        )
        nag.acknowledge(
            self.function,
            "object keys are derived from each message's execution id when it fires; put and get only, only under "
            f"{EMAIL_ATTACHMENT_PREFIX} of the service's own attachments bucket",
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{EMAIL_ATTACHMENT_PREFIX}*]",
        )

    def _service_mailbox_secret(self) -> aws_secretsmanager.Secret:
        secret = aws_secretsmanager.Secret(
            self,
            "ServiceMailbox",
            description=(
                f"{SERVICE_NAME}: the service-wide mailbox of e-mail triggers that name none; set IMAP_SERVER "
                "(host or host:port), EMAIL_USER and EMAIL_PASSWORD (an app password)"
            ),
            generate_secret_string=aws_secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(SERVICE_MAILBOX_TEMPLATE), generate_string_key="EMAIL_PASSWORD"
            ),
        )
        nag.acknowledge(
            secret,
            "the mailbox password is issued by the mail provider (an app password or the account's own); Secrets "
            "Manager cannot change it at the provider, so the operator replaces it when the provider's changes",
            "AwsSolutions-SMG4",
        )
        return secret

    def _schedule(self) -> None:
        self.schedule_role = default_group_role(self, self.function, "the e-mail poller (every minute)")
        self.schedule = aws_scheduler.Schedule(
            self,
            "EveryMinute",
            description=f"{SERVICE_NAME}: polls the e-mail triggers' mailboxes",
            schedule=aws_scheduler.ScheduleExpression.rate(EMAIL_POLL_RATE),
            target=aws_scheduler_targets.LambdaInvoke(
                self.function,
                input=aws_scheduler.ScheduleTargetInput.from_object(
                    {"scheduled_time": aws_scheduler.ContextAttribute.scheduled_time}
                ),
                role=self.schedule_role,
                retry_attempts=EMAIL_POLL_RETRY_ATTEMPTS,
                max_event_age=EMAIL_POLL_MAX_EVENT_AGE,
            ),
        )

    def metric(self, name: str) -> aws_cloudwatch.Metric:
        """One of the poller's own metrics (Powertools: the service's namespace and ``service`` dimension)."""
        return aws_cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": SERVICE_NAME},
            statistic=aws_cloudwatch.Stats.MAXIMUM,
            period=ALARM_PERIOD,
        )

    def add_alarms(self, alarms: Alarms) -> None:
        """Stale or failing mailboxes, the poller failing whole runs, and the poller not running at all."""
        self.failing_alarm = alarms.add(
            "EmailTriggersFailing",
            (
                "E-mail triggers' polls have failed for 15 minutes (login refused, host unreachable, TLS, a missing "
                "folder, a secret that cannot be used, or the queue down). The poller logs each failure once "
                "(event email_poll_failed, with the trigger and the reason); GET .../triggers shows it as degraded."
            ),
            self.metric(EMAIL_METRIC_FAILING),
            periods=EMAIL_FAILING_PERIODS,
        )
        self.stale_alarm = alarms.add(
            "EmailTriggersStale",
            (
                "E-mail triggers have not been polled successfully for 3 of their intervals (a poller stuck on a "
                "mailbox's lock, or runs out of time). See the e-mail poller's logs (event email_polled)."
            ),
            self.metric(EMAIL_METRIC_STALE),
        )
        self.errors_alarm = alarms.add_errors(
            "EmailPollerErrors",
            (
                "The e-mail poller failed whole runs for 10 minutes (the database or the trigger listing, a crash, a "
                "timeout): no mailbox is being read. See the function's logs."
            ),
            self.function,
            periods=2,
        )
        self.not_running_alarm = alarms.add(
            "EmailPollerNotRunning",
            (
                "The e-mail poller has not run for 15 minutes: its EveryMinute schedule is disabled or deleted, or "
                "its invocations are throttled. No e-mail trigger fires meanwhile."
            ),
            self.function.metric_invocations(period=ALARM_PERIOD, statistic=aws_cloudwatch.Stats.SUM),
            periods=EMAIL_NOT_RUNNING_PERIODS,
            below=True,
            missing_data=aws_cloudwatch.TreatMissingData.BREACHING,
        )
