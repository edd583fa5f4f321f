"""RS256 tokens verified against a JWKS served over HTTP on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.jwks import jwk, served_jwks
from workflow_scheduler.adapters.tokens import TokenVerifier
from workflow_scheduler.domain.errors import Unauthorized
from workflow_scheduler.settings import AuthSettings

PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    with served_jwks([jwk(PRIVATE, "k1")]) as url:
        yield url


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "exp": int(time.time()) + 60, "aud": "api", **extra}


def test_rs256_against_jwks(jwks_url: str) -> None:
    verifier = TokenVerifier(AuthSettings(jwt_jwks_url=jwks_url, jwt_audience="api"))
    good = jwt.encode(claims(), PRIVATE, algorithm="RS256", headers={"kid": "k1"})
    assert verifier.user_of(f"Bearer {good}") == "alice"

    forged = jwt.encode(claims(), OTHER, algorithm="RS256", headers={"kid": "k1"})
    unknown_kid = jwt.encode(claims(), PRIVATE, algorithm="RS256", headers={"kid": "k9"})
    public_pem = PRIVATE.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    # Algorithm confusion: an HS256 token keyed with the public key must not pass as RS256.
    confused = hs256_by_hand(claims(), public_pem, kid="k1")
    for token in (forged, unknown_kid, confused):
        with pytest.raises(Unauthorized):
            verifier.user_of(f"Bearer {token}")


def hs256_by_hand(payload: dict[str, Any], key: bytes, kid: str) -> str:
    """PyJWT refuses to sign HS256 with a PEM key; an attacker would not."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
