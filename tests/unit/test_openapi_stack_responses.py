"""docs/openapi.json also documents what the deployed stack answers before any function runs: the WAF's per-caller
rate limits and API Gateway's throttling (429, Retry-After), the WAF's managed rules (403) and API Gateway's body
cap (413), each in the service's error shape."""

from __future__ import annotations

from typing import Any

from tests.unit.test_openapi_contract import document, operations

__all__ = ["document"]  # the contract tests' fixture (the generated document), used here by name

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
