"""The dispatch queue: every accepted firing is one message; the dispatch function delivers it to the engine."""

from __future__ import annotations

from aws_cdk import Duration, aws_lambda, aws_sqs
from constructs import Construct

from infra_cdk.constants import (
    DISPATCH_DLQ_RETENTION,
    DISPATCH_MAX_RECEIVES,
    DISPATCH_VISIBILITY_TIMEOUT,
    ENV_DISPATCH_QUEUE_URL,
)


class DispatchQueue(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.max_receives = DISPATCH_MAX_RECEIVES
        self.visibility_timeout = DISPATCH_VISIBILITY_TIMEOUT
        self.queue, self.dead_letters = redriven_queue(
            self,
            visibility_timeout=self.visibility_timeout,
            max_receives=self.max_receives,
            dead_letter_retention=DISPATCH_DLQ_RETENTION,
        )

    def grant_send(self, function: aws_lambda.Function) -> None:
        function.add_environment(ENV_DISPATCH_QUEUE_URL, self.queue.queue_url)
        self.queue.grant_send_messages(function)


def redriven_queue(
    scope: Construct, *, visibility_timeout: Duration, max_receives: int, dead_letter_retention: Duration
) -> tuple[aws_sqs.Queue, aws_sqs.Queue]:
    """A queue (``Queue``) that parks a message after ``max_receives`` receives in its dead-letter queue
    (``DeadLetters``), both under ``scope``, encrypted and TLS only."""
    # A parked message keeps its original enqueue time: the DLQ's retention must outlast the queue's (4 days).
    dead_letters = aws_sqs.Queue(
        scope,
        "DeadLetters",
        encryption=aws_sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=dead_letter_retention,
    )
    queue = aws_sqs.Queue(
        scope,
        "Queue",
        encryption=aws_sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=aws_sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=max_receives),
    )
    return queue, dead_letters
