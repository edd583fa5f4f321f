"""Owner tags for the managed webhook secrets created before secrets carried them (run once, on upgrade).

Those releases named them under ``LEGACY_PREFIX`` (``workflow-scheduler/webhooks/``); every secret made since
carries its owner tags from the start, so only names under that prefix are looked at.

Earlier releases tagged the secrets they created only ``managed-by``; the webhook function now uses a secret only
when it is tagged as the trigger owner's, so such a webhook would answer 503 after the upgrade. A managed secret
named for exactly one workflow and trigger can only have been made for that trigger, and a workflow id belongs to
its owner for ever, so the trigger index says whose it is: it gets the tags a secret created today carries.
Anything less certain is left alone: a secret with an owner tag (whatever it says), one named for another trigger,
one without ``managed-by``, one scheduled for deletion.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from workflow_scheduler.domain.inline_secrets import (
    LEGACY_PREFIX,
    MANAGED_BY_TAG,
    OWNER_TAG,
    SecretInfo,
    managed_secret_name,
    owner_tags,
)

TASK_NAME = "adopt_legacy_secret_tags"


@dataclass(frozen=True)
class SecretReference:
    """A webhook trigger that names a secret under the managed prefix, with its workflow's owner."""

    workflow_id: str
    trigger_id: str
    owner: str
    secret_ref: str


class TaggableSecrets(Protocol):
    def describe(self, name: str) -> SecretInfo | None:
        """Tags and state, or None when there is no such secret or this service may not look at it."""

    def tag(self, name: str, tags: dict[str, str]) -> None:
        """Add ``tags`` to the secret (TagResource)."""


class Skip(StrEnum):
    NAME_NOT_FOR_TRIGGER = "name_not_for_trigger"
    NOT_FOUND = "not_found"  # missing, or hidden by IAM (not tagged managed-by)
    SCHEDULED_FOR_DELETION = "scheduled_for_deletion"
    NOT_MANAGED = "not_managed_by_service"
    HAS_OWNER = "has_owner_tag"


@dataclass
class AdoptionReport:
    scanned: int = 0
    tagged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "tagged": self.tagged,
            "skipped": dict(sorted(self.skipped.items())),
            "dry_run": self.dry_run,
        }


def skip_reason(ref: SecretReference, info: SecretInfo | None) -> Skip | None:
    """Why this secret must not be adopted for this trigger, or None when it gets the trigger owner's tags.
    ``info`` is what DescribeSecret says of ``ref.secret_ref``."""
    if not named_for_trigger(ref):
        return Skip.NAME_NOT_FOR_TRIGGER
    if info is None:
        return Skip.NOT_FOUND
    if info.deleted:
        return Skip.SCHEDULED_FOR_DELETION
    if info.tags.get(MANAGED_BY_TAG[0]) != MANAGED_BY_TAG[1]:
        return Skip.NOT_MANAGED
    if OWNER_TAG in info.tags:
        return Skip.HAS_OWNER
    return None


def named_for_trigger(ref: SecretReference) -> bool:
    return ref.secret_ref == managed_secret_name(ref.workflow_id, ref.trigger_id, LEGACY_PREFIX)


def adopt_legacy_secrets(
    refs: Iterable[SecretReference], secrets: TaggableSecrets, *, dry_run: bool = False
) -> AdoptionReport:
    """Tag every legacy managed secret with its trigger's owner, workflow and trigger. Idempotent: a secret once
    tagged has an owner tag and is skipped next time. A Secrets Manager failure propagates (the run is incomplete).
    """
    report = AdoptionReport(dry_run=dry_run)
    for ref in refs:
        report.scanned += 1
        # A name that is not the trigger's own is skipped without asking Secrets Manager anything.
        info = secrets.describe(ref.secret_ref) if named_for_trigger(ref) else None
        reason = skip_reason(ref, info)
        if reason is not None:
            report.skipped[reason.value] += 1
            continue
        if not dry_run:
            secrets.tag(ref.secret_ref, owner_tags(ref.owner, ref.workflow_id, ref.trigger_id))
        report.tagged += 1
    return report
