"""Webhook secrets in Secrets Manager: inline ones move there at deploy, and tags say whose each one is.

A spec may carry ``auth.secret`` in plain text on a webhook trigger node; before anything is validated or
stored, the secret is lifted out and replaced by ``secret_ref``, the name of a secret this service manages for
that trigger. Every secret the service creates is tagged with its owner (the token's ``sub``), workflow and
trigger; a ``secret_ref`` is usable only for a secret tagged with the deploying user as owner, and the service
deletes only secrets it created for that very workflow and trigger.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflow_scheduler.domain.errors import Problem, SpecInvalid
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.spec import TRIGGER_NODE

MANAGED_PREFIX = "workflow-scheduler/webhooks/"
MAX_INLINE_SECRET = 4096  # the documented limit of auth.secret (WebhookAuth.secret)
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
    if _TAG_VALUE.match(text) and not text.startswith(_DIGEST):
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


def managed_secret_name(workflow_id: str, trigger_id: str) -> str:
    part = trigger_id if _SAFE.match(trigger_id) else "h-" + hashlib.sha256(trigger_id.encode()).hexdigest()[:24]
    return f"{MANAGED_PREFIX}{workflow_id}/{part}"


def extract_inline_secrets(raw_spec: Any, workflow_id: str) -> tuple[Any, dict[str, InlineSecret]]:
    """A copy of the spec with every inline webhook secret replaced by its managed reference, and those secrets.

    Only webhook trigger nodes have a secret field; any other node's data is the workflow's own and stays as it
    is. An inline secret over ``MAX_INLINE_SECRET`` characters is refused (its value is never repeated).
    """
    if not isinstance(raw_spec, dict) or not isinstance(raw_spec.get("nodes"), list):
        return raw_spec, {}
    lifted: dict[str, InlineSecret] = {}
    problems: list[Problem] = []
    spec = copy.deepcopy(raw_spec)
    for node in spec["nodes"]:
        if not (
            isinstance(node, dict)
            and node.get("node_type") == TRIGGER_NODE
            and node.get("subtype") == TriggerType.WEBHOOK.subtype
            and isinstance(node.get("id"), str)
        ):
            continue
        auth = (node.get("parameters") or {}).get("auth") if isinstance(node.get("parameters"), dict) else None
        if not isinstance(auth, dict) or not isinstance(auth.get("secret"), str) or not auth["secret"]:
            continue
        if "secret_ref" in auth:
            continue  # both given: validation reports it
        if len(auth["secret"]) > MAX_INLINE_SECRET:
            problems.append(
                Problem("parameters.auth.secret", f"must be at most {MAX_INLINE_SECRET} characters", node["id"])
            )
            continue
        name = managed_secret_name(workflow_id, node["id"])
        lifted[name] = InlineSecret(node["id"], auth.pop("secret"))
        auth["secret_ref"] = name
    if problems:
        raise SpecInvalid(problems)
    return spec, lifted


def secret_refs(configs: list[tuple[str, dict[str, Any]]]) -> set[tuple[str, str]]:
    """(trigger id, secret_ref) of every trigger configuration that names a secret."""
    refs: set[tuple[str, str]] = set()
    for trigger_id, config in configs:
        ref = (config.get("auth") or {}).get("secret_ref")
        if isinstance(ref, str):
            refs.add((trigger_id, ref))
    return refs
