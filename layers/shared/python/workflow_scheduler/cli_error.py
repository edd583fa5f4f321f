"""The CLI's one error, in a module of its own: the CLI and the local system it starts both raise it."""

from __future__ import annotations


class CliError(Exception):
    """A mistake the user can fix: printed on stderr, exit status 2."""
