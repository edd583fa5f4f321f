"""The dispatch queue on SQS: every accepted firing is one message, its body the ``TriggerEvent``."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.domain.firing import DispatchUnavailable, TriggerEvent

MAX_DELAY_SECONDS = 900  # SQS's limit for DelaySeconds


class SqsDispatchQueue:
    def __init__(self, queue_url: str, client: Any = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def _sqs(self) -> Any:
        if self._client is None:
            import boto3  # first firing only: keeps boto3 out of the cold start of routes that never fire

            self._client = boto3.client("sqs")
        return self._client

    def send(self, event: TriggerEvent, delay_seconds: int = 0) -> None:
        try:
            self._sqs().send_message(
                QueueUrl=self._queue_url,
                MessageBody=event.message_body(),
                DelaySeconds=max(0, min(delay_seconds, MAX_DELAY_SECONDS)),
                MessageAttributes={
                    "execution_id": {"DataType": "String", "StringValue": event.execution_id},
                    "trigger_type": {"DataType": "String", "StringValue": event.trigger_type.value},
                },
            )
        except (BotoCoreError, ClientError) as exc:
            raise DispatchUnavailable("the dispatch queue is unavailable; nothing was sent, try again") from exc
