"""The intent-level firewall interface the bridge driver talks to.

Drivers say *what* they need ("this network exists with these properties", "publish these
ports", "this bridge port belongs to a network with ICC off", "open this legacy link"), never
which rule goes in which chain. Implementations: ``NftFirewall`` (nftables, in
``berth.firewall.nftables``) and ``RecordingFirewall`` (remembers intents, for unit tests).

Contract for every method: one atomic change; on failure nothing was applied and KernelError is
raised. ``remove_*`` / ``unpublish_*`` tolerate objects that are already gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Literal, Protocol

Proto = Literal["tcp", "udp", "sctp"]
IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True, order=True)
class NetworkIntent:
    """What the firewall must know about one bridge network."""

    bridge: str
    subnets4: tuple[IPv4Network, ...] = ()
    subnets6: tuple[IPv6Network, ...] = ()
    icc: bool = True  # endpoints of this network may talk to each other
    masquerade: bool = True  # SNAT traffic leaving the host through non-berth interfaces
    internal: bool = False  # no traffic to or from outside the network at all
    snat4: IPv4Address | None = None  # fixed SNAT source (host_ipv4 option) instead of masquerade
    snat6: IPv6Address | None = None


@dataclass(frozen=True, order=True)
class PortIntent:
    """Traffic to host_ip:host_port/proto is DNATed to container_ip:container_port.

    host_ip 0.0.0.0 / :: means every local address of that family, 127.0.0.1 and ::1 included.
    host_ip and container_ip are of the same family.
    """

    proto: Proto
    host_ip: IPAddress
    host_port: int
    container_ip: IPAddress
    container_port: int
    bridge: str = field(default="", compare=False)


@dataclass(frozen=True, order=True)
class EndpointIntent:
    """``port`` (the host end of an endpoint's veth) is a port of a bridge whose network has ICC
    off: frames between two such ports pass only for address resolution and open links. Only
    endpoints of ICC-off networks are announced."""

    port: str
    bridge: str = field(default="", compare=False)


@dataclass(frozen=True, order=True)
class LinkIntent:
    """A legacy link on a network with ICC off (Docker's pair of ACCEPT rules): ``parent`` may
    send to ``child``'s ``port``/``proto``, and ``child`` may send from that port to ``parent``
    (stateless, like Docker's rules: the replies, and unsolicited packets from that port).
    IPv4 only, like Docker's links."""

    proto: Proto
    parent: IPv4Address
    child: IPv4Address
    port: int
    bridge: str = field(default="", compare=False)


class Firewall(Protocol):
    def ensure(self) -> None:
        """Create berth's tables, chains and sets if missing (idempotent). Never flushes or
        replaces the user chain, whose rules are evaluated before berth's own."""

    def add_network(self, net: NetworkIntent) -> None:
        """Undone by ``remove_network``."""

    def remove_network(self, net: NetworkIntent) -> None: ...

    def publish_ports(self, ports: Sequence[PortIntent]) -> None:
        """Add every binding in one transaction. Undone by ``unpublish_ports``."""

    def unpublish_ports(self, ports: Sequence[PortIntent]) -> None: ...

    def add_endpoint(self, endpoint: EndpointIntent) -> None:
        """Called before the port joins its bridge, so it is never unfiltered. Undone by
        ``remove_endpoint`` (after the port left the bridge)."""

    def remove_endpoint(self, endpoint: EndpointIntent) -> None: ...

    def open_links(self, links: Sequence[LinkIntent]) -> None:
        """Add every link in one transaction. Undone by ``close_links``."""

    def close_links(self, links: Sequence[LinkIntent]) -> None: ...

    def reload(
        self,
        networks: Sequence[NetworkIntent],
        ports: Sequence[PortIntent],
        endpoints: Sequence[EndpointIntent] = (),
        links: Sequence[LinkIntent] = (),
    ) -> None:
        """Rebuild berth's state (every set, map and base chain) atomically from these intents,
        keeping the user chain and its rules."""
