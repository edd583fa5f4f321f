"""Connections to the destinations a tenant names, under the outbound policy (domain/outbound.py).

The host name is resolved once per connection, every address is checked, and the socket is opened to one of those
addresses, never to the name again: a name whose DNS answer changes between the check and the connect (DNS
rebinding) cannot lead the connection anywhere unchecked. TLS is then negotiated with the host name (SNI and the
certificate's name), by the caller.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import ip_address

from workflow_scheduler.domain.outbound import UNRESTRICTED, DestinationRefused, IPAddress, OutboundPolicy

# (host, port) -> the host's addresses; socket.gaierror when it has none.
Resolver = Callable[[str, int], Sequence[IPAddress]]
# ((address, port), timeout) -> a connected socket (socket.create_connection).
SocketOpener = Callable[[tuple[str, int], float | None], socket.socket]


def resolve(host: str, port: int) -> list[IPAddress]:
    """The system resolver's TCP addresses of ``host``, in its order. A numeric host in any form inet_aton takes
    (``127.1``, ``0x7f.1``, ``2130706433``) comes back as the address it means."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # An IPv6 link-local address carries its interface (fe80::1%eth0): the address is what is checked.
    return [ip_address(str(info[4][0]).partition("%")[0]) for info in found]


def _open_socket(address: tuple[str, int], timeout: float | None) -> socket.socket:
    return socket.create_connection(address, timeout)


@dataclass(frozen=True)
class Destinations:
    """Opens connections where ``policy`` allows. Every failure before a connection stands is an ``OSError`` or
    ``DestinationRefused``; callers answer all of them alike, so that nobody learns which one it was."""

    policy: OutboundPolicy = field(default_factory=OutboundPolicy)
    resolver: Resolver = resolve
    open_socket: SocketOpener = _open_socket

    def unrestricted(self) -> Destinations:
        """The same connections without the policy: for what the operator configured (the service mailbox)."""
        return replace(self, policy=UNRESTRICTED)

    def connect(self, host: str, port: int, ports: Collection[int], timeout: float | None) -> socket.socket:
        """A socket connected to an allowed address of ``host`` (each tried in turn, as the system's resolver
        ordered them); ``ports``: what the protocol allows."""
        try:
            addresses = self.resolver(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise DestinationRefused(f"{host!r} cannot be resolved: {exc}") from None
        failures: list[OSError] = []
        for address in self.policy.checked(host, port, ports, addresses):  # at least one
            try:
                return self.open_socket((str(address), port), timeout)
            except OSError as exc:
                failures.append(exc)
        raise failures[-1]


PUBLIC_ONLY = Destinations()
