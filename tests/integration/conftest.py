"""The setup every integration module shares: its functions run in-process in their own moto account, with the
resources and variables every function reads. A module adds what only it needs through the ``Stack``."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.api import ApiClient
from workflow_scheduler.local.functions import load_handler_module

pytestmark = pytest.mark.integration

PUBLIC_BASE_URL = "https://hooks.example.com"


def create_state_table(name: str = "state") -> str:
    """A table keyed by ``id``, as the stack makes the state table (idempotency records, locks)."""
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def queue_depth(queue_url: str) -> int:
    """Messages on a queue: visible, in flight or delayed."""
    names: Any = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


@dataclass
class Stack:
    """The module's moto account with the JWT secret and the dispatch queue; ``env`` sets the module's own
    variables (undone when the module ends)."""

    env: pytest.MonkeyPatch
    database_url: str
    jwt_key: str
    queue_url: str

    def load(self, function: str) -> ModuleType:
        """The function's handler module, loaded afresh so that it reads the environment as it is now."""
        return load_handler_module(function, fresh=True)

    def api(self) -> ApiClient:
        return ApiClient(self.load("api"), self.jwt_key)

    def dead_letter_queue(self, max_receive_count: int) -> str:
        """Gives the dispatch queue a DLQ after ``max_receive_count`` receives, as the stack does; its URL."""
        sqs = boto3.client("sqs")
        dlq_url: str = sqs.create_queue(QueueName="dispatch-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        # The visibility timeout only applies when the function fails outright; retries set their own delay.
        sqs.set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "10"}
        )
        return dlq_url

    def state_table(self) -> None:
        """The dispatch function's idempotency table."""
        self.env.setenv("STATE_TABLE_NAME", create_state_table())

    def scheduler(self, group: str, function_arn: str, role_arn: str, dlq_arn: str | None = None) -> None:
        """EventBridge Scheduler for cron triggers: the schedule group and what the api function needs for it."""
        boto3.client("scheduler").create_schedule_group(Name=group)
        self.env.setenv("SCHEDULE_GROUP_NAME", group)
        self.env.setenv("CRON_FUNCTION_ARN", function_arn)
        self.env.setenv("SCHEDULER_ROLE_ARN", role_arn)
        if dlq_arn:
            self.env.setenv("SCHEDULES_DLQ_ARN", dlq_arn)


@contextmanager
def moto_stack(database_url: str) -> Iterator[Stack]:
    """moto with the JWT secret and the dispatch queue, and the variables every function reads."""
    key = secrets.token_urlsafe(32)
    with mock_aws(), pytest.MonkeyPatch.context() as env:
        arn = boto3.client("secretsmanager").create_secret(Name="jwt", SecretString=key)["ARN"]
        queue_url = boto3.client("sqs").create_queue(QueueName="dispatch")["QueueUrl"]
        env.setenv("DATABASE_URL", database_url)
        env.setenv("JWT_SECRET_ARN", arn)
        env.setenv("DISPATCH_QUEUE_URL", queue_url)
        env.setenv("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
        env.delenv("TESTING_MODE", raising=False)  # the engine is called unless a test says otherwise
        yield Stack(env, database_url, key, queue_url)


@pytest.fixture(scope="module")
def stack(database_url: str) -> Iterator[Stack]:
    """One moto account per module; the module's own fixture adds to it and loads its functions."""
    with moto_stack(database_url) as built:
        yield built
