"""Domain exceptions. Each carries a stable error code; ``http.errors`` maps them to HTTP statuses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (node id and field) and what."""

    field: str
    message: str
    node_id: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"field": self.field, "message": self.message}
        if self.node_id is not None:
            out["node_id"] = self.node_id
        return out

    def __str__(self) -> str:
        where = f"node {self.node_id!r} " if self.node_id is not None else ""
        return f"{where}{self.field}: {self.message}"


class DomainError(Exception):
    """Base class: a refusal the caller can understand and act on."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpecInvalid(DomainError):
    code = "validation_error"

    def __init__(self, problems: list[Problem], what: str = "workflow spec") -> None:
        self.problems = problems
        summary = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{what} is invalid: {summary}{more}")


class TriggerTypeUnavailable(DomainError):
    code = "trigger_type_unavailable"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class TooManyTriggers(DomainError):
    """A workflow with more trigger nodes than one deploy may register (each costs calls to other services)."""

    code = "too_many_triggers"

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(f"the workflow has {count} trigger nodes; at most {limit} are accepted per workflow")


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class DeploymentNotFound(DomainError):
    code = "not_found"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} is not deployed")


class WorkflowIdTaken(DomainError):
    code = "workflow_id_conflict"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow id {workflow_id!r} is already in use; choose another id")


class WebhookPathTaken(DomainError):
    code = "webhook_path_conflict"

    def __init__(self, path: str, node_id: str | None = None) -> None:
        self.path = path
        where = f"node {node_id!r}: " if node_id else ""
        super().__init__(f"{where}webhook path {path!r} is already taken by another webhook trigger")


class Unauthorized(DomainError):
    code = "unauthorized"


class StoreUnavailable(DomainError):
    """The database or another backing store could not be reached: a 503, never a client error."""

    code = "store_unavailable"


class RegistrationFailed(DomainError):
    """A trigger could not be registered with its backing service; the deploy was rolled back."""

    code = "registration_failed"


class SecretUnavailable(DomainError):
    """A secret the service needs could not be read: an outage or a misconfiguration, never the caller's fault."""

    code = "secret_unavailable"


class SecretRefused(SpecInvalid):
    """A trigger's secret is not the caller's to use (422, like any invalid spec: it names the node and why)."""

    code = "secret_not_allowed"

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, what="a trigger's secret")


def safe_message(message: str, value: object, secret: bool = False) -> str:
    """A validator's message, unless it quotes a secret field's value (or a long value, which may be a secret
    pasted into the wrong field): then only that the value is invalid, so no secret is ever echoed."""
    if isinstance(value, str) and value:
        quoted = repr(value) in message or (len(value) >= 4 and value in message)
        if quoted and (secret or len(value) > 64):
            return "invalid value"
    return message
