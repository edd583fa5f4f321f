"""Deploys of e-mail triggers naming internal destinations, through the api function as the stack configures it
(EMAIL_ALLOW_PRIVATE_DESTINATIONS unset): loopback in any spelling is refused with the same 422 as a mail server
that failed its TLS handshake, and nothing is dialled; other ports and token URLs are refused naming the field.

The same function with the local setting (make dev) stands beside it, against the real Dovecot and OAuth provider.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Stack
from tests.support.api import ApiClient, Reply, deploy_body
from tests.support.dovecot import HOST, Dovecot, MailUser
from tests.support.oauth_server import OAuthServer

pytestmark = pytest.mark.integration

IMAPS_PORT = 993


def email_node(**parameters: Any) -> dict[str, Any]:
    given = {"username": "ci", "password": "not-a-real-Pa55word", **parameters}
    return {"id": "mail", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_EMAIL", "parameters": given}


def deploy(api: ApiClient, *nodes: dict[str, Any]) -> Reply:
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    reply = api.call("deploy", workflow_id, deploy_body(*nodes))
    if reply.status != 200:
        assert api.call("status", workflow_id).status == 404  # nothing of a refused deploy stays
    return reply


@pytest.fixture(scope="module")
def apis(stack: Stack, dovecot: Dovecot) -> tuple[ApiClient, ApiClient]:
    """(as in AWS, as on make dev): the api function without and with EMAIL_ALLOW_PRIVATE_DESTINATIONS."""
    stack.env.setenv("SSL_CERT_FILE", str(Path(dovecot.root) / "cert.pem"))  # Dovecot's certificate is trusted
    stack.env.delenv("EMAIL_ALLOW_PRIVATE_DESTINATIONS", raising=False)
    strict = ApiClient(stack.load("api"), stack.jwt_key)
    stack.env.setenv("EMAIL_ALLOW_PRIVATE_DESTINATIONS", "true")
    local = ApiClient(stack.load("api"), stack.jwt_key)
    return strict, local


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """Something listening on loopback's IMAPS port, as the Lambda Runtime API listens on 127.0.0.1:9001."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, IMAPS_PORT))
    except OSError as exc:
        sock.close()
        pytest.skip(f"cannot listen on {HOST}:{IMAPS_PORT} (needs root, and the port free): {exc}")
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            accepted, _ = listener.accept()
        except BlockingIOError:
            return count
        accepted.close()
        count += 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1", "0x7f.1", "2130706433", "::ffff:127.0.0.1"])
def test_loopback_in_any_spelling_is_refused_like_a_failed_handshake_and_never_dialled(
    apis: tuple[ApiClient, ApiClient], dovecot: Dovecot, listener: socket.socket, host: str
) -> None:
    strict, local = apis
    refused = deploy(strict, email_node(imap_host=host, imap_port=IMAPS_PORT))
    assert refused.status == 422, refused.body
    assert connections(listener) == 0

    # A real IMAP server whose TLS handshake fails (TLS spoken to its STARTTLS port): the same answer.
    failed = deploy(local, email_node(imap_host=host, imap_port=dovecot.imap_port))
    assert failed.status == 422, failed.body
    same = json.dumps(failed.body).replace(f":{dovecot.imap_port}", f":{IMAPS_PORT}")
    assert json.loads(same) == refused.body
    assert refused.body["error"] == "imap_unreachable"
    assert refused.body["message"].startswith(f"e-mail trigger 'mail': could not reach an IMAP server at {host}:993")
    assert refused.body["problems"][0]["field"] == "parameters.imap_host"
    assert "not-a-real-Pa55word" not in json.dumps(refused.body)


@pytest.mark.parametrize("host", ["169.254.169.254", "169.254.170.2", "10.0.0.1", "100.100.0.1", "fd00:ec2::254"])
def test_metadata_and_vpc_addresses_are_refused_with_the_same_answer(
    apis: tuple[ApiClient, ApiClient], host: str
) -> None:
    reply = deploy(apis[0], email_node(imap_host=host))
    assert reply.status == 422 and reply.body["error"] == "imap_unreachable", reply.body
    assert reply.body["message"] == (
        f"e-mail trigger 'mail': could not reach an IMAP server at {host}:993 over TLS within 10 s (the host must"
        " resolve to public addresses only; port 993 takes use_ssl true, 143 use_ssl false; the certificate must be"
        " trusted)"
    )


def test_another_port_is_refused_naming_the_field(apis: tuple[ApiClient, ApiClient]) -> None:
    reply = deploy(apis[0], email_node(imap_host="imap.example.com", imap_port=5432))  # the database proxy's port
    assert reply.status == 422 and reply.body["error"] == "validation_error", reply.body
    assert reply.body["problems"] == [
        {
            "field": "parameters.imap_port",
            "node_id": "mail",
            "message": "must be 993 (IMAP over TLS, use_ssl true) or 143 (STARTTLS, use_ssl false): the standard"
            " IMAP ports",
        }
    ]


def test_a_token_url_that_is_not_https_on_443_is_refused_and_never_requested(
    apis: tuple[ApiClient, ApiClient], oauth_server: OAuthServer, mail_user: MailUser
) -> None:
    oauth = {"imap_host": "imap.example.com", "username": mail_user.name, "auth": "xoauth2", "oauth_client_id": "c"}
    oauth["oauth_refresh_token_ref"] = "alice/refresh"
    requests_before = len(oauth_server.provider.token_requests)
    for url, says in [
        (oauth_server.token_url, "must be an https:// URL: the client's secrets travel to it"),
        ("https://login.example.com:8443/token", "must use https's standard port 443"),
        ("https://admin:hunter2-secret@login.example.com/token", "must not hold a user name or password"),
    ]:
        node = email_node(**oauth, oauth_token_url=url)
        del node["parameters"]["password"]
        reply = deploy(apis[0], node)
        assert reply.status == 422 and reply.body["error"] == "validation_error", reply.body
        assert reply.body["problems"][0] == {"field": "parameters.oauth_token_url", "node_id": "mail", "message": says}
        assert "hunter2-secret" not in json.dumps(reply.body)
    assert len(oauth_server.provider.token_requests) == requests_before
