"""Security review 2026-12: a signing key the identity provider removed stops working, and an unreachable JWKS
is an outage (503), not the caller's bad token (401)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any

import jwt
import jwt.jwk_set_cache
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.jwks import jwk, served_jwks
from workflow_scheduler.adapters.tokens import TokenVerifier
from workflow_scheduler.domain.errors import DomainError, Unauthorized
from workflow_scheduler.http import describe_error
from workflow_scheduler.settings import AuthSettings

OLD = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NEW = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def published() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A JWKS URL on loopback and the list of keys it serves (change the list to rotate)."""
    keys: list[dict[str, Any]] = []
    with served_jwks(keys) as url:
        yield url, keys


def token(key: rsa.RSAPrivateKey, kid: str) -> str:
    claims = {"sub": "alice", "exp": int(time.time()) + 600}
    return "Bearer " + jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_a_key_removed_from_the_jwks_stops_verifying_tokens(
    published: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, keys = published
    keys.append(jwk(OLD, "old"))
    verifier = TokenVerifier(AuthSettings(jwt_jwks_url=url))
    assert verifier.user_of(token(OLD, "old")) == "alice"

    # The provider rotates: the old key (say, leaked) is gone from the set.
    keys[:] = [jwk(NEW, "new")]
    later = time.monotonic() + 3600  # well past the key set's cache lifespan
    monkeypatch.setattr(jwt.jwk_set_cache, "time", SimpleNamespace(monotonic=lambda: later))
    with pytest.raises(Unauthorized):
        verifier.user_of(token(OLD, "old"))
    assert verifier.user_of(token(NEW, "new")) == "alice"


def test_an_unreachable_jwks_is_a_503_not_a_401() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    verifier = TokenVerifier(AuthSettings(jwt_jwks_url=f"http://127.0.0.1:{port}/jwks.json"))
    with pytest.raises(DomainError) as refused:
        verifier.user_of(token(OLD, "old"))
    status, body, _ = describe_error(refused.value)
    assert status == HTTPStatus.SERVICE_UNAVAILABLE
    assert str(port) not in body["message"]  # where the keys live is the operator's business
