"""XOAUTH2 end to end: an access token from the OAuth provider on loopback (refresh-token or client-credentials
grant), the login to Dovecot, whose oauth2 passdb asks the same provider's introspection endpoint."""

from __future__ import annotations

import logging

import pytest

from tests.support.dovecot import HOST, LOCAL_DESTINATIONS, Dovecot, MailUser, spare_port
from tests.support.oauth_server import OAuthClientRecord, OAuthServer
from workflow_scheduler.adapters.imap_mailbox import ImapServer, XOAuth2Login, check_mailbox
from workflow_scheduler.adapters.oauth_token import EXPIRY_MARGIN_SECONDS, OAuthClient, OAuthTokenSource
from workflow_scheduler.domain.triggers.email.mailbox import MailboxLoginRefused, OAuthTokenRefused

pytestmark = pytest.mark.integration


def server(dovecot: Dovecot) -> ImapServer:
    return ImapServer(HOST, port=dovecot.imaps_port, ssl_context=dovecot.ssl_context(), destinations=LOCAL_DESTINATIONS)


def client(oauth_server: OAuthServer, record: OAuthClientRecord, refresh: bool = True, **changes: str) -> OAuthClient:
    fields = {
        "token_url": oauth_server.token_url,
        "client_id": record.client_id,
        "client_secret": record.client_secret,
        "refresh_token": record.refresh_token if refresh else None,
    }
    fields.update(changes)
    return OAuthClient(**fields)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("refresh", [True, False], ids=["refresh_token", "client_credentials"])
def test_xoauth2_logs_in_with_a_token_from_the_endpoint(
    dovecot: Dovecot, oauth_server: OAuthServer, mail_user: MailUser, refresh: bool
) -> None:
    uid = dovecot.append(mail_user, b"Subject: hi\r\n\r\nbody\r\n")
    record = oauth_server.provider.add_client(mail_user.name)
    introspections = oauth_server.provider.introspections
    login = XOAuth2Login(mail_user.name, OAuthTokenSource(client(oauth_server, record, refresh), LOCAL_DESTINATIONS))
    assert check_mailbox(server(dovecot), login, "INBOX").uidnext == uid + 1
    request = oauth_server.provider.token_requests[-1]
    assert request["grant_type"] == ("refresh_token" if refresh else "client_credentials")
    assert request["client_secret"] == record.client_secret
    assert oauth_server.provider.introspections > introspections  # Dovecot asked the provider


def test_a_token_is_reused_until_shortly_before_it_expires(
    dovecot: Dovecot, oauth_server: OAuthServer, mail_user: MailUser
) -> None:
    record = oauth_server.provider.add_client(mail_user.name)
    clock = Clock()
    source = OAuthTokenSource(client(oauth_server, record), LOCAL_DESTINATIONS, clock=clock)
    login = XOAuth2Login(mail_user.name, source)
    requests_before = len(oauth_server.provider.token_requests)
    check_mailbox(server(dovecot), login, "INBOX")
    clock.now += 3600 - EXPIRY_MARGIN_SECONDS - 1
    check_mailbox(server(dovecot), login, "INBOX")
    assert len(oauth_server.provider.token_requests) == requests_before + 1
    clock.now += 2
    check_mailbox(server(dovecot), login, "INBOX")
    assert len(oauth_server.provider.token_requests) == requests_before + 2


def test_a_token_the_server_does_not_accept_is_a_refused_login_without_the_token(
    dovecot: Dovecot, oauth_server: OAuthServer, mail_user: MailUser, caplog: pytest.LogCaptureFixture
) -> None:
    token = oauth_server.provider.issue("someone-else")  # valid, but for another mailbox
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailboxLoginRefused) as caught:
        check_mailbox(server(dovecot), XOAuth2Login(mail_user.name, lambda: token), "INBOX")
    assert f"refused the login of {mail_user.name!r}" in caught.value.message
    assert token not in caught.value.message
    assert token not in caplog.text


def test_a_wrong_client_secret_is_refused_without_echoing_it(
    dovecot: Dovecot, oauth_server: OAuthServer, mail_user: MailUser
) -> None:
    record = oauth_server.provider.add_client(mail_user.name)
    wrong = "not-" + record.client_secret
    login = XOAuth2Login(
        mail_user.name, OAuthTokenSource(client(oauth_server, record, client_secret=wrong), LOCAL_DESTINATIONS)
    )
    with pytest.raises(OAuthTokenRefused) as caught:
        check_mailbox(server(dovecot), login, "INBOX")
    assert caught.value.code == "oauth_token_refused"
    assert f"refused client {record.client_id!r}: invalid_client" in caught.value.message
    assert wrong not in caught.value.message
    assert record.refresh_token not in repr(client(oauth_server, record))


def test_a_revoked_refresh_token_is_refused(oauth_server: OAuthServer, mail_user: MailUser) -> None:
    record = oauth_server.provider.add_client(mail_user.name)
    with pytest.raises(OAuthTokenRefused, match="invalid_grant: refresh token expired or revoked"):
        OAuthTokenSource(client(oauth_server, record, refresh_token="1//0gRevokedToken-xyz"), LOCAL_DESTINATIONS)()


def test_an_unreachable_token_endpoint_is_refused(oauth_server: OAuthServer, mail_user: MailUser) -> None:
    record = oauth_server.provider.add_client(mail_user.name)
    url = f"http://{HOST}:{spare_port()}/token"
    with pytest.raises(OAuthTokenRefused, match=f"could not reach the OAuth token endpoint at {HOST} within 2 s"):
        OAuthTokenSource(client(oauth_server, record, token_url=url), LOCAL_DESTINATIONS, timeout=2)()
