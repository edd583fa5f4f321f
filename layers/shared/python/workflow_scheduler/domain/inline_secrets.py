"""Inline webhook secrets move into Secrets Manager at deploy: PostgreSQL, logs and responses only see a reference.

A spec may carry ``auth.secret`` in plain text; before anything is validated or stored, the secret is lifted out
and replaced by ``secret_ref``, the name of a secret this service manages for that trigger.
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any, Protocol

MANAGED_PREFIX = "workflow-scheduler/webhooks/"
_SAFE = re.compile(r"^[A-Za-z0-9_+=.@-]+$")


class SecretStore(Protocol):
    def read(self, name: str) -> str | None:
        """The current value, or None when there is no such secret (or it is scheduled for deletion)."""

    def write(self, name: str, value: str) -> None:
        """Create the secret or give it a new value (restoring it if it was scheduled for deletion)."""

    def delete(self, name: str) -> None:
        """Schedule the secret for deletion (it stays recoverable for the recovery window)."""


def managed_secret_name(workflow_id: str, trigger_id: str) -> str:
    part = trigger_id if _SAFE.match(trigger_id) else "h-" + hashlib.sha256(trigger_id.encode()).hexdigest()[:24]
    return f"{MANAGED_PREFIX}{workflow_id}/{part}"


def is_managed(secret_ref: Any) -> bool:
    return isinstance(secret_ref, str) and secret_ref.startswith(MANAGED_PREFIX)


def extract_inline_secrets(raw_spec: Any, workflow_id: str) -> tuple[Any, dict[str, str]]:
    """A copy of the spec with every inline webhook secret replaced by its managed reference, and those secrets."""
    if not isinstance(raw_spec, dict) or not isinstance(raw_spec.get("nodes"), list):
        return raw_spec, {}
    lifted: dict[str, str] = {}
    spec = copy.deepcopy(raw_spec)
    for node in spec["nodes"]:
        if not (
            isinstance(node, dict) and node.get("subtype") == "TRIGGER_WEBHOOK" and isinstance(node.get("id"), str)
        ):
            continue
        auth = (node.get("parameters") or {}).get("auth") if isinstance(node.get("parameters"), dict) else None
        if not isinstance(auth, dict) or not isinstance(auth.get("secret"), str) or not auth["secret"]:
            continue
        if "secret_ref" in auth:
            continue  # both given: validation reports it
        name = managed_secret_name(workflow_id, node["id"])
        lifted[name] = auth.pop("secret")
        auth["secret_ref"] = name
    return spec, lifted


def managed_refs(configs: list[dict[str, Any]]) -> set[str]:
    refs: set[str] = set()
    for config in configs:
        ref = (config.get("auth") or {}).get("secret_ref")
        if isinstance(ref, str) and is_managed(ref):
            refs.add(ref)
    return refs
