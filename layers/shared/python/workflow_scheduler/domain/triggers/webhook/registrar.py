"""The webhook registrar: the index row carries the path, which no two deployed webhook triggers share."""

from __future__ import annotations

from typing import Any

from workflow_scheduler.domain.errors import Problem, WebhookPathTaken
from workflow_scheduler.domain.models import WORKFLOW_ID, TriggerRecord, TriggerType
from workflow_scheduler.domain.ports import DeploymentTx
from workflow_scheduler.domain.spec import TriggerSpec
from workflow_scheduler.domain.triggers.registrar import IndexOnlyRegistrar, RegistrarDeps
from workflow_scheduler.domain.triggers.webhook.params import WEBHOOK_PREFIX, WebhookParams


def webhook_path_of(workflow_id: str, params: WebhookParams) -> str:
    return params.webhook_path or f"/webhook/{workflow_id}"


class WebhookRegistrar(IndexOnlyRegistrar):
    """Index row with the webhook path; the path is unique among deployed triggers (paused ones keep it)."""

    def __init__(self) -> None:
        super().__init__(TriggerType.WEBHOOK)

    def spec_problems(self, workflow_id: str, spec: TriggerSpec) -> list[Problem]:
        """``/webhook/<id>`` is workflow <id>'s default path: no other workflow may take it, not even before <id> is
        first deployed (a path squatted in advance would keep its future owner from deploying)."""
        path = spec.params.webhook_path if isinstance(spec.params, WebhookParams) else None
        name = path.removeprefix(WEBHOOK_PREFIX) if path else None
        if name and "/" not in name and WORKFLOW_ID.match(name) and name != workflow_id:
            message = (
                f"{path} is the default path of workflow {name!r}; only that workflow may use it. "
                "Give a custom path at least two segments (e.g. /webhook/orders/new)"
            )
            return [Problem("parameters.webhook_path", message, spec.trigger_id)]
        return []

    def lookup_columns(self, workflow_id: str, spec: TriggerSpec) -> dict[str, Any]:
        if not isinstance(spec.params, WebhookParams):
            raise TypeError(f"trigger {spec.trigger_id!r} is not a webhook trigger")
        return {"webhook_path": webhook_path_of(workflow_id, spec.params)}

    def check(self, tx: DeploymentTx, record: TriggerRecord) -> None:
        path = record.lookup["webhook_path"]
        owner = tx.webhook_path_owner(path)
        if owner is not None and owner != (record.workflow_id, record.trigger_id):
            raise WebhookPathTaken(path, record.trigger_id)

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        auth = record.config.get("auth") or {}
        return {
            "webhook_url": base_url.rstrip("/") + record.lookup["webhook_path"],
            "methods": record.config.get("methods", ["POST"]),
            "auth_type": auth.get("type", "none"),
        }


def build(deps: RegistrarDeps) -> WebhookRegistrar:
    return WebhookRegistrar()
