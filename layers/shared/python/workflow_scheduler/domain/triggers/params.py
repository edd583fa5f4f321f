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
# What names a Secrets Manager secret: a name or an ARN.
SECRET_REF_PATTERN = r"^[A-Za-z0-9/_+=.@:-]{1,2048}$"  # noqa: S105 (a pattern, not a secret)


class SecretName:
    """Marks a parameter that names a secret the trigger uses besides its secret field's ``<name>_ref`` (an e-mail
    trigger's OAuth client secret and refresh token: ``Annotated[str | None, SECRET_NAME]``). Like every ``*_ref``,
    the secret must be the deploying user's (domain/deployments.py) and is checked again where it is read."""


SECRET_NAME = SecretName()


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


def named_secret_fields(model: type[BaseModel]) -> list[tuple[str, ...]]:
    """Where a model's parameters name secrets: each secret field's ``<name>_ref``, then each ``SECRET_NAME`` field."""
    return [*(f.ref_path for f in secret_fields(model)), *_marked_names(model)]


def _marked_names(model: type[BaseModel]) -> Iterator[tuple[str, ...]]:
    for name, info in model.model_fields.items():
        if any(isinstance(m, SecretName) for m in info.metadata):
            yield (name,)
        nested = _nested_model(info.annotation)
        if nested is not None:
            yield from ((name, *path) for path in _marked_names(nested))
