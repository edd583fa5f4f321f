"""Secrets Manager through Powertools Parameters: values cached per warm instance, never logged."""

from __future__ import annotations

import time
from collections.abc import Callable

from workflow_scheduler.adapters.secret_store import SecretsManagerStore
from workflow_scheduler.domain.errors import DomainError, SecretUnavailable
from workflow_scheduler.domain.firing import FiringTarget
from workflow_scheduler.domain.inline_secrets import SecretInfo, SecretStore, usable_by
from workflow_scheduler.observability import logger

CACHE_SECONDS = 300


def read_secret(secret_id: str, *, fresh: bool = False) -> str:
    """The secret's value, cached ``CACHE_SECONDS``; ``fresh`` reads it again (after it was refused, say)."""
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = get_secret(secret_id, max_age=CACHE_SECONDS, force_fetch=fresh)
    except GetParameterError as exc:
        # The answer may reach anonymous callers (a webhook's, a token's): the secret's name, an ARN with the
        # account in it, goes to the log only.
        logger.warning("a secret cannot be read", extra={"event": "secret_unreadable", "secret_id": secret_id})
        raise SecretUnavailable("a secret this service needs cannot be read (its name is logged)") from exc
    return value if isinstance(value, str) else value.decode()


class SecretOwnership:
    """Refuses a trigger's secret (a webhook's, an e-mail trigger's password) unless its tags make it the owner's.

    The tags are cached like the values (one DescribeSecret per secret per ``CACHE_SECONDS`` per warm instance):
    a check on every call would double the Secrets Manager calls and latency for no gain between deploys.
    """

    def __init__(self, store: SecretStore | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store or SecretsManagerStore()
        self._clock = clock
        self._cache: dict[str, tuple[float, SecretInfo | None]] = {}

    def _info(self, secret_id: str) -> SecretInfo | None:
        cached = self._cache.get(secret_id)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        try:
            info = self._store.describe(secret_id)
        except DomainError as exc:
            raise SecretUnavailable("the trigger's secret cannot be read") from exc
        self._cache[secret_id] = (self._clock() + CACHE_SECONDS, info)
        return info

    def __call__(self, secret_id: str, target: FiringTarget) -> None:
        trigger = target.trigger
        if not usable_by(self._info(secret_id), target.owner, trigger.workflow_id, trigger.trigger_id):
            where = {"workflow_id": trigger.workflow_id, "trigger_id": trigger.trigger_id}
            logger.error("the trigger's secret is not its owner's", extra={"event": "secret_not_owned", **where})
            # The caller learns nothing about whose secret it is.
            raise SecretUnavailable("the trigger's secret cannot be used")
