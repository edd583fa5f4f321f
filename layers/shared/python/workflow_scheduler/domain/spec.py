"""The workflow spec a deploy carries; each trigger node's parameters are checked by its type's model (the registry
in ``domain/triggers``).

``parse_workflow_spec`` checks the whole spec and reports every problem at once, each naming the node id and
the field, so a caller can fix a spec in one round trip. Non-trigger nodes pass through untouched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ValidationError

from workflow_scheduler.domain.errors import Problem, SpecInvalid, safe_message
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.storable import field_path, field_segment
from workflow_scheduler.domain.triggers import params_model, secret_field_names
from workflow_scheduler.domain.triggers.params import TriggerParams

TRIGGER_NODE = "TRIGGER_NODE"


SUBTYPES = {t.subtype: t for t in TriggerType}


@dataclass(frozen=True)
class TriggerSpec:
    """A validated trigger node: its id, type and normalized parameters."""

    trigger_id: str
    type: TriggerType
    params: Annotated[TriggerParams, "the model of its type: params_model(type)"]

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
        secret = any(part in secret_field_names() for part in err["loc"])
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
            model = params_model(trigger_type).model_validate(params)
        except ValidationError as exc:
            problems.extend(_problems_from(exc, node_id))
            continue
        triggers.append(TriggerSpec(trigger_id=node_id, type=trigger_type, params=model))

    if trigger_nodes == 0:
        problems.append(Problem("workflow_spec.nodes", f"has no trigger node (node_type {TRIGGER_NODE!r})"))
    if problems:
        raise SpecInvalid(problems)
    return WorkflowSpec(raw=spec, triggers=tuple(triggers))
