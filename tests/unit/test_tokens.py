from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from workflow_scheduler.adapters.tokens import TokenVerifier
from workflow_scheduler.domain.errors import Unauthorized
from workflow_scheduler.settings import AuthSettings

KEY = "k" * 48


def verifier(**settings: Any) -> TokenVerifier:
    return TokenVerifier(AuthSettings(jwt_secret_arn="arn:jwt", **settings), secret_loader=lambda _: KEY)


def token(key: str = KEY, algorithm: str = "HS256", **claims: Any) -> str:
    body = {"sub": "alice", "exp": int(time.time()) + 60, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm)


def unsigned(**claims: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': 'alice', 'exp': int(time.time()) + 60, **claims})}."


def test_valid_token_gives_its_subject() -> None:
    assert verifier().user_of(f"Bearer {token()}") == "alice"
    assert verifier().user_of(f"bearer   {token(sub='bob')}") == "bob"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Basic dXNlcjpwdw==", "Bearer"),
        ("Bearer ", "Bearer"),
        (f"Bearer {token(exp=int(time.time()) - 120)}", "expired"),
        (f"Bearer {token(key='another-key-' * 4)}", "invalid"),
        (f"Bearer {unsigned()}", "invalid"),
        (f"Bearer {token(exp=None)}", "invalid"),
        (f"Bearer {token(sub=None)}", "invalid"),
        ("Bearer not.a.jwt", "invalid"),
    ],
)
def test_refused_tokens(header: str | None, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verifier().user_of(header)


def test_algorithm_is_pinned_even_when_the_key_would_verify() -> None:
    # HS384 with the right secret is still refused: only HS256 is accepted.
    with pytest.raises(Unauthorized):
        verifier().user_of(f"Bearer {token(algorithm='HS384')}")


def test_audience_and_issuer_are_checked_when_configured() -> None:
    strict = verifier(jwt_audience="scheduler", jwt_issuer="https://issuer")
    assert strict.user_of(f"Bearer {token(aud='scheduler', iss='https://issuer')}") == "alice"
    with pytest.raises(Unauthorized, match="audience"):
        strict.user_of(f"Bearer {token(aud='another', iss='https://issuer')}")
    with pytest.raises(Unauthorized, match="issuer"):
        strict.user_of(f"Bearer {token(aud='scheduler', iss='https://evil')}")
    with pytest.raises(Unauthorized):
        strict.user_of(f"Bearer {token()}")


def test_settings_need_exactly_one_key_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET_ARN", raising=False)
    monkeypatch.delenv("JWT_JWKS_URL", raising=False)
    with pytest.raises(ValueError, match="exactly one"):
        AuthSettings(jwt_secret_arn="a", jwt_jwks_url="https://x")
    with pytest.raises(ValueError, match="exactly one"):
        AuthSettings.from_environment()
