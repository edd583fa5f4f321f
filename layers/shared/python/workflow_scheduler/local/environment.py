"""The settings of the local system started from this checkout, given to the in-process handlers and CLI commands
that are not pointed at a deployed system."""

from __future__ import annotations

import os
from collections.abc import Collection

from workflow_scheduler.cli_error import CliError
from workflow_scheduler.local.state import running_environment


def use_local_environment(needs: str = "DATABASE_URL", *, unless: Collection[str] = ()) -> None:
    """Default the environment to the running local system's; nothing when one of ``unless`` is set (a deployed
    system, reached with the caller's AWS credentials). ``CliError`` when neither that system nor ``needs`` is."""
    if any(variable in os.environ for variable in unless):
        return
    environment = running_environment()
    if environment is None:
        if needs not in os.environ:
            raise CliError(f"no local system is running here: start it with `make dev`, or set {needs}")
        return
    for key, value in environment.items():
        os.environ.setdefault(key, value)
