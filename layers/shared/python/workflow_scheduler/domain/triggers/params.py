"""What every trigger type's parameter model shares: strict, immutable, and secrets marked as such."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

# Marks a secret parameter: write-only in the OpenAPI document, never quoted back in an error.
WRITE_ONLY: dict[str, Any] = {"writeOnly": True}


class TriggerParams(BaseModel):
    """The base of each type's ``params.py`` model: unknown keys are refused, a validated value never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (``X`` or ``X | None``), if it holds one."""
    candidates = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def secret_paths(model: type[BaseModel]) -> Iterator[tuple[str, ...]]:
    """The path of every field marked secret in ``model`` and the models nested in it (``("auth", "secret")``)."""
    for name, info in model.model_fields.items():
        if info.json_schema_extra == WRITE_ONLY:
            yield (name,)
        nested = _nested_model(info.annotation)
        if nested is not None:
            yield from ((name, *path) for path in secret_paths(nested))
