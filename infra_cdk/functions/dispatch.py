"""The dispatch function: firings from the dispatch queue to the workflow engine (testing mode: an e-mail instead).

An SQS event source mapping with partial batch responses (``ReportBatchItemFailures``): a record that must be retried
stays on the queue, with its next delivery delayed by the function (``ChangeMessageVisibility``), until the queue's
redrive policy parks it in the dead-letter queue after ``DISPATCH_MAX_RECEIVES`` deliveries.
"""

from __future__ import annotations

from aws_cdk import Duration, aws_lambda, aws_lambda_event_sources, aws_secretsmanager, aws_ses
from constructs import Construct

from infra_cdk.config import ConfigError, StackConfig, TestingMail
from infra_cdk.constants import (
    DISPATCH_BACKOFF_BASE_SECONDS,
    DISPATCH_BACKOFF_MAX_SECONDS,
    DISPATCH_BATCH_SIZE,
    DISPATCH_BATCHING_WINDOW,
    DISPATCH_FUNCTION,
    DISPATCH_FUNCTION_ID,
    DISPATCH_MEMORY_MB,
    DISPATCH_TIMEOUT,
    ENGINE_CONNECT_TIMEOUT_SECONDS,
    ENGINE_READ_TIMEOUT_SECONDS,
    ENV_DISPATCH_BACKOFF_BASE,
    ENV_DISPATCH_BACKOFF_MAX,
    ENV_DISPATCH_MAX_ATTEMPTS,
    ENV_EMAIL_CLIENT_TYPE,
    ENV_EMAIL_FROM,
    ENV_ENGINE_CONNECT_TIMEOUT,
    ENV_ENGINE_READ_TIMEOUT,
    ENV_SMTP_HOST,
    ENV_SMTP_PASSWORD_SECRET_ARN,
    ENV_SMTP_PORT,
    ENV_SMTP_SECURITY,
    ENV_SMTP_USERNAME,
    ENV_TESTING_EMAIL_RECIPIENT,
    ENV_TESTING_MODE,
    ENV_WORKFLOW_ENGINE_URL,
)
from infra_cdk.shared.dispatch_queue import DispatchQueue
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.resources import SharedResources

# Besides the engine call, a record needs PostgreSQL (5 s connect timeout, two statements) and DynamoDB (the
# idempotency record, before and after): the function timeout keeps this much room beyond the engine's timeouts.
ENGINE_CALL_MARGIN = Duration.seconds(20)


def _number(value: float) -> str:
    return f"{value:g}"


class Dispatch(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, shared: SharedResources, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        _check_timeouts(shared.dispatch_queue)
        testing = config.testing
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            DISPATCH_FUNCTION_ID,
            shared=shared,
            name=DISPATCH_FUNCTION,
            description="Delivers queued firings to the workflow engine (testing mode: e-mails them)",
            memory_size=DISPATCH_MEMORY_MB,
            timeout=DISPATCH_TIMEOUT,
            environment={
                ENV_WORKFLOW_ENGINE_URL: config.workflow_engine_url,
                ENV_ENGINE_CONNECT_TIMEOUT: _number(ENGINE_CONNECT_TIMEOUT_SECONDS),
                ENV_ENGINE_READ_TIMEOUT: _number(ENGINE_READ_TIMEOUT_SECONDS),
                # The same number as the queue's redrive policy: the function knows its last attempt by it.
                ENV_DISPATCH_MAX_ATTEMPTS: str(shared.dispatch_queue.max_receives),
                ENV_DISPATCH_BACKOFF_BASE: _number(DISPATCH_BACKOFF_BASE_SECONDS),
                ENV_DISPATCH_BACKOFF_MAX: _number(DISPATCH_BACKOFF_MAX_SECONDS),
                ENV_TESTING_MODE: "true" if testing else "false",
                **(environment_for_testing_mode(testing) if testing else {}),
            },
        ).function
        # Powertools idempotency records (one per execution id), in the service's state table.
        shared.state_table.grant_read_write(self.function)
        # Binding the event source grants the function what consuming takes (sqs:ReceiveMessage, DeleteMessage,
        # GetQueueAttributes, GetQueueUrl, ChangeMessageVisibility: the last one is how the function delays a retry).
        self.event_source = aws_lambda_event_sources.SqsEventSource(
            shared.dispatch_queue.queue,
            batch_size=DISPATCH_BATCH_SIZE,
            max_batching_window=DISPATCH_BATCHING_WINDOW,
            report_batch_item_failures=True,
            # The cap on concurrent invocations that protects the engine (and the database). It is the event
            # source's own limit, not reserved concurrency: a function throttled by reserved concurrency hands
            # messages back to SQS, where every refusal counts as a receive and parks firings early.
            max_concurrency=config.dispatch_max_concurrency,
        )
        self.function.add_event_source(self.event_source)
        if testing:
            self._grant_mail(testing)

    def _grant_mail(self, testing: TestingMail) -> None:
        if testing.smtp_password_secret_arn:
            aws_secretsmanager.Secret.from_secret_complete_arn(
                self, "SmtpPassword", testing.smtp_password_secret_arn
            ).grant_read(self.function)
        for index, name in enumerate(testing.ses_identities):
            # Only the action the function calls (SES v1 SendRawEmail), on named identities. SES checks the
            # From identity, and in the SES sandbox also the recipient's: config.py lists both by default.
            identity = aws_ses.EmailIdentity.from_email_identity_name(self, f"SesIdentity{index}", name)
            identity.grant(self.function, "ses:SendRawEmail")


def environment_for_testing_mode(testing: TestingMail) -> dict[str, str]:
    env = {
        ENV_TESTING_EMAIL_RECIPIENT: testing.recipient,
        ENV_EMAIL_CLIENT_TYPE: testing.client_type,
        ENV_EMAIL_FROM: testing.sender,
    }
    if testing.client_type == "smtp":
        if testing.smtp_host is None:
            raise ConfigError("the SMTP client needs a host")  # config.py refuses this already
        env.update(
            {
                ENV_SMTP_HOST: testing.smtp_host,
                ENV_SMTP_PORT: str(testing.smtp_port),
                ENV_SMTP_SECURITY: testing.smtp_security,
            }
        )
        if testing.smtp_username:
            env[ENV_SMTP_USERNAME] = testing.smtp_username
        if testing.smtp_password_secret_arn:
            env[ENV_SMTP_PASSWORD_SECRET_ARN] = testing.smtp_password_secret_arn
    return env


def _check_timeouts(dispatch_queue: DispatchQueue) -> None:
    """The relations between the timeouts that CloudFormation would only report at deploy time, or never."""
    engine_call = ENGINE_CONNECT_TIMEOUT_SECONDS + ENGINE_READ_TIMEOUT_SECONDS
    if engine_call + ENGINE_CALL_MARGIN.to_seconds() > DISPATCH_TIMEOUT.to_seconds():
        raise ValueError(f"DISPATCH_TIMEOUT leaves too little room for an engine call of up to {engine_call} s")
    # Lambda refuses an SQS event source whose visibility timeout is shorter than the function timeout.
    if dispatch_queue.visibility_timeout.to_seconds() < DISPATCH_TIMEOUT.to_seconds():
        raise ValueError("the dispatch queue's visibility timeout must be at least the dispatch function's timeout")
    if Duration.hours(12).to_seconds() < DISPATCH_BACKOFF_MAX_SECONDS:
        raise ValueError("SQS delays a message by at most 12 hours: lower DISPATCH_BACKOFF_MAX_SECONDS")
