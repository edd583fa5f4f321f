"""The published shape of a workflow spec: what the OpenAPI document says a deploy carries.

Trigger nodes are a union discriminated by ``subtype``, each with the very parameter model
``parse_workflow_spec`` validates with; any other node passes through. This is the contract a client or a
fuzzer generates from; ``parse_workflow_spec`` stays the authority (it reports every problem with node id and
field), so this schema is never stricter than it: unknown keys are allowed, and ``parameters`` may be left out
where the subtype needs none.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.spec import TRIGGER_NODE
from workflow_scheduler.domain.triggers import REGISTRY, params_model


class _Node(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=128, description="unique within the spec; a trigger's id")


class _TriggerNode(_Node):
    node_type: Literal["TRIGGER_NODE"]


def trigger_node(trigger_type: TriggerType) -> type[_TriggerNode]:
    """``<Type>TriggerNode``: its subtype and its type's parameter model (left out only where nothing is required)."""
    model = params_model(trigger_type)
    required = any(field.is_required() for field in model.model_fields.values())
    parameters: Any = (model, ...) if required else (model, Field(default_factory=model))
    subtype: Any = (Literal[trigger_type.subtype], ...)
    name = f"{trigger_type.value.capitalize()}TriggerNode"
    return create_model(name, __base__=_TriggerNode, subtype=subtype, parameters=parameters)


if TYPE_CHECKING:  # built from the registry at import: the type checker sees the common base
    TriggerNode = _TriggerNode
else:
    TriggerNode = Annotated[reduce(or_, (trigger_node(t) for t in REGISTRY)), Field(discriminator="subtype")]


class OtherNode(_Node):
    """Any node that is not a trigger: passed through to the engine untouched."""

    node_type: str | None = Field(default=None, json_schema_extra={"not": {"const": TRIGGER_NODE}})


EXAMPLE: dict[str, Any] = {
    "name": "nightly report",
    "nodes": [
        {
            "id": "nightly",
            "node_type": "TRIGGER_NODE",
            "subtype": "TRIGGER_CRON",
            "parameters": {"cron_expression": "0 2 * * *", "timezone": "Europe/Berlin"},
        },
        {"id": "by-hand", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL", "parameters": {}},
        {
            "id": "hook",
            "node_type": "TRIGGER_NODE",
            "subtype": "TRIGGER_WEBHOOK",
            "parameters": {"methods": ["POST"], "auth": {"type": "none"}},
        },
        {"id": "report", "node_type": "ACTION_NODE", "subtype": "SEND_REPORT", "parameters": {"to": "ops"}},
    ],
}


class WorkflowSpecDocument(BaseModel):
    model_config = ConfigDict(extra="allow", title="WorkflowSpec", json_schema_extra={"examples": [EXAMPLE]})

    name: str | None = None
    nodes: list[TriggerNode | OtherNode] = Field(min_length=1, description="at least one trigger node")


def _unchanged(value: Any) -> Any:
    return value


# A spec as the API reads it: any JSON object (``parse_workflow_spec`` judges it), published as the shape above.
WorkflowSpecBody = Annotated[
    dict[str, Any],
    BeforeValidator(_unchanged, json_schema_input_type=WorkflowSpecDocument),
    Field(description="the workflow definition: {'name', 'nodes': [...]}"),
]
