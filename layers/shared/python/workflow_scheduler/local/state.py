"""What the local system keeps in ``.local/`` of the checkout: the signing key and the running system's settings.

``workflow-scheduler token`` and ``invoke`` read them, so a token minted here is accepted by a local system
started from the same checkout, and an invoked handler talks to the same database and AWS endpoint.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import jwt

from workflow_scheduler.local.functions import repo_root

LOCAL_AUDIENCE = "workflow-scheduler-local"
LOCAL_ISSUER = "workflow-scheduler-local"


def local_dir() -> Path:
    """``.local/`` of the checkout, or ``WORKFLOW_SCHEDULER_STATE_DIR`` (tests use their own)."""
    explicit = os.environ.get("WORKFLOW_SCHEDULER_STATE_DIR")
    folder = Path(explicit) if explicit else repo_root() / ".local"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def signing_key() -> str:
    """The local HS256 key, created on first use (never used outside this checkout)."""
    path = local_dir() / "jwt_signing_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def mint_token(user: str, ttl_seconds: int = 3600) -> tuple[str, int]:
    now = int(time.time())
    expires = now + ttl_seconds
    claims = {"sub": user, "iat": now, "exp": expires, "aud": LOCAL_AUDIENCE, "iss": LOCAL_ISSUER}
    return jwt.encode(claims, signing_key(), algorithm="HS256"), expires


def _state_file() -> Path:
    return local_dir() / "dev.json"


def save_environment(environment: dict[str, str], url: str) -> None:
    """Record the running local system: its URL (the port it bound, also for ``--port 0``) and the function
    environment (secrets are references, not values). Written once the system is ready."""
    path = _state_file()
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    # Owner-only: DATABASE_URL may carry a password, and pgserver opens the folder to its own system user.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps({"pid": os.getpid(), "url": url, "environment": environment}, indent=2))
    tmp.replace(path)


def clear_environment() -> None:
    _state_file().unlink(missing_ok=True)


def running_environment() -> dict[str, str] | None:
    """The environment of the local system started from this checkout, if one is running."""
    path = _state_file()
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    try:
        os.kill(int(state["pid"]), 0)
    except (ProcessLookupError, ValueError, KeyError):
        return None
    return dict(state["environment"])
