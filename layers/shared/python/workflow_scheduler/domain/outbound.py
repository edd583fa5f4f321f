"""Where the service may connect on a tenant's behalf: the destinations an e-mail trigger names (``imap_host`` and
``imap_port``, ``oauth_token_url``).

Our functions run inside the VPC, next to the database proxy, and inside Lambda (the Runtime API listens on
127.0.0.1:9001). A destination a tenant names is therefore reached only on the standard port of its protocol (IMAP
993 and 143, https 443) and only at globally routable addresses: every address its name resolves to is checked,
including the IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address. The adapters connect to exactly the
addresses checked here (adapters/outbound.py), so a name that resolves elsewhere later (DNS rebinding) gains
nothing. Pure: the caller resolves the name.

``allow_private_destinations`` (``EMAIL_ALLOW_PRIVATE_DESTINATIONS``: ``make dev`` and the tests, never AWS) lets
everything through; ``private_networks`` (``EMAIL_ALLOWED_PRIVATE_CIDRS``) are the operator's own mail servers.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

IMAP_PORTS = (993, 143)  # IMAP over TLS, IMAP with STARTTLS
HTTPS_PORTS = (443,)


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ip_network(cidr) for cidr in cidrs)


# What a tenant may never reach, by kind (the first that contains an address names it, in the logs).
_NOT_PUBLIC: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    ("unspecified", _networks("0.0.0.0/8", "::/128")),
    ("loopback", _networks("127.0.0.0/8", "::1/128")),
    ("link-local", _networks("169.254.0.0/16", "fe80::/10")),
    ("private", _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    ("shared (carrier-grade NAT)", _networks("100.64.0.0/10")),
    ("unique-local", _networks("fc00::/7", "fec0::/10")),
    ("multicast", _networks("224.0.0.0/4", "ff00::/8")),
    (
        "reserved",
        _networks(
            "192.0.0.0/24",  # IETF protocol assignments
            "192.0.2.0/24",  # documentation
            "192.88.99.0/24",  # 6to4 relay anycast
            "198.18.0.0/15",  # benchmarking
            "198.51.100.0/24",  # documentation
            "203.0.113.0/24",  # documentation
            "240.0.0.0/4",  # reserved, and the broadcast address
            "::/96",  # IPv4-compatible (deprecated)
            "64:ff9b:1::/48",  # local-use NAT64
            "100::/64",  # discard
            "2001::/23",  # IETF protocol assignments (Teredo among them)
            "2001:db8::/32",  # documentation
        ),
    ),
)
# Global unicast: the only IPv6 addresses a tenant may reach (besides the IPv4 inside NAT64).
_GLOBAL_UNICAST_V6 = ip_network("2000::/3")
_MAPPED = ip_network("::ffff:0:0/96")
_NAT64 = ip_network("64:ff9b::/96")
# Never opened up by an operator's list either: the function's own host and the metadata services.
_NEVER = _networks("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "::/128", "::1/128", "fe80::/10")
_NEVER += _networks("ff00::/8", "fd00:ec2::/32")  # fd00:ec2::254: the EC2 metadata service over IPv6


class DestinationRefused(Exception):
    """The policy does not let the service connect there; the message (for the logs) says why."""


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4."""
    if address in _MAPPED or address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def effective_address(address: IPAddress) -> IPAddress:
    """The address a connection to ``address`` reaches in the end (the IPv4 one inside some IPv6 forms)."""
    if isinstance(address, IPv6Address):
        return _embedded_ipv4(address) or address
    return address


def non_public_kind(address: IPAddress) -> str | None:
    """What kind of address it is when it is not globally routable (``loopback``, ``private``...); None if it is."""
    reached = effective_address(address)
    for kind, networks in _NOT_PUBLIC:
        if any(reached in network for network in networks):
            return kind
    if isinstance(reached, IPv6Address) and reached not in _GLOBAL_UNICAST_V6:
        return "reserved"
    return None


def private_networks(text: str) -> tuple[IPNetwork, ...]:
    """An operator's comma-separated CIDRs (``10.20.0.0/16,fd12:3456::/48``); ``ValueError`` naming a bad one, or
    one that would open up the function's own host or a metadata service (loopback, link-local, unspecified,
    multicast)."""
    found: list[IPNetwork] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            network = ip_network(item)
        except ValueError as exc:
            raise ValueError(f"{item!r} is not a CIDR block (e.g. 10.20.0.0/16): {exc}") from None
        if any(network.overlaps(never) for never in _NEVER):  # False across IP versions
            raise ValueError(f"{item!r} includes loopback, link-local, unspecified or multicast addresses")
        found.append(network)
    return tuple(found)


@dataclass(frozen=True)
class OutboundPolicy:
    """Which destinations a tenant may make the service connect to."""

    # Development and tests only: any address, any port, and http token endpoints on loopback.
    allow_private_destinations: bool = False
    # The operator's own mail servers in private address space, reachable on the standard ports.
    private_networks: tuple[IPNetwork, ...] = ()

    def imap_port_problem(self, port: int) -> str | None:
        if self.allow_private_destinations or port in IMAP_PORTS:
            return None
        return "must be 993 (IMAP over TLS, use_ssl true) or 143 (STARTTLS, use_ssl false): the standard IMAP ports"

    def token_url_problem(self, url: str) -> str | None:
        """Why the service would not send an OAuth client's secrets to ``url`` (its syntax is the parameters')."""
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            return "has an invalid port"
        if parts.username is not None or parts.password is not None:
            return "must not hold a user name or password"
        if self.allow_private_destinations:
            return None
        if parts.scheme != "https":
            return "must be an https:// URL: the client's secrets travel to it"
        if port not in (None, *HTTPS_PORTS):
            return "must use https's standard port 443"
        return None

    def address_problem(self, address: IPAddress) -> str | None:
        kind = non_public_kind(address)
        if kind is None or self.allow_private_destinations:
            return None
        reached = effective_address(address)
        if any(reached in network for network in self.private_networks):
            return None
        return f"{address} is a {kind} address"

    def checked(self, host: str, port: int, ports: Collection[int], addresses: Sequence[IPAddress]) -> list[IPAddress]:
        """The addresses of ``host`` to connect to, once every one of them passed; ``DestinationRefused`` if one did
        not (a name with one private address among public ones is refused: which one a connection uses is luck)."""
        if not self.allow_private_destinations and port not in ports:
            raise DestinationRefused(f"port {port} is not one of {', '.join(map(str, ports))}")
        if not addresses:
            raise DestinationRefused(f"{host!r} has no address")
        for address in addresses:
            if (problem := self.address_problem(address)) is not None:
                raise DestinationRefused(f"{host!r} resolves to {problem}")
        return list(dict.fromkeys(addresses))


# What the operator configures (the service-wide mailbox) goes wherever they say: it is not a tenant's choice.
UNRESTRICTED = OutboundPolicy(allow_private_destinations=True)
