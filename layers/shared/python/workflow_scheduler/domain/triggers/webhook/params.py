"""The parameters of a webhook trigger: its path, the methods it takes and how a caller authenticates."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from workflow_scheduler.domain.triggers.params import SECRET, SECRET_REF_PATTERN, TriggerParams

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
WEBHOOK_PREFIX = "/webhook/"
_PATH_SEGMENT = r"[A-Za-z0-9._~-]+"
_WEBHOOK_PATH = re.compile(rf"^/webhook(/{_PATH_SEGMENT})+$")
_SECRET_REF = re.compile(SECRET_REF_PATTERN)


class WebhookAuth(TriggerParams):
    type: Literal["none", "api_key", "hmac_sha256", "basic"] = "none"
    header: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9-]+$")
    secret: str | None = Field(default=None, min_length=1, max_length=4096, json_schema_extra=SECRET)
    secret_ref: str | None = None
    username: str | None = Field(default=None, min_length=1, max_length=256)
    # Replay protection for hmac_sha256: the header carrying the Unix time the caller signed with the body.
    # Left out of the stored configuration when unset, so triggers deployed before them keep their config hash.
    timestamp_header: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9-]+$", exclude_if=lambda v: v is None
    )
    timestamp_tolerance_seconds: int | None = Field(  # 300 when not given
        default=None, ge=1, le=3600, exclude_if=lambda v: v is None
    )

    @model_validator(mode="after")
    def _signed_timestamp(self) -> WebhookAuth:
        if self.timestamp_header is not None and self.type != "hmac_sha256":
            raise ValueError("'timestamp_header' applies to auth type 'hmac_sha256' only")
        if self.timestamp_tolerance_seconds is not None and self.timestamp_header is None:
            raise ValueError("'timestamp_tolerance_seconds' needs 'timestamp_header'")
        if self.timestamp_header is not None and self.timestamp_header.lower() == (self.header or "").lower():
            raise ValueError("'timestamp_header' must differ from 'header' (the signature header)")
        return self

    @model_validator(mode="after")
    def _fields_for_type(self) -> WebhookAuth:
        if self.type == "none":
            if self.secret or self.secret_ref or self.header or self.username:
                raise ValueError("auth type 'none' takes no header, secret or username")
            return self
        if self.secret is not None and self.secret_ref is not None:
            raise ValueError("give either 'secret' or 'secret_ref', not both")
        if self.secret is None and self.secret_ref is None:
            raise ValueError(f"auth type {self.type!r} needs 'secret_ref' (a Secrets Manager secret)")
        if self.secret_ref is not None and not _SECRET_REF.fullmatch(self.secret_ref):
            raise ValueError("'secret_ref' must be a Secrets Manager secret name or ARN")
        if self.type in ("api_key", "hmac_sha256") and not self.header:
            raise ValueError(f"auth type {self.type!r} needs 'header' (the request header to check)")
        if self.type == "basic" and not self.username:
            raise ValueError("auth type 'basic' needs 'username'")
        return self


def _any_case_methods(schema: dict[str, Any]) -> None:
    # The validator upper-cases methods: publish that "post" is as good as "POST".
    any_case = "|".join("".join(f"[{c}{c.lower()}]" for c in method) for method in HTTP_METHODS)
    schema["items"] = {"anyOf": [schema["items"], {"type": "string", "pattern": f"^(?:{any_case})$"}]}


class WebhookParams(TriggerParams):
    webhook_path: str | None = Field(default=None, max_length=512)
    methods: list[Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]] = Field(
        default_factory=lambda: ["POST"],  # type: ignore[arg-type]
        min_length=1,
        json_schema_extra=_any_case_methods,
    )
    auth: WebhookAuth = Field(default_factory=WebhookAuth)

    @field_validator("methods", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return [m.upper() if isinstance(m, str) else m for m in value] if isinstance(value, list) else value

    @field_validator("methods")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("methods must not repeat")
        return sorted(value, key=HTTP_METHODS.index)

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = value if value.startswith(WEBHOOK_PREFIX) else WEBHOOK_PREFIX + value.lstrip("/")
        path = path.rstrip("/")
        if not _WEBHOOK_PATH.fullmatch(path) or any(seg in (".", "..") for seg in path.split("/")):
            raise ValueError("webhook_path must be '/webhook/' followed by segments of letters, digits and '._~-'")
        return path
