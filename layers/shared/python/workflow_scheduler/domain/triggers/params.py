"""What every trigger type's parameter model shares: strict, immutable, and secrets marked as such."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# Marks a secret parameter: write-only in the OpenAPI document, never quoted back in an error.
WRITE_ONLY: dict[str, Any] = {"writeOnly": True}


class TriggerParams(BaseModel):
    """The base of each type's ``params.py`` model: unknown keys are refused, a validated value never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
