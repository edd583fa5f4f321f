"""Secrets Manager through Powertools Parameters: values cached per warm instance, never logged."""

from __future__ import annotations

from workflow_scheduler.domain.errors import SecretUnavailable

CACHE_SECONDS = 300


def read_secret(secret_id: str) -> str:
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = get_secret(secret_id, max_age=CACHE_SECONDS)
    except GetParameterError as exc:
        # The message names the secret, never its value.
        raise SecretUnavailable(f"secret {secret_id!r} cannot be read") from exc
    return value if isinstance(value, str) else value.decode()
