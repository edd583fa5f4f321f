"""The parameters of a GitHub trigger (the type cannot be deployed yet: it has no registrar)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from workflow_scheduler.domain.triggers.params import TriggerParams


class GithubParams(TriggerParams):
    github_app_installation_id: int = Field(gt=0)
    repository: str = Field(pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
    events: list[str] = Field(min_length=1)
    branches: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)
    action_filter: list[str] = Field(default_factory=list)
    author_filter: str | None = None
    label_filter: list[str] = Field(default_factory=list)
    ignore_bots: bool = False
    draft_pr_handling: Literal["include", "ignore", "only"] = "include"

    @field_validator("author_filter")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"author_filter is not a valid regular expression: {exc}") from exc
        return value
