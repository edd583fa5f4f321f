"""The parameters of a GitHub trigger: the App installation, the repository, the events, and the filters of a GitHub
Actions ``on.<event>`` block plus the seed's (docs/github.md). Every rule beyond the types is ``filter_problems``'s,
reported per field and pattern (``parameters.branches.1``) in the same pass as the type errors of other nodes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from workflow_scheduler.domain.triggers.github.filters import MAX_AUTHOR_FILTER_LENGTH, GithubFilter, filter_problems
from workflow_scheduler.domain.triggers.params import TriggerParams

Name = Annotated[str, Field(min_length=1, max_length=100)]  # an event, action or label name


def _patterns() -> Any:
    return Field(default_factory=list)  # filter_problems bounds their number, naming the field and its count


def _names() -> Any:
    return Field(default_factory=list, max_length=100)


class GithubParams(TriggerParams):
    github_app_installation_id: int = Field(gt=0, le=2**53 - 1)  # JSON-safe; BIGINT in the index
    # GitHub's logins: letters, digits and '-'; repository names add '.' and '_'.
    repository: str = Field(max_length=140, pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
    events: list[Name] = Field(min_length=1, max_length=100)
    branches: list[str] = _patterns()
    branches_ignore: list[str] = _patterns()
    tags: list[str] = _patterns()
    tags_ignore: list[str] = _patterns()
    paths: list[str] = _patterns()
    paths_ignore: list[str] = _patterns()
    action_filter: list[Name] = _names()
    author_filter: str | None = Field(default=None, max_length=MAX_AUTHOR_FILTER_LENGTH)
    label_filter: list[Name] = _names()
    ignore_bots: bool = False
    draft_pr_handling: Literal["include", "ignore", "only"] = "include"

    def github_filter(self) -> GithubFilter:
        return GithubFilter.from_config(self.model_dump(mode="json"))

    @model_validator(mode="after")
    def _filters(self) -> GithubParams:
        problems = filter_problems(self.github_filter())
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("github_filter", "{message}", {"message": p.message}),
                        loc=_location(p.field),
                        input=p.field,  # the message quotes the pattern; a pattern is no secret
                    )
                    for p in problems
                ],
            )
        return self


def _location(field: str) -> tuple[str | int, ...]:
    """``parameters.branches.1`` as pydantic's location (``("branches", 1)``)."""
    return tuple(int(part) if part.isdigit() else part for part in field.removeprefix("parameters.").split("."))
