"""Secrets this service manages (inline trigger secrets) in AWS Secrets Manager, and the tags of any secret."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workflow_scheduler.domain.errors import RegistrationFailed
from workflow_scheduler.domain.inline_secrets import SecretInfo

RECOVERY_WINDOW_DAYS = 7
_GONE = {"ResourceNotFoundException", "InvalidRequestException"}  # missing, or scheduled for deletion
# IAM lets the functions see only tagged secrets (infra_cdk/shared/managed_secrets.py): a refusal means "not ours".
_UNSEEN = {"ResourceNotFoundException", "AccessDeniedException"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class SecretsManagerStore:
    def __init__(self, client: Any = None) -> None:
        self._client = client

    def _sm(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def read(self, name: str) -> str | None:
        try:
            value = self._sm().get_secret_value(SecretId=name).get("SecretString")
        except ClientError as exc:
            if _code(exc) in _GONE:
                return None
            raise RegistrationFailed(f"cannot read secret {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("Secrets Manager is unavailable") from exc
        return value if isinstance(value, str) else None

    def describe(self, name: str) -> SecretInfo | None:
        try:
            described = self._sm().describe_secret(SecretId=name)
        except ClientError as exc:
            if _code(exc) in _UNSEEN:
                return None
            raise RegistrationFailed(f"cannot describe secret {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("Secrets Manager is unavailable") from exc
        tags = {str(t.get("Key")): str(t.get("Value")) for t in described.get("Tags") or []}
        return SecretInfo(tags=tags, deleted=described.get("DeletedDate") is not None)

    def write(self, name: str, value: str, tags: dict[str, str]) -> None:
        sm = self._sm()
        try:
            try:
                sm.put_secret_value(SecretId=name, SecretString=value)
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    sm.create_secret(
                        Name=name, SecretString=value, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
                    )
                elif _code(exc) == "InvalidRequestException":  # scheduled for deletion: bring it back
                    sm.restore_secret(SecretId=name)
                    sm.put_secret_value(SecretId=name, SecretString=value)
                else:
                    raise
        except ClientError as exc:
            raise RegistrationFailed(f"cannot store secret {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("Secrets Manager is unavailable") from exc

    def tag(self, name: str, tags: dict[str, str]) -> None:
        try:
            self._sm().tag_resource(SecretId=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        except ClientError as exc:
            raise RegistrationFailed(f"cannot tag secret {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("Secrets Manager is unavailable") from exc

    def delete(self, name: str) -> None:
        try:
            self._sm().delete_secret(SecretId=name, RecoveryWindowInDays=RECOVERY_WINDOW_DAYS)
        except ClientError as exc:
            if _code(exc) in _GONE:
                return
            raise RegistrationFailed(f"cannot delete secret {name!r}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise RegistrationFailed("Secrets Manager is unavailable") from exc
