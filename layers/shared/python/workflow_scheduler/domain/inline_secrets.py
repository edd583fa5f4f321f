"""Trigger secrets in Secrets Manager: inline ones move there at deploy, and tags say whose each one is.

A trigger's parameter model marks its secret field (``SECRET`` in domain/triggers/params.py: webhook
``auth.secret`` today). A spec may carry that field in plain text; before anything is validated or stored, the
secret is lifted out and replaced by its sibling ``<name>_ref`` (``auth.secret_ref``), the name of a secret this
service manages for that trigger. Every secret the service creates is tagged with its owner (the token's ``sub``),
workflow and trigger; a ``*_ref`` is usable only for a secret tagged with the deploying user as owner, and the
service deletes only secrets it created for that very workflow and trigger.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflow_scheduler.domain.errors import Problem, SpecInvalid
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.spec import SUBTYPES, TRIGGER_NODE
from workflow_scheduler.domain.triggers import params_model
from workflow_scheduler.domain.triggers.params import named_secret_fields, secret_fields

# Where the service creates the secrets it manages. Earlier releases named their (webhook) secrets under
# LEGACY_PREFIX: those stay in use (read, described, deleted with their trigger) until a deploy replaces them.
MANAGED_PREFIX = "workflow-scheduler/triggers/"
LEGACY_PREFIX = "workflow-scheduler/webhooks/"
MAX_INLINE_SECRET = 4096  # for a secret field that declares no max_length (WebhookAuth.secret's is this)
_SAFE = re.compile(r"^[A-Za-z0-9_+=.@-]+$")

# The tags, in one place (the CDK's IAM conditions use the same keys: infra_cdk/constants.py).
MANAGED_BY_TAG = ("managed-by", "workflow_scheduler")
OWNER_TAG = "workflow-scheduler:owner"
WORKFLOW_TAG = "workflow-scheduler:workflow-id"
TRIGGER_TAG = "workflow-scheduler:trigger-id"
# What Secrets Manager accepts in a tag value; anything else is tagged by its digest.
_TAG_VALUE = re.compile(r"^[A-Za-z0-9 _.:/=+@-]{1,256}$")
_DIGEST = "sha256:"


@dataclass(frozen=True)
class SecretInfo:
    """What DescribeSecret tells: the secret's tags, and whether it is scheduled for deletion."""

    tags: dict[str, str]
    deleted: bool = False


@dataclass(frozen=True)
class InlineSecret:
    trigger_id: str
    value: str = field(repr=False)
    parameter: str = field(kw_only=True)  # where it was in the node's parameters ("auth.secret")

    @property
    def reference(self) -> str:
        """The parameter that names the managed secret instead (``secret_ref``)."""
        return self.parameter.rsplit(".", 1)[-1] + "_ref"


class SecretStore(Protocol):
    def read(self, name: str) -> str | None:
        """The current value, or None when there is no such secret (or it is scheduled for deletion)."""

    def describe(self, name: str) -> SecretInfo | None:
        """Tags and state, or None when there is no such secret or this service may not look at it."""

    def write(self, name: str, value: str, tags: dict[str, str]) -> None:
        """Create the secret with ``tags`` or give it a new value (restoring it if it was scheduled for deletion)."""

    def delete(self, name: str) -> None:
        """Schedule the secret for deletion (it stays recoverable for the recovery window)."""


def tag_value(text: str) -> str:
    """``text`` as a tag value: itself when Secrets Manager takes it as is, else its digest (never ambiguous)."""
    if _TAG_VALUE.fullmatch(text) and not text.startswith(_DIGEST):
        return text
    return _DIGEST + hashlib.sha256(text.encode()).hexdigest()


def owner_tags(owner: str, workflow_id: str, trigger_id: str) -> dict[str, str]:
    """The tags of a secret this service creates for a trigger."""
    return {
        MANAGED_BY_TAG[0]: MANAGED_BY_TAG[1],
        OWNER_TAG: tag_value(owner),
        WORKFLOW_TAG: tag_value(workflow_id),
        TRIGGER_TAG: tag_value(trigger_id),
    }


def created_for(info: SecretInfo, owner: str, workflow_id: str, trigger_id: str) -> bool:
    """True for a secret this service created for exactly this owner, workflow and trigger."""
    wanted = owner_tags(owner, workflow_id, trigger_id)
    return all(info.tags.get(key) == value for key, value in wanted.items())


def usable_by(info: SecretInfo | None, owner: str, workflow_id: str, trigger_id: str) -> bool:
    """May this trigger authenticate with the secret? Only with its owner's, and a managed one only its own."""
    if info is None or info.deleted or info.tags.get(OWNER_TAG) != tag_value(owner):
        return False
    managed = info.tags.get(MANAGED_BY_TAG[0]) == MANAGED_BY_TAG[1]
    return not managed or created_for(info, owner, workflow_id, trigger_id)


def refusal(info: SecretInfo | None, owner: str, workflow_id: str, trigger_id: str) -> str | None:
    """Why a ``secret_ref`` may not be used by this trigger, or None. A missing secret and another user's read
    the same: the answer never tells whether a secret exists."""
    if usable_by(info, owner, workflow_id, trigger_id):
        return None
    if info is not None and not info.deleted and info.tags.get(OWNER_TAG) == tag_value(owner):
        return "names a secret this service manages for another trigger; give this trigger its own secret"
    return (
        f"must name a Secrets Manager secret that this service may read and that is tagged "
        f"{OWNER_TAG}={tag_value(owner)}; no such secret is available to you"
    )


def managed_secret_name(workflow_id: str, trigger_id: str, prefix: str = MANAGED_PREFIX) -> str:
    """The name of the secret the service manages for a trigger (one per trigger: a type has one secret field)."""
    part = trigger_id if _SAFE.fullmatch(trigger_id) else "h-" + hashlib.sha256(trigger_id.encode()).hexdigest()[:24]
    return f"{prefix}{workflow_id}/{part}"


def managed_secret_names(workflow_id: str, trigger_id: str) -> tuple[str, str]:
    """The names a managed secret of this trigger may have: today's, and the one earlier releases gave it."""
    return managed_secret_name(workflow_id, trigger_id), managed_secret_name(workflow_id, trigger_id, LEGACY_PREFIX)


def _container(params: Any, path: tuple[str, ...]) -> dict[str, Any] | None:
    """The object that holds the field at ``path`` (its parent), if the parameters have one there."""
    for key in path[:-1]:
        params = params.get(key) if isinstance(params, dict) else None
    return params if isinstance(params, dict) else None


def extract_inline_secrets(raw_spec: Any, workflow_id: str) -> tuple[Any, dict[str, InlineSecret]]:
    """A copy of the spec with every inline trigger secret replaced by its managed reference, and those secrets.

    Only the fields a trigger type marks secret are lifted; any other node's data is the workflow's own and stays
    as it is. An inline secret longer than its field allows is refused (its value is never repeated).
    """
    if not isinstance(raw_spec, dict) or not isinstance(raw_spec.get("nodes"), list):
        return raw_spec, {}
    lifted: dict[str, InlineSecret] = {}
    problems: list[Problem] = []
    spec = copy.deepcopy(raw_spec)
    for node in spec["nodes"]:
        if not (isinstance(node, dict) and node.get("node_type") == TRIGGER_NODE and isinstance(node.get("id"), str)):
            continue
        subtype = node.get("subtype")
        trigger_type = SUBTYPES.get(subtype) if isinstance(subtype, str) else None
        if trigger_type is None:
            continue  # validation reports it
        for secret in secret_fields(params_model(trigger_type)):
            holder = _container(node.get("parameters"), secret.path)
            name, reference = secret.path[-1], secret.ref_path[-1]
            if holder is None or not isinstance(holder.get(name), str) or not holder[name]:
                continue
            if reference in holder:
                continue  # both given: validation reports it
            where = ".".join(secret.path)
            limit = secret.max_length or MAX_INLINE_SECRET
            if len(holder[name]) > limit:
                problems.append(Problem(f"parameters.{where}", f"must be at most {limit} characters", node["id"]))
                continue
            managed = managed_secret_name(workflow_id, node["id"])
            lifted[managed] = InlineSecret(node["id"], holder.pop(name), parameter=where)
            holder[reference] = managed
    if problems:
        raise SpecInvalid(problems)
    return spec, lifted


def secret_reference(trigger_type: TriggerType, config: dict[str, Any]) -> tuple[str, str] | None:
    """Where a trigger's configuration names its secret, and the name: (``auth.secret_ref``, name), or None."""
    for secret in secret_fields(params_model(trigger_type)):
        holder = _container(config, secret.ref_path)
        ref = holder.get(secret.ref_path[-1]) if holder is not None else None
        if isinstance(ref, str):
            return ".".join(secret.ref_path), ref
    return None


def named_secrets(trigger_type: TriggerType, config: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, name) of every secret a trigger's configuration names: its secret field's reference and the other
    references its type marks (``SECRET_NAME``); each must be the deploying user's."""
    found = []
    for path in named_secret_fields(params_model(trigger_type)):
        holder = _container(config, path)
        ref = holder.get(path[-1]) if holder is not None else None
        if isinstance(ref, str):
            found.append((".".join(path), ref))
    return found


def secret_refs(triggers: list[tuple[str, TriggerType, dict[str, Any]]]) -> set[tuple[str, str]]:
    """(trigger id, secret name) of every trigger configuration (id, type, config) that names a secret."""
    refs: set[tuple[str, str]] = set()
    for trigger_id, trigger_type, config in triggers:
        found = secret_reference(trigger_type, config)
        if found is not None:
            refs.add((trigger_id, found[1]))
    return refs
