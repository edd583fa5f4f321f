"""X-Hub-Signature-256 against GitHub's published test vector."""

from __future__ import annotations

import pytest

from workflow_scheduler.domain.errors import Unauthorized
from workflow_scheduler.domain.triggers.github.signature import signature_for, signature_valid, verify_signature

# docs.github.com, "Validating webhook deliveries": the example secret, payload and signature.
SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_published_test_vector() -> None:
    assert signature_for(SECRET, BODY) == SIGNATURE
    assert signature_valid(BODY, SIGNATURE, [SECRET])
    verify_signature(BODY, SIGNATURE, [SECRET])


def test_either_secret_passes_while_the_secret_is_rotated() -> None:
    assert signature_valid(BODY, SIGNATURE, ["the new secret", SECRET])


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        (BODY, None, "header is missing"),
        (BODY, "", "header is missing"),
        (b"Hello, World?", SIGNATURE, "does not sign this body"),
        (BODY, SIGNATURE.removeprefix("sha256="), "does not sign this body"),
        (BODY, "sha1=" + SIGNATURE.removeprefix("sha256="), "does not sign this body"),
        (BODY, SIGNATURE[:-1] + "0", "does not sign this body"),
    ],
)
def test_a_missing_or_wrong_signature_is_401(body: bytes, header: str | None, message: str) -> None:
    with pytest.raises(Unauthorized, match=message) as caught:
        verify_signature(body, header, [SECRET])
    assert caught.value.code == "invalid_signature"


def test_no_secret_verifies_nothing() -> None:
    assert not signature_valid(BODY, SIGNATURE, [])
    assert not signature_valid(BODY, SIGNATURE, [""])
