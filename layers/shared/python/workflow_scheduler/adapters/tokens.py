"""Bearer JWT verification: algorithms pinned, ``exp`` and ``sub`` required, ``aud``/``iss`` when configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt

from workflow_scheduler.adapters.secrets import read_secret
from workflow_scheduler.domain.errors import Unauthorized, Unavailable
from workflow_scheduler.observability import logger
from workflow_scheduler.settings import AuthSettings, required

_REQUIRED_CLAIMS = ["exp", "sub"]
MAX_SUBJECT = 256
# Seconds a JWKS fetch may take: well inside the API's 29 s, so an identity provider that hangs fails the
# request with a 503 instead of the whole invocation timing out.
JWKS_TIMEOUT_SECONDS = 5


class TokenKeysUnavailable(Unavailable):
    """The JWKS could not be fetched: an outage (503), not a bad token."""

    code = "token_keys_unavailable"


class TokenVerifier:
    def __init__(self, settings: AuthSettings, secret_loader: Callable[[str], str] | None = None) -> None:
        self._settings = settings
        self._secret_loader = secret_loader or read_secret
        # The key set is cached 300 s, so a key the provider removes (rotated out, leaked) stops verifying within
        # that; PyJWT's per-kid cache (cache_keys) would keep serving it for the life of the instance.
        self._jwks: jwt.PyJWKClient | None = (
            jwt.PyJWKClient(settings.jwt_jwks_url, lifespan=300, timeout=JWKS_TIMEOUT_SECONDS)
            if settings.jwt_jwks_url
            else None
        )

    @property
    def algorithm(self) -> str:
        return "RS256" if self._jwks else "HS256"

    def _key(self, token: str) -> Any:
        if self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError as exc:
                logger.warning("the JWKS cannot be fetched", extra={"cause": str(exc)[:300]})
                raise TokenKeysUnavailable("the keys that sign bearer tokens cannot be fetched; retry later") from exc
            except jwt.PyJWKClientError as exc:
                raise Unauthorized("the token's signing key is not known") from exc
        return self._secret_loader(required(self._settings.jwt_secret_arn, "JWT_SECRET_ARN"))

    def user_of(self, authorization: str | None) -> str:
        """The token's ``sub`` from an ``Authorization: Bearer <JWT>`` header; ``Unauthorized`` otherwise."""
        if not authorization:
            raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        token = token.strip()
        try:
            claims = jwt.decode(
                token,
                self._key(token),
                algorithms=[self.algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                leeway=self._settings.jwt_leeway_seconds,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_aud": self._settings.jwt_audience is not None,
                    "verify_iss": self._settings.jwt_issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("the token is not meant for this service (audience)") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("the token's issuer is not trusted") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("the token is invalid") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("the token has no subject")
        # The subject becomes the owner column and log keys: only printable text of a sane length.
        if len(subject) > MAX_SUBJECT or not subject.isprintable():
            raise Unauthorized("the token's subject is not a valid user id")
        return subject
