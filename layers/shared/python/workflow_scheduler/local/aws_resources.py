"""The AWS resources the CDK stack creates, made in the local AWS endpoint (moto) when the local system starts.

Each resource is one entry in ``RESOURCES``: the environment variable the functions read it from, and a
function that creates it (or finds it, so a second start against the same endpoint works) and returns the
variable's value.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from workflow_scheduler.local.state import signing_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

JWT_SECRET_NAME = "workflow-scheduler/jwt-signing-key"  # noqa: S105 (the name, not the secret)
STATE_TABLE_NAME = "workflow-scheduler-state"
DISPATCH_QUEUE_NAME = "workflow-scheduler-dispatch"
DISPATCH_DLQ_NAME = "workflow-scheduler-dispatch-dlq"
DISPATCH_MAX_RECEIVES = 5  # deliveries before a firing goes to the dead-letter queue
GITHUB_EVENTS_QUEUE_NAME = "workflow-scheduler-github-events"
GITHUB_EVENTS_DLQ_NAME = "workflow-scheduler-github-events-dlq"
GITHUB_EVENTS_MAX_RECEIVES = 5  # routing attempts before a delivery is parked (the router refuses on the last)
SCHEDULE_GROUP_NAME = "workflow-scheduler"
SCHEDULES_DLQ_NAME = "workflow-scheduler-schedules-dlq"
CRON_FUNCTION_NAME = "workflow-scheduler-cron"
SCHEDULER_ROLE_NAME = "workflow-scheduler-scheduler"
EMAIL_ATTACHMENTS_BUCKET = "workflow-scheduler-email-attachments"
# moto's account; the ARNs it gives the resources it holds name it too.
ACCOUNT_ID = "123456789012"

log = logging.getLogger("local.aws")


class Aws:
    """Clients for the local endpoint; a wrong endpoint fails in seconds, not after botocore's long retries."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self.endpoint_url = endpoint_url
        self._session = boto3.session.Session(region_name=region)
        self._config = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2})

    def secretsmanager(self) -> SecretsManagerClient:
        return self._session.client("secretsmanager", endpoint_url=self.endpoint_url, config=self._config)

    def dynamodb(self) -> DynamoDBClient:
        return self._session.client("dynamodb", endpoint_url=self.endpoint_url, config=self._config)

    def sqs(self) -> SQSClient:
        return self._session.client("sqs", endpoint_url=self.endpoint_url, config=self._config)

    def scheduler(self) -> EventBridgeSchedulerClient:
        return self._session.client("scheduler", endpoint_url=self.endpoint_url, config=self._config)

    def s3(self) -> S3Client:
        return self._session.client("s3", endpoint_url=self.endpoint_url, config=self._config)

    @property
    def region(self) -> str:
        return str(self._session.region_name)


@dataclass(frozen=True)
class LocalResource:
    env_var: str
    description: str
    create: Callable[[Aws], str]


def jwt_secret(aws: Aws) -> str:
    """The HS256 key the api function verifies bearer tokens with: the one ``workflow-scheduler token`` signs with."""
    client = aws.secretsmanager()
    try:
        return client.create_secret(Name=JWT_SECRET_NAME, SecretString=signing_key())["ARN"]
    except client.exceptions.ResourceExistsException:
        # Left by an earlier start; another state dir may have another key, so store this one.
        return client.put_secret_value(SecretId=JWT_SECRET_NAME, SecretString=signing_key())["ARN"]


def state_table(aws: Aws) -> str:
    """Locks and idempotency records (Powertools' DynamoDB persistence layer: key ``id``, TTL ``expiration``)."""
    client = aws.dynamodb()
    with contextlib.suppress(client.exceptions.ResourceInUseException):  # made by an earlier start
        client.create_table(
            TableName=STATE_TABLE_NAME,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    client.get_waiter("table_exists").wait(TableName=STATE_TABLE_NAME, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = client.describe_time_to_live(TableName=STATE_TABLE_NAME)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(
            TableName=STATE_TABLE_NAME, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )
    return STATE_TABLE_NAME


def dispatch_queue(aws: Aws) -> str:
    """Accepted firings on their way to the engine, with a dead-letter queue for those that keep failing."""
    return _queue_with_dlq(aws.sqs(), DISPATCH_QUEUE_NAME, DISPATCH_DLQ_NAME, DISPATCH_MAX_RECEIVES)


def dispatch_dead_letter_queue(aws: Aws) -> str:
    """Where the dispatch queue parks firings after its last attempt (``dlq redrive`` moves them back)."""
    return _queue(aws.sqs(), DISPATCH_DLQ_NAME, {})


def github_events_queue(aws: Aws) -> str:
    """Recorded GitHub deliveries on their way to the github router, with a dead-letter queue for those parked."""
    return _queue_with_dlq(aws.sqs(), GITHUB_EVENTS_QUEUE_NAME, GITHUB_EVENTS_DLQ_NAME, GITHUB_EVENTS_MAX_RECEIVES)


def schedule_group(aws: Aws) -> str:
    """The group holding one EventBridge Scheduler schedule per cron expression (the scheduler emulator fires them)."""
    client = aws.scheduler()
    try:
        client.get_schedule_group(Name=SCHEDULE_GROUP_NAME)
    except client.exceptions.ResourceNotFoundException:
        # Only when missing: moto's create_schedule_group replaces an existing group, schedules and all.
        client.create_schedule_group(Name=SCHEDULE_GROUP_NAME)
    return SCHEDULE_GROUP_NAME


def schedules_dead_letter_queue(aws: Aws) -> str:
    """Where EventBridge Scheduler puts invocations it could not deliver (the schedules' DeadLetterConfig)."""
    client = aws.sqs()
    url = _queue(client, SCHEDULES_DLQ_NAME, {})
    return client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def cron_function(aws: Aws) -> str:
    """The schedules' target: no Lambda in moto, the scheduler emulator runs ``functions/cron`` in-process."""
    return f"arn:aws:lambda:{aws.region}:{ACCOUNT_ID}:function:{CRON_FUNCTION_NAME}"


def scheduler_role(aws: Aws) -> str:
    """The role EventBridge Scheduler would assume to invoke the cron function; moto checks nothing of it."""
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{SCHEDULER_ROLE_NAME}"


def email_attachments_bucket(aws: Aws) -> str:
    """Where the e-mail poller puts large attachments, given to workflows as presigned URLs."""
    client = aws.s3()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):  # made by an earlier start
        if aws.region == "us-east-1":  # the one region that refuses a location constraint
            client.create_bucket(Bucket=EMAIL_ATTACHMENTS_BUCKET)
        else:
            client.create_bucket(
                Bucket=EMAIL_ATTACHMENTS_BUCKET,
                CreateBucketConfiguration={"LocationConstraint": aws.region},  # type: ignore[typeddict-item]
            )
    return EMAIL_ATTACHMENTS_BUCKET


def _queue_with_dlq(client: SQSClient, name: str, dlq_name: str, max_receives: int) -> str:
    dlq_url = _queue(client, dlq_name, {})
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
    return _queue(client, name, {"RedrivePolicy": redrive})


def _queue(client: SQSClient, name: str, attributes: Mapping[QueueAttributeNameType, str]) -> str:
    try:
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
    except client.exceptions.QueueDoesNotExist:
        return client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    if attributes:
        client.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


RESOURCES: tuple[LocalResource, ...] = (
    LocalResource("JWT_SECRET_ARN", "Secrets Manager secret: the JWT signing key", jwt_secret),
    LocalResource("STATE_TABLE_NAME", "DynamoDB table: locks and idempotency records", state_table),
    LocalResource("DISPATCH_QUEUE_URL", "SQS queue (and DLQ): firings for the engine", dispatch_queue),
    LocalResource("DISPATCH_DLQ_URL", "SQS dead-letter queue: parked firings", dispatch_dead_letter_queue),
    LocalResource(
        "GITHUB_EVENTS_QUEUE_URL", "SQS queue (and DLQ): recorded GitHub deliveries for the router", github_events_queue
    ),
    LocalResource("SCHEDULE_GROUP_NAME", "EventBridge Scheduler group: cron schedules", schedule_group),
    LocalResource(
        "SCHEDULES_DLQ_ARN", "SQS dead-letter queue: undeliverable schedule invocations", schedules_dead_letter_queue
    ),
    LocalResource("CRON_FUNCTION_ARN", "Lambda function: the schedules' target", cron_function),
    LocalResource("SCHEDULER_ROLE_ARN", "IAM role: assumed by EventBridge Scheduler", scheduler_role),
    LocalResource("EMAIL_ATTACHMENTS_BUCKET", "S3 bucket: large e-mail attachments", email_attachments_bucket),
)


def create_resources(
    endpoint_url: str, region: str, resources: tuple[LocalResource, ...] = RESOURCES
) -> dict[str, str]:
    """Create (or find) every resource; the function environment variables that name them."""
    aws = Aws(endpoint_url, region)
    environment = {}
    for resource in resources:
        environment[resource.env_var] = resource.create(aws)
        log.debug("%s: %s = %s", resource.description, resource.env_var, environment[resource.env_var])
    return environment
