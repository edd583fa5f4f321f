from __future__ import annotations

from typing import Any

import pytest

from workflow_scheduler.domain.errors import SpecInvalid
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.spec import parse_workflow_spec
from workflow_scheduler.domain.triggers.webhook.params import WebhookParams


def trigger(node_id: str, subtype: str, **parameters: Any) -> dict[str, Any]:
    return {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": subtype, "parameters": parameters}


def problems_of(spec: Any) -> list[dict[str, str]]:
    with pytest.raises(SpecInvalid) as caught:
        parse_workflow_spec(spec)
    return [p.as_dict() for p in caught.value.problems]


def test_valid_spec_keeps_other_nodes_and_normalizes_trigger_parameters() -> None:
    spec = {
        "name": "demo",
        "nodes": [
            trigger("hook", "TRIGGER_WEBHOOK", webhook_path="orders/new", methods=["put", "post"]),
            {"id": "step", "node_type": "ACTION_NODE", "anything": {"goes": True}},
            trigger("cron", "TRIGGER_CRON", cron_expression="0 9 * * MON-FRI", timezone="America/New_York"),
        ],
    }
    parsed = parse_workflow_spec(spec)
    assert parsed.raw is spec and parsed.name == "demo"
    assert [t.trigger_id for t in parsed.triggers] == ["hook", "cron"]
    hook = parsed.triggers[0]
    assert hook.type is TriggerType.WEBHOOK
    assert isinstance(hook.params, WebhookParams)
    assert hook.config["webhook_path"] == "/webhook/orders/new"
    assert hook.config["methods"] == ["POST", "PUT"]
    assert parsed.triggers[1].config == {
        "cron_expression": "0 9 * * MON-FRI",
        "timezone": "America/New_York",
        "enabled": True,
        "jitter_seconds": 0,
    }


def test_config_hash_ignores_spelling_that_normalizes_to_the_same_trigger() -> None:
    a = parse_workflow_spec({"nodes": [trigger("h", "TRIGGER_WEBHOOK", methods=["post", "get"])]}).triggers[0]
    b = parse_workflow_spec({"nodes": [trigger("h", "TRIGGER_WEBHOOK", methods=["GET", "POST"])]}).triggers[0]
    c = parse_workflow_spec({"nodes": [trigger("h", "TRIGGER_WEBHOOK", methods=["GET"])]}).triggers[0]
    assert a.config_hash == b.config_hash != c.config_hash


def test_every_problem_is_listed_with_node_id_and_field() -> None:
    spec = {
        "nodes": [
            trigger("a", "TRIGGER_CRON", timezone="Mars/Olympus"),
            trigger("a", "TRIGGER_MANUAL"),
            trigger("b", "TRIGGER_TELEPATHY"),
            trigger("c", "TRIGGER_MANUAL", require_confirmation="maybe"),
            trigger("d", "TRIGGER_GITHUB", repository="not a repo", events=[]),
            {"id": "e", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_WEBHOOK", "parameters": []},
        ]
    }
    found = {(p.get("node_id"), p["field"]) for p in problems_of(spec)}
    assert found == {
        ("a", "parameters.cron_expression"),
        ("a", "parameters.timezone"),
        ("a", "id"),
        ("b", "subtype"),
        ("c", "parameters.require_confirmation"),
        ("d", "parameters.github_app_installation_id"),
        ("d", "parameters.repository"),
        ("d", "parameters.events"),
        ("e", "parameters"),
    }


def test_unknown_time_zone_message_names_the_zone() -> None:
    [problem] = problems_of({"nodes": [trigger("t", "TRIGGER_CRON", cron_expression="* * * * *", timezone="Nowhere")]})
    assert problem["node_id"] == "t" and "Nowhere" in problem["message"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ([], "workflow_spec"),
        ({"nodes": []}, "workflow_spec.nodes"),
        ({"nodes": "x"}, "workflow_spec.nodes"),
        ({"nodes": [{"id": "x", "node_type": "ACTION_NODE"}]}, "workflow_spec.nodes"),
        ({"nodes": [{"node_type": "TRIGGER_NODE"}]}, "workflow_spec.nodes[0].id"),
        ({"nodes": [42]}, "workflow_spec.nodes[0]"),
        ({"name": 5, "nodes": [trigger("m", "TRIGGER_MANUAL")]}, "workflow_spec.name"),
    ],
)
def test_structural_problems(spec: Any, field: str) -> None:
    assert field in [p["field"] for p in problems_of(spec)]


def test_no_trigger_node_is_reported_beside_other_problems() -> None:
    fields = [p["field"] for p in problems_of({"nodes": [{"id": "x"}, {"id": "x"}]})]
    assert fields == ["id", "workflow_spec.nodes"]


def test_unknown_parameter_is_refused_not_ignored() -> None:
    [problem] = problems_of({"nodes": [trigger("m", "TRIGGER_MANUAL", require_confirmaton=True)]})
    assert problem["field"] == "parameters.require_confirmaton"


@pytest.mark.parametrize(
    ("auth", "fragment"),
    [
        ({"type": "api_key", "secret_ref": "s"}, "needs 'header'"),
        ({"type": "hmac_sha256", "header": "X-Sig"}, "needs 'secret_ref'"),
        ({"type": "basic", "secret_ref": "s"}, "needs 'username'"),
        ({"type": "none", "secret_ref": "s"}, "takes no"),
        ({"type": "api_key", "header": "X-Key", "secret": "plain", "secret_ref": "s"}, "not both"),
        ({"type": "api_key", "header": "X-Key", "secret_ref": "has spaces"}, "secret_ref"),
        ({"type": "oauth"}, "auth.type"),
    ],
)
def test_webhook_auth_problems(auth: dict[str, Any], fragment: str) -> None:
    [problem] = problems_of({"nodes": [trigger("w", "TRIGGER_WEBHOOK", auth=auth)]})
    assert fragment in problem["message"] or fragment in problem["field"]


def test_webhook_auth_by_reference_is_accepted() -> None:
    spec = {"nodes": [trigger("w", "TRIGGER_WEBHOOK", auth={"type": "basic", "username": "u", "secret_ref": "s/1"})]}
    assert parse_workflow_spec(spec).triggers[0].config["auth"]["secret_ref"] == "s/1"


@pytest.mark.parametrize("path", ["/webhook/", "/webhook/a b", "/webhook/../x", "/webhook/a//b", "a?b"])
def test_bad_webhook_paths(path: str) -> None:
    problems = problems_of({"nodes": [trigger("w", "TRIGGER_WEBHOOK", webhook_path=path)]})
    assert problems[0]["field"] == "parameters.webhook_path"


def test_github_author_filter_must_compile() -> None:
    bad = trigger("g", "TRIGGER_GITHUB", github_app_installation_id=1, repository="o/r", events=["push"])
    bad["parameters"]["author_filter"] = "(unclosed"
    [problem] = problems_of({"nodes": [bad]})
    assert problem["field"] == "parameters.author_filter"
