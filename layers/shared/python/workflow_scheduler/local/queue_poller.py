"""An SQS queue consumed in-process by its function, the way Lambda's SQS event source mapping consumes it (the
dispatch queue by the dispatch function, the github events queue by the github router).

A background thread long-polls the queue, hands each batch to the function as an SQS event (under the function's
lock: one invocation of it at a time, as in one Lambda instance), then deletes the records the function did not
report as failures. Those it did stay on the queue: the function has set when they come back,
and the queue's redrive policy parks them after the last attempt. If the function raises, nothing is deleted and
the whole batch comes back after the queue's visibility timeout, as with Lambda.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.local.invoke import LocalContext

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        DeleteMessageBatchRequestEntryTypeDef,
        MessageAttributeValueOutputTypeDef,
        MessageTypeDef,
    )

    from workflow_scheduler.local.gateway import LambdaHandler

BATCH_SIZE = 10  # the event source mapping's default batch size for SQS
_ERROR_PAUSE_SECONDS = 1.0


def _message_attribute(value: MessageAttributeValueOutputTypeDef) -> dict[str, Any]:
    """An SQS API message attribute in the shape Lambda puts in the event (camelCase keys)."""
    attribute: dict[str, Any] = {
        "dataType": value["DataType"],
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": value.get("BinaryListValues", []),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = value["BinaryValue"]
    return attribute


def sqs_event(messages: list[MessageTypeDef], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping gives the function for these received messages."""
    region = queue_arn.split(":")[3]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": {
                    name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class QueuePoller:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        handler: LambdaHandler,
        invoke_lock: AbstractContextManager[Any],
        *,
        function: str = "dispatch",
        wait_seconds: int = 1,
    ) -> None:
        self._function = function  # its folder under functions/
        self._log = logging.getLogger(f"local.{function}")
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._invoke_lock = invoke_lock
        self._wait_seconds = wait_seconds  # bounds how long stop() waits for an idle poll
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self._queue_arn = attributes["QueueArn"]
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self._function}-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch in hand (its outside calls are bounded by their timeouts) and stop polling."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except (BotoCoreError, ClientError) as exc:
                self._log.warning("cannot poll the %s queue: %s", self._function, exc)
                self._stopping.wait(_ERROR_PAUSE_SECONDS)
            except Exception:  # a bug here must not silently end local dispatching
                self._log.exception("the %s poller failed; polling on", self._function)
                self._stopping.wait(_ERROR_PAUSE_SECONDS)

    def poll_once(self) -> int:
        """Receive one batch (waiting up to ``wait_seconds`` for it) and run the function on it; its size."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if messages:
            self._invoke(messages)
        return len(messages)

    def _invoke(self, messages: list[MessageTypeDef]) -> None:
        with self._invoke_lock:
            started = time.monotonic()
            try:
                context = LocalContext(function_name=f"workflow-scheduler-{self._function}")
                result = self._handler(sqs_event(messages, self._queue_arn), context)
            except Exception:
                self._log.exception(
                    "the %s function failed; the batch comes back after the visibility timeout", self._function
                )
                return
            elapsed_ms = (time.monotonic() - started) * 1000
        failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        done: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
            for index, message in enumerate(messages)
            if message["MessageId"] not in failed
        ]
        if done:
            self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=done)
        self._log.info(
            "%s: batch of %d, %d left for a retry, %.0f ms", self._function, len(messages), len(failed), elapsed_ms
        )
