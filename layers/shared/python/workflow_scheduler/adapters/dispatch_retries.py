"""Retries on the dispatch queue (SQS): delaying a message's next delivery, and redriving parked messages.

A retry keeps the message on the queue and moves its next delivery out by changing its visibility timeout; the
queue's redrive policy parks it in the dead-letter queue after the last attempt. ``redrive`` moves parked
messages back by receive, send and delete (moto has no ``StartMessageMoveTask``, and this works on both): a
crash between send and delete leaves a copy in the dead-letter queue, which delivers as a duplicate and is
skipped by the dispatch function's idempotency.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.domain.errors import Unavailable
from workflow_scheduler.observability import logger

SQS_BATCH = 10  # the most SQS receives, sends or deletes in one call
_REDRIVE_VISIBILITY_SECONDS = 60  # a redrive that dies midway lets its messages reappear in the DLQ after this
_REDRIVE_WAIT_SECONDS = 1  # a long poll sees every server, so an empty answer means an empty queue


class SqsRetryScheduler:
    def __init__(self, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self._client = client

    def postpone(self, queue_url: str, receipt_handle: str, seconds: int) -> None:
        """Deliver the message again in ``seconds``; if SQS refuses, the queue's visibility timeout applies."""
        try:
            self._client.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except (BotoCoreError, ClientError) as exc:
            logger.warning(
                "cannot delay the message's next delivery; the queue's visibility timeout applies",
                extra={"event": "dispatch_postpone_failed", "error": str(exc)},
            )


class RedriveIncomplete(Unavailable):
    """The queue refused some messages; they stay in the dead-letter queue."""

    code = "redrive_incomplete"

    def __init__(self, moved: int, reason: str) -> None:
        super().__init__(f"moved {moved} messages, then the queue refused one: {reason}")
        self.moved = moved


class RedriveFailed(Unavailable):
    """SQS refused the redrive, or the queue has no dead-letter queue; nothing more moved."""

    code = "redrive_failed"


def redrive_dead_letters(queue_url: str, dead_letter_url: str | None = None, *, limit: int | None = None) -> int:
    """``redrive`` with the caller's AWS credentials; the dead-letter queue is the queue's redrive policy's unless
    given. ``RedriveIncomplete`` or ``RedriveFailed`` when SQS refuses."""
    import boto3

    client = boto3.client("sqs")
    try:
        return redrive(client, dead_letter_url or dead_letter_queue_url(client, queue_url), queue_url, limit=limit)
    except (BotoCoreError, ClientError, ValueError) as exc:
        raise RedriveFailed(f"cannot redrive the dead-letter queue: {exc}") from exc


def dead_letter_queue_url(client: Any, queue_url: str) -> str:
    """The dead-letter queue named in the queue's redrive policy."""
    attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    if "RedrivePolicy" not in attributes:
        raise ValueError(f"the queue {queue_url} has no dead-letter queue")
    arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
    _, _, _, _, account, name = arn.split(":", 5)
    return str(client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def redrive(client: Any, dead_letter_url: str, queue_url: str, limit: int | None = None) -> int:
    """Move up to ``limit`` (default: all) messages from the dead-letter queue back to the queue; how many moved."""
    moved = 0
    while limit is None or moved < limit:
        count = SQS_BATCH if limit is None else min(SQS_BATCH, limit - moved)
        messages = client.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=count,
            MessageAttributeNames=["All"],
            VisibilityTimeout=_REDRIVE_VISIBILITY_SECONDS,
            WaitTimeSeconds=_REDRIVE_WAIT_SECONDS,
        ).get("Messages", [])
        if not messages:
            break
        entries = []
        for index, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        # Only what reached the queue leaves the dead-letter queue; the rest reappears there.
        done = [
            {"Id": ok["Id"], "ReceiptHandle": messages[int(ok["Id"])]["ReceiptHandle"]} for ok in sent["Successful"]
        ]
        if done:
            client.delete_message_batch(QueueUrl=dead_letter_url, Entries=done)
        moved += len(done)
        if sent.get("Failed"):
            raise RedriveIncomplete(moved, sent["Failed"][0].get("Message", sent["Failed"][0]["Code"]))
    return moved
