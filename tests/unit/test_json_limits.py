"""The one JSON acceptance rule shared by every way in (specs, manual inputs, webhook bodies)."""

from __future__ import annotations

import json

import pytest

from workflow_scheduler.domain.json_limits import MAX_JSON_DEPTH, JsonRefused, json_depth_exceeds, loads_strict


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_standard_json_is_parsed_unchanged() -> None:
    text = '{"a": [1, 2.5, {"b": null, "c": "\\u0000"}], "big": 1e308}'
    assert loads_strict(text) == json.loads(text)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"x": -Infinity}', "1e999", "[-1e400]"])
def test_non_standard_numbers_are_refused_not_altered(text: str) -> None:
    with pytest.raises(JsonRefused):
        loads_strict(text)


def test_depth_up_to_the_limit_is_accepted() -> None:
    assert json_depth_exceeds(loads_strict(nested(MAX_JSON_DEPTH))) is False


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 300, 5000, 100_000])
def test_deeper_is_refused_without_recursion_error(depth: int) -> None:
    with pytest.raises(JsonRefused) as refused:
        loads_strict(nested(depth))
    assert refused.value.too_deep


def test_malformed_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        loads_strict("{")
