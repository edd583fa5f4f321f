"""Locks in the DynamoDB state table: one item per lock, changed only by conditional ``UpdateItem`` calls.

Item ``id = "lock#<name>"`` (Powertools idempotency records share the table under other prefixes):
``owner`` (the holder's token, absent when free), ``expires_at`` (lease end, epoch ms), ``fence`` (the fencing
counter) and ``expiration`` (epoch s, the table's TTL attribute). TTL deletes hours to days late, and moto
never does, so every check compares ``expires_at`` with the caller's clock; TTL only sweeps idle locks away.

Release removes ``owner`` and ``expires_at`` but keeps the item, so the counter survives. When TTL has deleted
an idle lock, the counter restarts from the current epoch milliseconds, still above every token handed out
before (that needs fewer than one acquisition per millisecond, and clocks within ``retain_seconds``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.domain.locks import (
    DistributedLockManager,
    Lease,
    LockBackendUnavailable,
    LockHolder,
    lease_milliseconds,
    utc_from_ms,
)
from workflow_scheduler.settings import LockSettings, required

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

KEY_PREFIX = "lock#"
RETAIN_SECONDS = 24 * 3600  # an idle lock's item stays this long after its last lease, keeping its counter

# A missing counter starts at the current epoch milliseconds (see the module docstring).
_ACQUIRE = (
    "SET #owner = :owner, #expires_at = :expires_at, #expiration = :expiration,"
    " #fence = if_not_exists(#fence, :now) + :one"
)
_FREE = "attribute_not_exists(#owner) OR #expires_at <= :now"
_RELEASE = "REMOVE #owner, #expires_at"
_RENEW = "SET #expires_at = :expires_at, #expiration = :expiration"
_OWNED = "#owner = :owner AND #expires_at > :now"
# Each request names only the placeholders its expressions use: DynamoDB rejects unused ones.
_ATTRIBUTES = {"#owner": "owner", "#expires_at": "expires_at", "#expiration": "expiration", "#fence": "fence"}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


class DynamoDBLockManager(DistributedLockManager):
    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        key_prefix: str = KEY_PREFIX,
        retain_seconds: int = RETAIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock=clock)
        self._table = table_name
        # Short timeouts: a caller waiting for a lock should learn of an outage in seconds.
        self._client = client or boto3.client(
            "dynamodb",
            config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}),
        )
        self._prefix = key_prefix
        self._retain_ms = retain_seconds * 1000

    def _key(self, name: str) -> dict[str, AttributeValueTypeDef]:
        return {"id": {"S": self._prefix + name}}

    def _expiration(self, expires_ms: int) -> AttributeValueTypeDef:
        return _n((expires_ms + self._retain_ms) // 1000 + 1)

    def _update(
        self, name: str, update: str, condition: str, values: dict[str, AttributeValueTypeDef]
    ) -> tuple[bool, dict[str, Any]]:
        """(True, the item after) or, when the condition failed, (False, the item as it was)."""
        try:
            out = self._client.update_item(
                TableName=self._table,
                Key=self._key(name),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={n: _ATTRIBUTES[n] for n in re.findall(r"#\w+", update + condition)},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False, dict(exc.response.get("Item", {}))  # type: ignore[call-overload]
            raise LockBackendUnavailable(f"the lock table refused the request for lock {name!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise LockBackendUnavailable(f"the lock table cannot be reached (lock {name!r}): {exc}") from exc
        return True, dict(out["Attributes"])

    def _try_acquire(self, name: str, owner: str, lease_ms: int) -> Lease | LockHolder:
        now = self._now_ms()
        expires = now + lease_ms
        values = {
            ":owner": _s(owner),
            ":expires_at": _n(expires),
            ":expiration": self._expiration(expires),
            ":now": _n(now),
            ":one": _n(1),
        }
        acquired, item = self._update(name, _ACQUIRE, _FREE, values)
        if acquired:
            return Lease(name, owner, int(item["fence"]["N"]), utc_from_ms(expires))
        return LockHolder(
            owner=item["owner"]["S"] if "owner" in item else None,
            fencing_token=int(item["fence"]["N"]) if "fence" in item else None,
            expires_at=utc_from_ms(int(item["expires_at"]["N"])) if "expires_at" in item else None,
        )

    def release(self, lease: Lease) -> bool:
        values = {":owner": _s(lease.owner), ":now": _n(self._now_ms())}
        return self._update(lease.name, _RELEASE, _OWNED, values)[0]

    def renew(self, lease: Lease, lease_seconds: float) -> Lease | None:
        now = self._now_ms()
        expires = now + lease_milliseconds(lease_seconds)
        values = {
            ":owner": _s(lease.owner),
            ":expires_at": _n(expires),
            ":expiration": self._expiration(expires),
            ":now": _n(now),
        }
        if not self._update(lease.name, _RENEW, _OWNED, values)[0]:
            return None
        return Lease(lease.name, lease.owner, lease.fencing_token, utc_from_ms(expires))


def lock_manager(settings: LockSettings) -> DistributedLockManager:
    if settings.lock_backend == "redis":
        from workflow_scheduler.adapters.locks_redis import RedisLockManager  # only the Redis path needs redis

        return RedisLockManager.from_url(required(settings.redis_url, "REDIS_URL"))
    return DynamoDBLockManager(required(settings.state_table_name, "STATE_TABLE_NAME"))
