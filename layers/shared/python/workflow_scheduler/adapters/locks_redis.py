"""Locks in Redis (ElastiCache): ``SET NX PX`` for the lease, Lua scripts for everything that must be atomic.

Per lock two keys sharing one hash tag, so Redis Cluster keeps them in one slot (scripts need that):
``<prefix>{<name>}`` holds the owner token and expires with the lease (Redis expires it itself);
``<prefix>{<name>}:fence`` is the fencing counter, kept ``retain_seconds`` past the last lease. A missing
counter (idle past that, evicted, or lost in a restart without persistence) restarts from the current epoch
milliseconds, still above every token handed out before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from redis.commands.core import Script

from workflow_scheduler.domain.locks import (
    DistributedLockManager,
    Lease,
    LockBackendUnavailable,
    LockHolder,
    lease_milliseconds,
    utc_from_ms,
)

KEY_PREFIX = "workflow-scheduler:lock:"
RETAIN_SECONDS = 24 * 3600

# KEYS: lock, fence. ARGV: owner, lease ms, fence retention ms, now (epoch ms, the counter's seed).
# Returns {1, fence} when acquired, else {0, holder's owner, its remaining ms, fence}.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[4], 'NX')
  local fence = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2] + ARGV[3])
  return {1, fence}
end
return {0, redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2])}
"""

# KEYS: lock. ARGV: owner. Deletes only the caller's own lease.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lock, fence. ARGV: owner, lease ms, fence retention ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2] + ARGV[3])
  return 1
end
return 0
"""


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class RedisLockManager(DistributedLockManager):
    def __init__(
        self,
        client: redis.Redis,
        *,
        key_prefix: str = KEY_PREFIX,
        retain_seconds: int = RETAIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock=clock)
        if "{" in key_prefix or "}" in key_prefix:
            raise ValueError("the key prefix has no braces: the lock name in braces is the Redis Cluster hash tag")
        self._prefix = key_prefix
        self._retain_ms = retain_seconds * 1000
        self._acquire_script = client.register_script(_ACQUIRE)
        self._release_script = client.register_script(_RELEASE)
        self._renew_script = client.register_script(_RENEW)

    @classmethod
    def from_url(cls, url: str, *, timeout_seconds: float = 2.0, key_prefix: str = KEY_PREFIX) -> RedisLockManager:
        """A client on ``url`` (``redis://`` or ``rediss://``) whose timeouts let an outage show in seconds."""
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds)
        return cls(client, key_prefix=key_prefix)

    def _keys(self, name: str) -> list[str]:
        lock = f"{self._prefix}{{{name}}}"
        return [lock, f"{lock}:fence"]

    def _run(self, script: Script, name: str, keys: list[str], args: list[str | int]) -> Any:
        try:
            return script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise LockBackendUnavailable(f"redis failed on lock {name!r}: {type(exc).__name__}: {exc}") from exc

    def _try_acquire(self, name: str, owner: str, lease_ms: int) -> Lease | LockHolder:
        now = self._now_ms()
        reply = self._run(self._acquire_script, name, self._keys(name), [owner, lease_ms, self._retain_ms, now])
        if reply[0] == 1:
            return Lease(name, owner, int(reply[1]), utc_from_ms(now + lease_ms))
        holder, remaining_ms, fence = reply[1], reply[2], reply[3]
        return LockHolder(
            owner=_text(holder),
            fencing_token=None if fence is None else int(fence),
            # PTTL -1: a key without expiry, which this module never writes.
            expires_at=utc_from_ms(now + remaining_ms) if remaining_ms >= 0 else None,
        )

    def release(self, lease: Lease) -> bool:
        return bool(self._run(self._release_script, lease.name, self._keys(lease.name)[:1], [lease.owner]))

    def renew(self, lease: Lease, lease_seconds: float) -> Lease | None:
        now = self._now_ms()
        lease_ms = lease_milliseconds(lease_seconds)
        args: list[str | int] = [lease.owner, lease_ms, self._retain_ms]
        if not self._run(self._renew_script, lease.name, self._keys(lease.name), args):
            return None
        return Lease(lease.name, lease.owner, lease.fencing_token, utc_from_ms(now + lease_ms))
