"""Once per execution id: Powertools Idempotency on DynamoDB around the delivery of a firing.

The idempotent function returns a DELIVERED or REJECTED outcome, which Powertools stores under the execution id
and hands back to every later delivery of the same id without calling the engine again. On RETRY it raises:
Powertools then deletes its in-progress record, so the next attempt may try again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from workflow_scheduler.domain.delivery import Delivery, DeliveryResult
from workflow_scheduler.domain.dispatch import GuardedDelivery
from workflow_scheduler.domain.firing import TriggerEvent

# Stable across function names and environments (Powertools' default prefix is the Lambda function's name).
KEY_PREFIX = "dispatch"
_REPLAYED = "replayed"


class _NotDelivered(Exception):
    """Raised out of the idempotent function so that Powertools forgets the attempt."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.error)
        self.delivery = delivery


def _as_record(delivery: Delivery) -> dict[str, Any]:
    return {
        "result": delivery.result.value,
        "latency_ms": delivery.latency_ms,
        "status_code": delivery.status_code,
        "error": delivery.error,
        "detail": delivery.detail,
    }


def _from_record(record: dict[str, Any]) -> Delivery:
    return Delivery(
        DeliveryResult(record["result"]),
        int(record["latency_ms"]),
        None if record.get("status_code") is None else int(record["status_code"]),
        record.get("error"),
        record.get("detail") or {},
    )


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, _REPLAYED: True} if isinstance(response, dict) else response


class IdempotentDeliveryGuard:
    def __init__(self, table_name: str, expires_after_seconds: int, dynamodb_client: Any = None) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="execution_id",
            expires_after_seconds=expires_after_seconds,
            response_hook=_mark_replayed,
        )
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
        self._deliver_once = idempotent_function(
            self._deliver,
            data_keyword_argument="firing",
            persistence_store=persistence,
            config=self._config,
            key_prefix=KEY_PREFIX,
        )

    def start_invocation(self, context: LambdaContext) -> None:
        """An in-progress record lapses when the invocation would time out, so a crashed attempt blocks no retry."""
        self._config.register_lambda_context(context)

    def deliver_once(self, event: TriggerEvent, deliver: Callable[[TriggerEvent], Delivery]) -> GuardedDelivery:
        try:
            # Only the key is hashed and kept; the event (its data may be large) is passed beside it.
            record = self._deliver_once(firing={"execution_id": event.execution_id}, event=event, deliver=deliver)
        except _NotDelivered as not_delivered:
            return GuardedDelivery(not_delivered.delivery)
        except IdempotencyAlreadyInProgressError:
            busy = "another delivery of this execution is in progress"
            return GuardedDelivery(Delivery(DeliveryResult.RETRY, 0, error=busy))
        except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as exc:
            # E.g. the engine answered but its outcome could not be stored: the engine deduplicates by
            # Idempotency-Key, and the in-progress record lapses with this invocation.
            error = f"the idempotency store failed: {type(exc.__cause__ or exc).__name__}"
            return GuardedDelivery(Delivery(DeliveryResult.RETRY, 0, error=error))
        return GuardedDelivery(_from_record(record), replayed=bool(record.get(_REPLAYED)))

    @staticmethod
    def _deliver(
        *, firing: dict[str, str], event: TriggerEvent, deliver: Callable[[TriggerEvent], Delivery]
    ) -> dict[str, Any]:
        """``firing`` is read by Powertools only: it carries the key."""
        delivery = deliver(event)
        if delivery.result is DeliveryResult.RETRY:
            raise _NotDelivered(delivery)
        return _as_record(delivery)
