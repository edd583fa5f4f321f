"""The workflow spec a deploy carries, and the parameters of each trigger subtype.

``parse_workflow_spec`` checks the whole spec and reports every problem at once, each naming the node id and
the field, so a caller can fix a spec in one round trip. Non-trigger nodes pass through untouched.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from workflow_scheduler.domain.errors import Problem, SpecInvalid, safe_message
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.storable import field_path, field_segment

TRIGGER_NODE = "TRIGGER_NODE"


SUBTYPES = {t.subtype: t for t in TriggerType}
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
WEBHOOK_PREFIX = "/webhook/"
_PATH_SEGMENT = r"[A-Za-z0-9._~-]+"
_WEBHOOK_PATH = re.compile(rf"^/webhook(/{_PATH_SEGMENT})+$")
_SECRET_REF = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")


# Marks a secret parameter: write-only in the OpenAPI document, never quoted back in an error.
WRITE_ONLY: dict[str, Any] = {"writeOnly": True}


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CronParams(_Params):
    # timezone first: the expression's validator translates it in that zone.
    timezone: str = "UTC"
    cron_expression: str = Field(min_length=1, max_length=256)
    enabled: bool = True
    jitter_seconds: int = Field(default=0, ge=0, le=900)  # SQS DelaySeconds caps it at 900

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from workflow_scheduler.domain.cron import CronError, zone_for

        try:
            zone_for(value)
        except CronError as exc:
            raise ValueError(exc.problem) from exc
        return value

    @field_validator("cron_expression")
    @classmethod
    def _translatable(cls, value: str, info: ValidationInfo) -> str:
        from workflow_scheduler.domain.cron import CronError, translate

        try:
            translate(value, info.data.get("timezone", "UTC"))
        except CronError as exc:
            raise ValueError(str(exc)) from exc
        return value


class ManualParams(_Params):
    require_confirmation: bool = False


class WebhookAuth(_Params):
    type: Literal["none", "api_key", "hmac_sha256", "basic"] = "none"
    header: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9-]+$")
    secret: str | None = Field(default=None, min_length=1, max_length=4096, json_schema_extra=WRITE_ONLY)
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
        if self.secret_ref is not None and not _SECRET_REF.match(self.secret_ref):
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


class WebhookParams(_Params):
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
        if not _WEBHOOK_PATH.match(path) or any(seg in (".", "..") for seg in path.split("/")):
            raise ValueError("webhook_path must be '/webhook/' followed by segments of letters, digits and '._~-'")
        return path


class EmailParams(_Params):
    email_filter: str = Field(default="", max_length=1024)
    folder: str = Field(default="INBOX", min_length=1, max_length=256)
    mark_as_read: bool = True
    attachment_processing: Literal["include", "exclude"] = "exclude"
    imap_host: str | None = Field(default=None, max_length=255)
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_ssl: bool = True
    username: str | None = Field(default=None, max_length=320)
    password_ref: str | None = Field(default=None, max_length=2048)


class GithubParams(_Params):
    github_app_installation_id: int = Field(gt=0)
    repository: str = Field(pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
    events: list[str] = Field(min_length=1)
    branches: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)
    action_filter: list[str] = Field(default_factory=list)
    author_filter: str | None = None
    label_filter: list[str] = Field(default_factory=list)
    ignore_bots: bool = False
    draft_pr_handling: Literal["include", "ignore", "only"] = "include"

    @field_validator("author_filter")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"author_filter is not a valid regular expression: {exc}") from exc
        return value


PARAMS_MODEL: dict[TriggerType, type[_Params]] = {
    TriggerType.CRON: CronParams,
    TriggerType.MANUAL: ManualParams,
    TriggerType.WEBHOOK: WebhookParams,
    TriggerType.EMAIL: EmailParams,
    TriggerType.GITHUB: GithubParams,
}


_ALL_MODELS: tuple[type[_Params], ...] = (*PARAMS_MODEL.values(), WebhookAuth)
SECRET_FIELDS: frozenset[str] = frozenset(
    name for model in _ALL_MODELS for name, info in model.model_fields.items() if info.json_schema_extra == WRITE_ONLY
)


@dataclass(frozen=True)
class TriggerSpec:
    """A validated trigger node: its id, type and normalized parameters."""

    trigger_id: str
    type: TriggerType
    params: Annotated[_Params, "one of the *Params models, matching type"]

    @property
    def config(self) -> dict[str, Any]:
        """Normalized parameters (defaults filled in), as stored in the trigger index."""
        return self.params.model_dump(mode="json")

    @property
    def config_hash(self) -> str:
        """Identity of the trigger's configuration: equal hashes mean nothing to re-register."""
        canonical = json.dumps({"type": self.type.value, "config": self.config}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class WorkflowSpec:
    raw: dict[str, Any]
    triggers: tuple[TriggerSpec, ...]

    @property
    def name(self) -> str | None:
        name = self.raw.get("name")
        return name if isinstance(name, str) else None


def _problems_from(exc: ValidationError, node_id: str) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        # Model-level validators report at the model's own location; keep their message readable.
        secret = any(part in SECRET_FIELDS for part in err["loc"])
        message = safe_message(str(err["msg"]).removeprefix("Value error, "), err.get("input"), secret)
        problems.append(
            Problem(field=field_path(tuple(err["loc"]), root="parameters"), message=message, node_id=node_id)
        )
    return problems


def parse_workflow_spec(spec: Any) -> WorkflowSpec:
    """Validate a workflow spec; raise ``SpecInvalid`` listing every problem found."""
    if not isinstance(spec, dict):
        raise SpecInvalid([Problem("workflow_spec", "must be a JSON object")])
    problems: list[Problem] = []
    name = spec.get("name")
    if name is not None and not isinstance(name, str):
        problems.append(Problem("workflow_spec.name", "must be a string"))
    nodes = spec.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        problems.append(Problem("workflow_spec.nodes", "must be a non-empty list of nodes"))
        raise SpecInvalid(problems)

    triggers: list[TriggerSpec] = []
    trigger_nodes = 0
    seen: set[str] = set()
    for index, node in enumerate(nodes):
        where = f"workflow_spec.nodes[{index}]"
        if not isinstance(node, dict):
            problems.append(Problem(where, "must be a JSON object"))
            continue
        node_id = node.get("id")
        if not isinstance(node_id, str) or not node_id.strip():
            problems.append(Problem(f"{where}.id", "must be a non-empty string"))
            continue
        if len(node_id) > 128:
            problems.append(Problem("id", "must be at most 128 characters", node_id))
            continue
        if node_id in seen:
            problems.append(Problem("id", "duplicate node id", node_id))
            continue
        seen.add(node_id)
        if node.get("node_type") != TRIGGER_NODE:
            continue
        trigger_nodes += 1
        subtype = node.get("subtype")
        trigger_type = SUBTYPES.get(subtype) if isinstance(subtype, str) else None
        if trigger_type is None:
            known = ", ".join(sorted(SUBTYPES))
            problems.append(
                Problem(
                    "subtype", f"unknown trigger subtype {field_segment(subtype)!r}; expected one of {known}", node_id
                )
            )
            continue
        params = node.get("parameters", {})
        if not isinstance(params, dict):
            problems.append(Problem("parameters", "must be a JSON object", node_id))
            continue
        try:
            model = PARAMS_MODEL[trigger_type].model_validate(params)
        except ValidationError as exc:
            problems.extend(_problems_from(exc, node_id))
            continue
        triggers.append(TriggerSpec(trigger_id=node_id, type=trigger_type, params=model))

    if trigger_nodes == 0:
        problems.append(Problem("workflow_spec.nodes", f"has no trigger node (node_type {TRIGGER_NODE!r})"))
    if problems:
        raise SpecInvalid(problems)
    return WorkflowSpec(raw=spec, triggers=tuple(triggers))
