"""The HTTP routes of the local gateway: the API Gateway resources the CDK stack wires, as data.

A route is API Gateway's (method, resource) pair plus the function behind it. Adding a function's route is
one line in ``ROUTES`` (keep it in step with the ``add_function_route`` calls in ``infra_cdk/``); a route
whose ``functions/<name>/handler.py`` does not exist yet is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from workflow_scheduler.local.functions import repo_root

ANY = "ANY"


def _compile(resource: str) -> re.Pattern[str]:
    parts = []
    for segment in resource.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts))


@dataclass(frozen=True)
class Route:
    method: str  # an HTTP method, or ANY
    resource: str  # API Gateway resource path: literal segments, {name} and a final greedy {name+}
    function: str  # folder under functions/
    local_only: bool = False  # served by the local gateway only; the CDK stack does not wire it
    required_headers: tuple[str, ...] = ()  # API Gateway answers 400 without them (add_function_route)
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", _compile(self.resource))

    def path_parameters(self, path: str) -> dict[str, str] | None:
        """The path parameters when ``path`` (as sent, percent-encoded) matches the resource, else None.

        Like API Gateway REST APIs, the event keeps the path encoded and decodes the parameters.
        """
        match = self._pattern.fullmatch(path)
        if match is None:
            return None
        return {name: unquote(value) for name, value in match.groupdict().items()}

    def accepts(self, method: str) -> bool:
        return self.method in (ANY, method.upper())

    @property
    def literal_segments(self) -> int:
        return sum(1 for part in self.resource.split("/") if part and not part.startswith("{"))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "api"),
    Route(ANY, "/v1/{proxy+}", "api"),
    Route("GET", "/swagger", "api", local_only=True),  # Swagger UI; ?format=json gives the OpenAPI document
    Route(ANY, "/webhook/{path+}", "webhook"),
    Route("POST", "/webhooks/github", "github"),
)


def active_routes(routes: tuple[Route, ...] = ROUTES) -> list[Route]:
    """The routes whose function exists in this checkout."""
    functions = repo_root() / "functions"
    return [route for route in routes if (functions / route.function / "handler.py").is_file()]


def find(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a request and its path parameters, or None (a wrong method is an unknown route too).

    A resource with more literal segments beats a greedy one, and a method beats ANY.
    """
    found = [
        (route, params)
        for route in routes
        if route.accepts(method) and (params := route.path_parameters(path)) is not None
    ]
    return max(found, key=lambda pair: (pair[0].literal_segments, pair[0].method != ANY), default=None)
