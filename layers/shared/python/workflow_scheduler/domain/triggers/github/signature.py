"""``X-Hub-Signature-256``: GitHub signs each delivery's raw body with the App's webhook secret.

The header is ``sha256=`` and the hex HMAC-SHA256 of the body. It is checked before anything parses the body,
in constant time; more than one secret may be current while the secret is being rotated.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from workflow_scheduler.domain.errors import Unauthorized

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


class SignatureInvalid(Unauthorized):
    code = "invalid_signature"


def signature_for(secret: str, body: bytes) -> str:
    """The header value GitHub sends for ``body`` signed with ``secret``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, header: str | None, secrets: Iterable[str]) -> bool:
    """Whether ``header`` signs ``body`` with one of ``secrets`` (every secret is compared, in constant time)."""
    if not header or not header.startswith(_PREFIX):
        return False
    given = header.strip().lower().encode()
    results = [hmac.compare_digest(given, signature_for(s, body).encode()) for s in secrets if s]
    return any(results)


def verify_signature(body: bytes, header: str | None, secrets: Iterable[str]) -> None:
    """``SignatureInvalid`` (401) unless ``header`` signs ``body`` with one of ``secrets``."""
    if not header:
        raise SignatureInvalid(f"the {SIGNATURE_HEADER} header is missing")
    if not signature_valid(body, header, secrets):
        raise SignatureInvalid(f"the {SIGNATURE_HEADER} header does not sign this body with the App's webhook secret")
