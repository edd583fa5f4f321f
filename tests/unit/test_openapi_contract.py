"""docs/openapi.json is a complete contract: every status a route answers, the bearer scheme, and a workflow spec
described by the very parameter models the domain validates with, never stricter than the domain."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from workflow_scheduler.domain.spec import SUBTYPES, parse_workflow_spec
from workflow_scheduler.domain.spec_schema import EXAMPLE
from workflow_scheduler.domain.triggers import params_model as registered_params_model
from workflow_scheduler.local.openapi import openapi_document

REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def document() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as env:  # the handler reads its settings at import; nothing connects
        env.setenv("DATABASE_URL", "postgresql://unused/unused")
        env.setenv("JWT_SECRET_ARN", "unused")
        env.setenv("DISPATCH_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/unused")
        yield json.loads(openapi_document())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def without_null_defaults(schema: Any) -> Any:
    """The document is written without nulls, so ``"default": null`` does not appear in it."""
    if isinstance(schema, dict):
        return {k: without_null_defaults(v) for k, v in schema.items() if not (k == "default" and v is None)}
    if isinstance(schema, list):
        return [without_null_defaults(v) for v in schema]
    return schema


def schema_of(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith(REF), ref
    return dict(document["components"]["schemas"][ref.removeprefix(REF)])


def test_every_v1_route_takes_a_bearer_token_and_declares_its_errors(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Authorization: Bearer <JWT>",
    }
    v1 = [(path, method, op) for path, method, op in operations(document) if path.startswith("/v1/")]
    assert len(v1) == 10
    for path, method, operation in v1:
        assert operation["security"] == [{"bearerAuth": []}], (method, path)
        statuses = set(operation["responses"])
        assert {"200", "401", "404", "413", "422", "503"} <= statuses, (method, path, statuses)
        if "requestBody" in operation or method == "POST":
            assert "415" in statuses, (method, path)
        success = schema_of(document, operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
        assert success["required"], (method, path)  # a shape a client can rely on, not any object
        for status, response in operation["responses"].items():
            if status != "200":
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == REF + "ErrorBody", (method, path, status)
    health = document["paths"]["/health"]["get"]
    assert "security" not in health and "security" not in document
    assert {"200", "503"} <= set(health["responses"])


def test_conflicts_confirmation_and_body_statuses_are_where_they_happen(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert {"409", "415"} <= set(paths["/v1/workflows/{workflow_id}/deploy"]["post"]["responses"])
    assert {"409", "415"} <= set(paths["/v1/workflows/{workflow_id}/deploy"]["put"]["responses"])
    assert {"403", "409", "415"} <= set(paths["/v1/workflows/{workflow_id}/trigger/manual"]["post"]["responses"])
    assert "409" not in paths["/v1/workflows/{workflow_id}/events"]["get"]["responses"]


def test_the_error_schema_is_the_shape_every_error_has(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"error", "message"}
    assert {"error", "message", "problems"} <= set(error["properties"])
    validator = jsonschema.Draft202012Validator({**error, "components": document["components"]})
    validator.validate({"error": "validation_error", "message": "m", "problems": [{"field": "f", "message": "x"}]})
    validator.validate({"error": "confirmation_required", "message": "m", "status": "confirmation_required"})


def test_workflow_spec_is_a_union_of_trigger_subtypes_with_the_domain_parameter_models(
    document: dict[str, Any],
) -> None:
    deploy = document["paths"]["/v1/workflows/{workflow_id}/deploy"]["post"]
    request = schema_of(document, deploy["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    spec = schema_of(document, request["properties"]["workflow_spec"]["$ref"])
    [triggers] = [choice for choice in spec["properties"]["nodes"]["items"]["anyOf"] if "oneOf" in choice]
    mapping = triggers["discriminator"]["mapping"]
    assert triggers["discriminator"]["propertyName"] == "subtype"
    assert set(mapping) == set(SUBTYPES)
    for subtype, ref in mapping.items():
        node = schema_of(document, ref)
        assert node["properties"]["subtype"]["const"] == subtype
        params_model = registered_params_model(SUBTYPES[subtype])
        published = schema_of(document, node["properties"]["parameters"]["$ref"])
        expected = params_model.model_json_schema(ref_template=REF + "{model}")
        expected.pop("$defs", None)
        assert published == without_null_defaults(expected), subtype
    auth = document["components"]["schemas"]["WebhookAuth"]["properties"]["secret"]
    assert auth["writeOnly"] is True


def manual(node_id: str, **params: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"id": node_id, "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_MANUAL"}
    if params:
        node["parameters"] = params
    return node


VALID_SPECS: list[dict[str, Any]] = [
    EXAMPLE,
    {"nodes": [manual("m")]},
    {"nodes": [manual("m", require_confirmation=True), {"id": "x"}], "extra": {"kept": True}},
    {
        "nodes": [
            {
                "id": "h",
                "node_type": "TRIGGER_NODE",
                "subtype": "TRIGGER_WEBHOOK",
                "parameters": {"methods": ["post", "Get"], "webhook_path": "orders/new"},
                "position": {"x": 1},
            }
        ]
    },
    {
        "name": None,
        "nodes": [
            {
                "id": "c",
                "node_type": "TRIGGER_NODE",
                "subtype": "TRIGGER_CRON",
                "parameters": {"cron_expression": "@daily", "timezone": "America/New_York", "jitter_seconds": 900},
            },
            {"id": "a", "node_type": "ACTION_NODE"},
            {"id": "b", "node_type": None, "anything": [1, 2]},
        ],
    },
    {
        "nodes": [
            {
                "id": "h",
                "node_type": "TRIGGER_NODE",
                "subtype": "TRIGGER_WEBHOOK",
                "parameters": {"auth": {"type": "hmac_sha256", "header": "X-Sig", "secret": "s" * 4096}},
            }
        ]
    },
]


@pytest.mark.parametrize("spec", VALID_SPECS)
def test_specs_the_domain_accepts_match_the_published_schema(document: dict[str, Any], spec: dict[str, Any]) -> None:
    parse_workflow_spec(copy.deepcopy(spec))  # the authority accepts it ...
    request_schema = {"$ref": REF + "DeployRequest", "components": document["components"]}
    jsonschema.Draft202012Validator(request_schema).validate({"workflow_spec": spec})  # ... and so does the schema


def test_the_published_example_deploys(document: dict[str, Any]) -> None:
    assert document["components"]["schemas"]["WorkflowSpecDocument"]["examples"] == [EXAMPLE]
    triggers = parse_workflow_spec(copy.deepcopy(EXAMPLE)).triggers
    assert {t.trigger_id for t in triggers} == {"nightly", "by-hand", "hook"}


# The deployed stack also answers before any function runs: the WAF's per-caller rate limits and API Gateway's
# throttling (429, Retry-After), the WAF's managed rules (403) and API Gateway's body cap (413).
ERROR_BODY = "#/components/schemas/ErrorBody"


def test_every_operation_documents_the_rate_limits_429_with_retry_after(document: dict[str, Any]) -> None:
    ops = list(operations(document))
    assert len(ops) == 11  # the ten /v1 operations and /health
    for path, method, operation in ops:
        name = f"{method} {path}"
        too_many = operation["responses"].get("429")
        assert too_many is not None, name
        assert too_many["content"]["application/json"]["schema"] == {"$ref": ERROR_BODY}, name
        assert too_many["headers"]["Retry-After"]["schema"] == {"type": "integer"}, name
        assert "too_many_requests" in too_many["description"] and "throttled" in too_many["description"], name


def test_every_operation_documents_the_waf_403_and_the_gateway_413(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        for status, code in (("403", "forbidden"), ("413", "payload_too_large")):
            response = operation["responses"][status]
            assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_BODY}, (method, path, status)
            assert code in response["description"], (method, path, status)
    manual = document["paths"]["/v1/workflows/{workflow_id}/trigger/manual"]["post"]["responses"]["403"]
    assert "confirmation" in manual["description"]  # the function's own 403 is still there
