"""Where an e-mail trigger may make our functions connect (unit, with a fake resolver and socket opener): public
addresses only, however written or resolved; the standard ports; https token endpoints; the socket opened to the
address that was checked while TLS names the host (DNS rebinding gains nothing); the operator's CIDRs and the local
setting; the same answer for every failure before a server answered."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from ipaddress import ip_address
from typing import Any

import pytest
from pydantic import ValidationError

from workflow_scheduler.adapters.imap_mailbox import ImapServer, PasswordLogin, open_mailbox
from workflow_scheduler.adapters.oauth_token import OAuthClient, OAuthTokenSource
from workflow_scheduler.adapters.outbound import Destinations, resolve
from workflow_scheduler.domain.errors import SpecInvalid
from workflow_scheduler.domain.outbound import (
    IMAP_PORTS,
    DestinationRefused,
    IPAddress,
    OutboundPolicy,
    non_public_kind,
    private_networks,
)
from workflow_scheduler.domain.spec import parse_workflow_spec
from workflow_scheduler.domain.triggers.email.mailbox import MailboxUnreachable, OAuthTokenRefused
from workflow_scheduler.domain.triggers.email.registrar import EmailDeployDeps, EmailRegistrar
from workflow_scheduler.domain.triggers.manager import TriggerManager
from workflow_scheduler.settings import EmailSettings

STRICT = OutboundPolicy()
LOCAL = OutboundPolicy(allow_private_destinations=True)
PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),  # the Lambda Runtime API listens on 127.0.0.1:9001
        ("127.255.0.9", "loopback"),
        ("10.0.3.7", "private"),  # the VPC: the database proxy, Redis
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # instance metadata
        ("169.254.170.2", "link-local"),  # container credentials
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),
        ("198.18.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "unique-local"),  # instance metadata over IPv6
        ("fc00::1", "unique-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("::7f00:1", "reserved"),  # IPv4-compatible
        ("2001:db8::1", "reserved"),
        ("2001::1", "reserved"),  # Teredo
        ("4000::1", "reserved"),  # outside global unicast
    ],
)
def test_addresses_that_are_not_globally_routable_are_refused_by_kind(address: str, kind: str) -> None:
    assert non_public_kind(ip_address(address)) == kind
    assert STRICT.address_problem(ip_address(address)) == f"{ip_address(address)} is a {kind} address"
    assert LOCAL.address_problem(ip_address(address)) is None


@pytest.mark.parametrize(
    "address",
    [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001:81b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:
    assert non_public_kind(ip_address(address)) is None
    assert STRICT.address_problem(ip_address(address)) is None


class Dialer:
    """The socket opener: records each address dialled; nothing answers (a closed port)."""

    def __init__(self) -> None:
        self.dialled: list[tuple[str, int]] = []

    def __call__(self, address: tuple[str, int], timeout: float | None) -> socket.socket:
        self.dialled.append(address)
        raise ConnectionRefusedError(111, "Connection refused")


class Dns:
    """A resolver whose answers the test changes (a rebinding name answers differently each time)."""

    def __init__(self, **names: str | list[str]) -> None:
        self.names = {name: [answer] if isinstance(answer, str) else answer for name, answer in names.items()}
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ip_address(answer) for answer in self.names[host]]


@pytest.mark.parametrize(
    "host", ["127.1", "0x7f.1", "2130706433", "0177.0.0.1", "0x7f000001", "::ffff:127.0.0.1", "localhost", "0"]
)
def test_literal_addresses_in_any_form_are_refused_as_what_they_mean(host: str) -> None:
    """The system resolver reads inet_aton's forms; the check looks at what it answered, not at the string."""
    dialer = Dialer()
    with pytest.raises(DestinationRefused, match=r"(loopback|unspecified) address"):
        Destinations(STRICT, resolve, dialer).connect(host, 993, IMAP_PORTS, 1.0)
    assert dialer.dialled == []


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    dns, dialer = Dns(**{"mail.example.com": [PUBLIC, "10.0.0.5"], "v6.example.com": "fd12::1"}), Dialer()
    for host in ("mail.example.com", "v6.example.com"):
        with pytest.raises(DestinationRefused, match=r"(private|unique-local) address"):
            Destinations(STRICT, dns, dialer).connect(host, 993, IMAP_PORTS, 1.0)
    assert dialer.dialled == []


def test_a_public_name_is_dialled_at_its_address_on_the_standard_ports_only() -> None:
    dns, dialer = Dns(**{"mail.example.com": [PUBLIC, "2606:4700:4700::1111"]}), Dialer()
    destinations = Destinations(STRICT, dns, dialer)
    with pytest.raises(ConnectionRefusedError):
        destinations.connect("mail.example.com", 993, IMAP_PORTS, 1.0)
    assert dialer.dialled == [(PUBLIC, 993), ("2606:4700:4700::1111", 993)]  # each address in turn, never the name
    with pytest.raises(DestinationRefused, match="port 5432"):
        destinations.connect("mail.example.com", 5432, IMAP_PORTS, 1.0)
    with pytest.raises(DestinationRefused, match="cannot be resolved"):
        destinations.connect("nowhere.example.com", 993, IMAP_PORTS, 1.0)
    assert len(dialer.dialled) == 2


def test_the_local_setting_lets_loopback_and_any_port_through() -> None:
    dialer = Dialer()
    with pytest.raises(ConnectionRefusedError):
        Destinations(LOCAL, resolve, dialer).connect("127.0.0.1", 40143, IMAP_PORTS, 1.0)
    assert dialer.dialled == [("127.0.0.1", 40143)]


def test_an_operators_private_networks_are_reachable_and_nothing_else_private() -> None:
    policy = OutboundPolicy(private_networks=private_networks("10.20.0.0/16, fd12:3456::/48"))
    assert policy.address_problem(ip_address("10.20.4.5")) is None
    assert policy.address_problem(ip_address("fd12:3456::25")) is None
    assert policy.address_problem(ip_address("10.21.0.1")) == "10.21.0.1 is a private address"
    assert policy.address_problem(ip_address("127.0.0.1")) == "127.0.0.1 is a loopback address"
    assert policy.imap_port_problem(2525) is not None  # the standard ports still


@pytest.mark.parametrize(
    "cidrs", ["0.0.0.0/0", "127.0.0.0/8", "169.254.0.0/16", "::/0", "fe80::/64", "fd00:ec2::/32", "10.0.0.0/33", "x"]
)
def test_operator_cidrs_that_would_open_the_host_or_metadata_are_refused_at_cold_start(cidrs: str) -> None:
    with pytest.raises(ValidationError, match="email_allowed_private_cidrs"):
        EmailSettings(email_allowed_private_cidrs=cidrs)


def test_the_settings_are_strict_unless_told_otherwise() -> None:
    assert EmailSettings().outbound_policy() == STRICT
    local = EmailSettings(email_allow_private_destinations=True, email_allowed_private_cidrs="10.1.0.0/16")
    assert local.outbound_policy() == OutboundPolicy(True, private_networks("10.1.0.0/16"))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://login.microsoftonline.com/t/oauth2/v2.0/token", None),
        ("https://oauth2.googleapis.com:443/token", None),
        ("http://login.example.com/token", "must be an https:// URL: the client's secrets travel to it"),
        ("http://127.0.0.1:8080/token", "must be an https:// URL: the client's secrets travel to it"),
        ("https://login.example.com:8443/token", "must use https's standard port 443"),
        ("https://user:secret@login.example.com/token", "must not hold a user name or password"),
        ("https://login.example.com:99999/token", "has an invalid port"),
    ],
)
def test_token_urls_are_https_on_443_without_credentials(url: str, problem: str | None) -> None:
    assert STRICT.token_url_problem(url) == problem


def test_locally_a_token_endpoint_may_be_http_on_any_port_but_never_hold_credentials() -> None:
    assert LOCAL.token_url_problem("http://127.0.0.1:8080/token") is None
    assert LOCAL.token_url_problem("http://u:p@127.0.0.1:8080/token") == "must not hold a user name or password"


def never_opened(access: Any) -> Any:
    raise AssertionError("checking the parameters opens no mailbox")


def check(policy: OutboundPolicy, **parameters: Any) -> dict[str, str]:
    """The problems a deploy answers with (422, ``validation_error``), by field."""
    node = {"id": "mail", "node_type": "TRIGGER_NODE", "subtype": "TRIGGER_EMAIL", "parameters": parameters}
    registrar = EmailRegistrar(EmailDeployDeps(never_opened, cursors=None, outbound=policy))  # type: ignore[arg-type]
    try:
        TriggerManager([registrar]).check("wf", parse_workflow_spec({"nodes": [node]}))
    except SpecInvalid as refused:
        assert refused.code == "validation_error" and "secret" not in refused.message
        return {p.field: p.message for p in refused.problems or []}
    return {}


OWN = {"imap_host": "imap.example.com", "username": "ci", "password": "secret"}
OAUTH = {"imap_host": "imap.example.com", "username": "ci", "auth": "xoauth2", "oauth_client_id": "c"}


def test_a_deploy_refuses_another_port_or_token_url_naming_the_field() -> None:
    assert check(STRICT, **OWN, imap_port=993) == {}
    assert check(STRICT, **OWN, imap_port=143, use_ssl=False) == {}
    assert check(STRICT, **OWN, imap_port=5432) == {
        "parameters.imap_port": "must be 993 (IMAP over TLS, use_ssl true) or 143 (STARTTLS, use_ssl false):"
        " the standard IMAP ports"
    }
    assert check(LOCAL, **OWN, imap_port=5432) == {}
    url = "https://user:secret@login.example.com:8443/token"
    assert check(STRICT, **OAUTH, oauth_refresh_token_ref="r", oauth_token_url=url) == {
        "parameters.oauth_token_url": "must not hold a user name or password"
    }


class SpyTls(ssl.SSLContext):
    """Records the name TLS is asked to verify, then fails the handshake."""

    names: list[str | None]

    def wrap_socket(self, sock: Any, *args: Any, server_hostname: str | None = None, **kwargs: Any) -> Any:
        self.names.append(server_hostname)
        sock.close()
        raise ssl.SSLError("handshake failed")


def spy_tls() -> SpyTls:
    context = SpyTls(ssl.PROTOCOL_TLS_CLIENT)
    context.names = []
    return context


class Connected(Dialer):
    """The socket opener: records each address and hands back a socket, as if it had connected."""

    def __call__(self, address: tuple[str, int], timeout: float | None) -> socket.socket:
        self.dialled.append(address)
        ours, theirs = socket.socketpair()
        theirs.close()  # SpyTls fails the handshake before anything is read
        return ours


def test_imap_connects_to_the_checked_address_names_the_host_for_tls_and_rechecks_every_time() -> None:
    """DNS rebinding: the name answers a public address at the deploy's check, then loopback for the poll."""
    dns, dialer, tls = Dns(**{"imap.example.com": PUBLIC}), Connected(), spy_tls()
    server = ImapServer("imap.example.com", ssl_context=tls, destinations=Destinations(STRICT, dns, dialer))
    with pytest.raises(MailboxUnreachable) as first:
        open_mailbox(server, PasswordLogin("ci", "pw"))
    assert dialer.dialled == [(PUBLIC, 993)] and tls.names == ["imap.example.com"]

    dns.names["imap.example.com"] = ["127.0.0.1"]
    with pytest.raises(MailboxUnreachable) as second:
        open_mailbox(server, PasswordLogin("ci", "pw"))
    assert dialer.dialled == [(PUBLIC, 993)]  # nothing dialled: refused before connecting
    assert dns.asked == ["imap.example.com", "imap.example.com"]
    assert first.value.message == second.value.message  # a refused destination looks like a failed handshake
    assert first.value.code == "imap_unreachable"


def test_the_oauth_token_request_goes_to_the_checked_address_and_rechecks_every_time() -> None:
    dns, dialer, tls = Dns(**{"login.example.com": PUBLIC}), Connected(), spy_tls()
    client = OAuthClient("https://login.example.com/token", "client", client_secret="shh")
    source = OAuthTokenSource(client, Destinations(STRICT, dns, dialer), timeout=1.0, ssl_context=tls)
    with pytest.raises(OAuthTokenRefused) as first:
        source()
    assert dialer.dialled == [(PUBLIC, 443)] and tls.names == ["login.example.com"]

    dns.names["login.example.com"] = ["169.254.169.254"]
    with pytest.raises(OAuthTokenRefused) as second:
        source()
    assert dialer.dialled == [(PUBLIC, 443)]
    assert first.value.message == second.value.message
    assert first.value.message.startswith("could not reach the OAuth token endpoint at login.example.com ")
    assert "shh" not in first.value.message


def test_a_stored_token_url_that_breaks_the_rules_is_not_requested() -> None:
    """Triggers deployed before the rules existed: the request checks them again."""
    dns, dialer = Dns(**{"login.example.com": PUBLIC}), Dialer()
    for url in ("http://login.example.com/token", "https://login.example.com:8443/token"):
        with pytest.raises(OAuthTokenRefused):
            OAuthTokenSource(OAuthClient(url, "client"), Destinations(STRICT, dns, dialer))()
    assert dialer.dialled == [] and dns.asked == []
