"""SQS queues (moto's) as tests read them."""

from __future__ import annotations

import json
from typing import Any

import boto3


def take_bodies(queue_url: str) -> list[str]:
    """The body of every message visible on the queue, deleted from it."""
    sqs, found = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            found.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def take_messages(queue_url: str) -> list[dict[str, Any]]:
    """The JSON messages (firings) visible on the queue, deleted from it."""
    return [json.loads(body) for body in take_bodies(queue_url)]
