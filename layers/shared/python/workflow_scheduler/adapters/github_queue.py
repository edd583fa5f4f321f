"""The github events queue on SQS: one message per recorded delivery, naming it (the payload stays in PostgreSQL:
GitHub sends up to 25 MB, SQS carries 1 MiB)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.domain.errors import Unavailable
from workflow_scheduler.domain.triggers.github.ingress import GithubNotConfigured


class DeliveryQueueUnavailable(Unavailable):
    code = "github_queue_unavailable"


def delivery_message(delivery_id: str) -> str:
    return json.dumps({"delivery_id": delivery_id})


def delivery_id_of(body: str) -> str | None:
    """The delivery a message names, or None when the message is not one of ours."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    delivery_id = message.get("delivery_id") if isinstance(message, dict) else None
    return delivery_id if isinstance(delivery_id, str) and delivery_id else None


class SqsDeliveryQueue:
    def __init__(self, queue_url: str, client: Any = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def send(self, delivery_id: str) -> None:
        if self._client is None:
            import boto3  # on the first delivery: pings and refusals never load it

            self._client = boto3.client("sqs")
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=delivery_message(delivery_id))
        except (BotoCoreError, ClientError) as exc:
            raise DeliveryQueueUnavailable("the github events queue is unavailable; the delivery was not kept") from exc


class MissingDeliveryQueue:
    """Stands in when no queue is configured: every delivery is refused (503) and nothing is recorded."""

    def send(self, delivery_id: str) -> None:
        raise GithubNotConfigured("GITHUB_EVENTS_QUEUE_URL is not set: GitHub deliveries cannot be queued")
