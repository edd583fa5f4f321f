"""X-Ray traces keep no answer and no exception of a function as metadata (docs/decisions.md): answers carry
workflow specs and tenants' data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import aws_xray_sdk
import pytest
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.models.subsegment import Subsegment

from infra_cdk import constants
from tests.infra.conftest import Synthesized, code_of, service_functions
from workflow_scheduler.observability import tracer

SPEC = {"name": "payroll", "nodes": [{"id": "n1", "parameters": {"engine_token": "not-for-traces"}}]}


@pytest.fixture
def recorded() -> Iterator[list[Subsegment]]:
    """The subsegments the real X-Ray recorder keeps in memory for one sampled segment (nothing is sent)."""
    enabled = aws_xray_sdk.global_sdk_config.sdk_enabled()
    aws_xray_sdk.global_sdk_config.set_sdk_enabled(True)  # Powertools turns it off outside Lambda
    segment = xray_recorder.begin_segment("test", sampling=1)
    try:
        yield segment.subsegments
    finally:
        xray_recorder.clear_trace_entities()
        aws_xray_sdk.global_sdk_config.set_sdk_enabled(enabled)


def test_every_function_is_deployed_not_to_capture_answers_or_exceptions(synthesized: Synthesized) -> None:
    functions = service_functions(synthesized)
    assert len(functions) == 11
    for props in (resource["Properties"] for resource in functions.values()):
        env = props["Environment"]["Variables"]
        assert env[constants.ENV_TRACER_CAPTURE_RESPONSE] == "false"
        assert env[constants.ENV_TRACER_CAPTURE_ERROR] == "false"
        # An explicit argument on the decorator would win over the environment.
        handler = code_of(synthesized, props)
        assert "capture_response" not in handler and "capture_error" not in handler


def test_the_api_functions_environment_keeps_its_answer_out_of_the_trace(
    synthesized: Synthesized, recorded: list[Subsegment], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Powertools Tracer of every handler, decorated as at a cold start in the deployed environment."""
    env = synthesized.properties(synthesized.stack.api.function)["Environment"]["Variables"]
    for name, value in env.items():
        if name.startswith("POWERTOOLS_"):
            monkeypatch.setenv(name, value)

    def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        if event.get("fail"):
            raise RuntimeError("the database is down")
        return {"statusCode": 200, "body": json.dumps({"workflow_spec": SPEC})}

    handler = tracer.capture_lambda_handler(lambda_handler)
    assert handler({}, None)["statusCode"] == 200
    with pytest.raises(RuntimeError):
        handler({"fail": True}, None)

    answered, failed = recorded
    assert answered.metadata == {} and failed.metadata == {}
    assert "not-for-traces" not in json.dumps(answered.to_dict(), default=str)
    # X-Ray itself still records what failed, where: the trace stays useful.
    (exception,) = [throwable.to_dict() for throwable in failed.cause["exceptions"]]
    assert (exception["type"], exception["message"]) == ("RuntimeError", "the database is down")
