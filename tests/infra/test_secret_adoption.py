"""The migrate function may adopt the legacy webhook secrets and nothing more, before the new functions serve."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized, actions, role_statements
from workflow_scheduler.domain.inline_secrets import MANAGED_BY_TAG, OWNER_TAG, TRIGGER_TAG, WORKFLOW_TAG

SERVICE_TAG = {f"secretsmanager:ResourceTag/{MANAGED_BY_TAG[0]}": MANAGED_BY_TAG[1]}


def _secret_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    statements = role_statements(synthesized, synthesized.stack.migrations.function)
    return [s for s in statements if any(a.startswith("secretsmanager:") for a in actions(s))]


def test_the_migrate_function_describes_and_tags_only_untagged_managed_secrets(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    (managed,) = stack.resolve(stack.shared.managed_secrets.legacy_arns)  # the secrets made before owner tags are there
    database_secret = {"Ref": synthesized.logical_id(stack.shared.database.secret)}
    on_managed = [s for s in _secret_statements(synthesized) if s["Resource"] != database_secret]
    by_actions = {frozenset(actions(s)): s for s in on_managed}
    # Exactly what the adoption calls: DescribeSecret and TagResource, under the earlier releases' prefix only.
    assert set(by_actions) == {
        frozenset({"secretsmanager:DescribeSecret"}),
        frozenset({"secretsmanager:TagResource"}),
    }
    assert all(s["Resource"] == managed and s["Effect"] == "Allow" for s in on_managed)
    # Only the service's secrets (a secret without managed-by is AccessDenied: the adoption skips it).
    assert by_actions[frozenset({"secretsmanager:DescribeSecret"})]["Condition"] == {"StringEquals": SERVICE_TAG}
    # Tagging: only secrets of the service without an owner tag yet, only with the service's four tags, an owner
    # among them. IAM itself keeps the adoption from ever changing an owner tag.
    assert by_actions[frozenset({"secretsmanager:TagResource"})]["Condition"] == {
        "StringEquals": {**SERVICE_TAG, f"aws:RequestTag/{MANAGED_BY_TAG[0]}": MANAGED_BY_TAG[1]},
        "Null": {f"secretsmanager:ResourceTag/{OWNER_TAG}": "true", f"aws:RequestTag/{OWNER_TAG}": "false"},
        "ForAllValues:StringEquals": {"aws:TagKeys": [MANAGED_BY_TAG[0], OWNER_TAG, WORKFLOW_TAG, TRIGGER_TAG]},
    }
    # Nothing that reads, writes or deletes a webhook secret.
    forbidden = {"GetSecretValue", "PutSecretValue", "DeleteSecret", "CreateSecret", "RestoreSecret", "UntagResource"}
    assert not {f"secretsmanager:{a}" for a in forbidden} & {a for s in on_managed for a in actions(s)}


def test_the_new_webhook_and_api_functions_wait_for_the_migrate_run(synthesized: Synthesized) -> None:
    """CloudFormation updates them only after the trigger ran the migrations and the adoption: the new webhook
    function never serves a legacy secret before it has its owner tags (and a failed adoption rolls back)."""
    trigger_ids = [lid for lid, r in synthesized.template["Resources"].items() if r["Type"] == "Custom::Trigger"]
    assert len(trigger_ids) == 1
    for function in (synthesized.stack.webhooks.function, synthesized.stack.api.function):
        resource = synthesized.template["Resources"][synthesized.logical_id(function)]
        assert trigger_ids[0] in resource.get("DependsOn", [])
