"""GitHub App deliveries (issue 9): the github function behind ``POST /webhooks/github``, the App's webhook secret,
and the github events queue (with its dead-letter queue) the function fills and the router consumes.

The stack routes the function through the API with ``AUTH_BY_SIGNATURE``. The webhook secret is the stack's own,
generated (copy it into the App's settings), unless ``githubWebhookSecretArn`` names an existing one.
"""

from __future__ import annotations

from aws_cdk import aws_lambda, aws_secretsmanager
from constructs import Construct

from infra_cdk import nag
from infra_cdk.config import GithubAppConfig
from infra_cdk.constants import (
    ENV_GITHUB_EVENTS_QUEUE_URL,
    ENV_GITHUB_WEBHOOK_SECRET_ARN,
    GITHUB_EVENTS_DLQ_RETENTION,
    GITHUB_EVENTS_MAX_RECEIVES,
    GITHUB_EVENTS_VISIBILITY_TIMEOUT,
    GITHUB_FUNCTION,
    GITHUB_FUNCTION_ID,
    GITHUB_MEMORY_MB,
    GITHUB_TIMEOUT,
    GITHUB_WEBHOOK_SECRET_LENGTH,
)
from infra_cdk.shared.alarms import Alarms
from infra_cdk.shared.dispatch_queue import redriven_queue
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.github_app import ROTATED_AT_GITHUB
from infra_cdk.shared.resources import SharedResources

AUTH_BY_SIGNATURE = (
    "GitHub App deliveries: the function verifies X-Hub-Signature-256, the HMAC-SHA256 of the raw body with the "
    "App's webhook secret, before it reads anything; GitHub cannot send a bearer token or answer an authorizer"
)


class GithubWebhooks(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedResources, config: GithubAppConfig
    ) -> None:
        super().__init__(scope, construct_id)
        self.webhook_secret = webhook_secret(self, config)
        self.max_receives = GITHUB_EVENTS_MAX_RECEIVES
        self.visibility_timeout = GITHUB_EVENTS_VISIBILITY_TIMEOUT
        # Each message names a recorded delivery; its payload waits in PostgreSQL (GitHub sends up to 25 MB).
        self.queue, self.dead_letters = redriven_queue(
            self,
            visibility_timeout=self.visibility_timeout,
            max_receives=self.max_receives,
            dead_letter_retention=GITHUB_EVENTS_DLQ_RETENTION,
        )
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            GITHUB_FUNCTION_ID,
            shared=shared,
            name=GITHUB_FUNCTION,
            description="GitHub App deliveries (POST /webhooks/github): verifies the signature, records, queues",
            memory_size=GITHUB_MEMORY_MB,
            timeout=GITHUB_TIMEOUT,
            environment={
                ENV_GITHUB_WEBHOOK_SECRET_ARN: self.webhook_secret.secret_arn,
                ENV_GITHUB_EVENTS_QUEUE_URL: self.queue.queue_url,
            },
        ).function
        self.webhook_secret.grant_read(self.function)
        self.queue.grant_send_messages(self.function)

    def add_alarms(self, alarms: Alarms) -> None:
        self.parked_deliveries = alarms.add_parked(
            "GithubDeliveriesParked",
            (
                "GitHub deliveries are parked in the github events dead-letter queue: the router failed them on every "
                "attempt (see the github_router function's logs, event github_route_failed; the delivery's record "
                "in github_webhook_events has the last error). Fix the cause, then redrive them to the queue."
            ),
            self.dead_letters,
        )
        # Refusals (401, 413, 503) are answers, not errors: an error is a crash or a timeout past GitHub's 10 s.
        self.errors = alarms.add_errors(
            "GithubErrors",
            (
                "The github function failed whole invocations (crash or timeout): GitHub counts those deliveries "
                "as failed; the redelivery sweep asks for them again. See the function's logs."
            ),
            self.function,
        )


def webhook_secret(scope: Construct, config: GithubAppConfig) -> aws_secretsmanager.ISecret:
    """The App's webhook secret: the operator's (``githubWebhookSecretArn``), or a new one with a generated value."""
    if config.webhook_secret_arn:
        return aws_secretsmanager.Secret.from_secret_complete_arn(scope, "WebhookSecret", config.webhook_secret_arn)
    secret = aws_secretsmanager.Secret(
        scope,
        "WebhookSecret",
        description="The GitHub App's webhook secret: set the same value in the App's settings",
        generate_secret_string=aws_secretsmanager.SecretStringGenerator(
            password_length=GITHUB_WEBHOOK_SECRET_LENGTH, exclude_punctuation=True
        ),
    )
    nag.acknowledge(secret, ROTATED_AT_GITHUB, "AwsSolutions-SMG4")
    return secret
