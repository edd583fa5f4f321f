"""Domain exceptions. Each carries a stable error code and derives from one of the bases below; ``http.py`` maps
only the bases to HTTP statuses, and a subclass adds its own parts of the answer through ``extra_body()`` and
``headers()``, so a new trigger type's errors need no change there.

Parsers of single values (``CronError``, ``JsonRefused``) raise ``ValueError`` instead: pydantic turns those into
validation problems, and the callers that parse outside a model turn them into ``SpecInvalid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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

    def extra_body(self) -> dict[str, Any]:
        """Fields the error's JSON answer carries besides ``error`` and ``message``."""
        return {}

    def headers(self) -> dict[str, str]:
        """Headers the error's answer carries."""
        return {}


# The bases: one per kind of answer (the HTTP status in brackets, mapped in http.py).


class Invalid(DomainError):
    """The request or spec is invalid (422); ``problems``, when the error has them, lists each one."""

    code = "validation_error"
    problems: list[Problem] | None = None

    def extra_body(self) -> dict[str, Any]:
        return {} if self.problems is None else {"problems": [p.as_dict() for p in self.problems]}


class TooLarge(DomainError):
    """The request is larger than accepted (413)."""

    code = "payload_too_large"


class Unauthorized(DomainError):
    """The caller's credentials are missing or wrong (401)."""

    code = "unauthorized"


class Forbidden(DomainError):
    """The caller may not do this as asked (403)."""

    code = "forbidden"


class NotFound(DomainError):
    """No such thing for the caller (404)."""

    code = "not_found"


class Refused(DomainError):
    """The target exists but does not take this kind of call, e.g. a method a webhook does not accept (405)."""

    code = "method_not_allowed"


class Conflict(DomainError):
    """The state of something else stands in the way: a name taken, a paused workflow, a lock held (409)."""

    code = "conflict"


class Unavailable(DomainError):
    """A backing service failed or cannot be reached: an outage, never the caller's fault (503)."""

    code = "unavailable"


class SpecInvalid(Invalid):
    code = "validation_error"

    def __init__(self, problems: list[Problem], what: str = "workflow spec") -> None:
        self.problems = problems
        summary = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{what} is invalid: {summary}{more}")


class TriggerTypeUnavailable(Invalid):
    code = "trigger_type_unavailable"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class TooManyTriggers(Invalid):
    """A workflow with more trigger nodes than one deploy may register (each costs calls to other services)."""

    code = "too_many_triggers"

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(f"the workflow has {count} trigger nodes; at most {limit} are accepted per workflow")


class PayloadTooLarge(TooLarge):
    code = "payload_too_large"


class DeploymentNotFound(NotFound):
    code = "not_found"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} is not deployed")


class WorkflowIdTaken(Conflict):
    code = "workflow_id_conflict"

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow id {workflow_id!r} is already in use; choose another id")


class WebhookPathTaken(Conflict):
    code = "webhook_path_conflict"

    def __init__(self, path: str, node_id: str | None = None) -> None:
        self.path = path
        where = f"node {node_id!r}: " if node_id else ""
        super().__init__(
            f"{where}webhook path {path!r} is already taken by another webhook trigger"
            " (a path stays with the user who first deployed it)"
        )


class StoreUnavailable(Unavailable):
    """The database or another backing store could not be reached: a 503, never a client error."""

    code = "store_unavailable"


class RegistrationFailed(Unavailable):
    """A trigger could not be registered with its backing service; the deploy was rolled back."""

    code = "registration_failed"


class SecretUnavailable(Unavailable):
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
