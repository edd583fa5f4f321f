"""A real Dovecot (installed from the distribution's packages when missing) and an OAuth provider on loopback,
started once per test run; each test gets a user of its own, with an empty mailbox."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.dovecot import Dovecot, DovecotUnavailable, MailUser, remove, start_dovecot
from tests.support.oauth_server import OAuthServer


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot(oauth_server: OAuthServer) -> Iterator[Dovecot]:
    try:
        server = start_dovecot(oauth_server.introspection_url)
    except DovecotUnavailable as exc:
        if os.environ.get("CI"):  # CI runs as root: there a missing Dovecot is a failure, not a skip
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield server
    remove(server)


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    return dovecot.add_user()
