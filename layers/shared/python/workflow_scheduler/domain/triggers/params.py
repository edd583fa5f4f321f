"""What every trigger type's parameter model shares: strict, immutable, and secrets marked as such."""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

# Marks a secret parameter (``Field(json_schema_extra=SECRET)``): write-only in the OpenAPI document, never quoted
# back in an error, and, given inline at deploy, moved into Secrets Manager (domain/inline_secrets.py), its
# sibling ``<name>_ref`` then naming the managed secret. A type has at most one secret field.
SECRET: dict[str, Any] = {"writeOnly": True}


class TriggerParams(BaseModel):
    """The base of each type's ``params.py`` model: unknown keys are refused, a validated value never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class SecretField:
    path: tuple[str, ...]  # within the parameters, e.g. ("auth", "secret")
    max_length: int | None

    @property
    def ref_path(self) -> tuple[str, ...]:
        """Where the reference to the secret goes: the sibling ``<name>_ref`` (("auth", "secret_ref"))."""
        return (*self.path[:-1], f"{self.path[-1]}_ref")


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (``X`` or ``X | None``), if it holds one."""
    candidates = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def secret_fields(model: type[BaseModel]) -> Iterator[SecretField]:
    """Every field marked ``SECRET`` in ``model`` and the models nested in it."""
    for name, info in model.model_fields.items():
        if info.json_schema_extra == SECRET:
            limits = [m.max_length for m in info.metadata if isinstance(getattr(m, "max_length", None), int)]
            yield SecretField((name,), limits[0] if limits else None)
        nested = _nested_model(info.annotation)
        if nested is not None:
            yield from (SecretField((name, *f.path), f.max_length) for f in secret_fields(nested))
