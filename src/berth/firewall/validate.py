"""Checks on firewall intents, shared by every ``Firewall`` implementation.

The nftables renderer must never produce a script nft could misparse, and the recording fake must
refuse exactly what the real backend refuses, so both call these before doing anything. Each check
raises an ``InvalidParameter`` subclass naming the offending value; none touches the kernel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from itertools import pairwise
from typing import TypeVar

from berth.firewall.api import EndpointIntent, LinkIntent, NetworkIntent, PortIntent
from berth.model.errors import (
    InvalidAddress,
    InvalidName,
    InvalidParameter,
    InvalidPortSpec,
    InvalidSubnet,
)
from berth.model.ids import validate_ifname

PROTOCOLS = ("tcp", "udp", "sctp")

# Stricter than the kernel's rule (validate_ifname): the name is rendered inside an nft quoted
# string, which cannot hold '"', and where a trailing '*' would turn it into a wildcard.
_NFT_IFNAME = re.compile(r"^[A-Za-z0-9_.@+-]+$")
# nft identifiers (table names): a letter, then letters, digits, '_' or '-'.
_NFT_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")

PortKey = tuple[str, IPv4Address | IPv6Address, int]
_Net = TypeVar("_Net", IPv4Network, IPv6Network)


def check_table(name: str) -> str:
    if not _NFT_IDENT.match(name):
        raise InvalidName("nftables table", name, "must be a letter then [A-Za-z0-9_-], max 64")
    return name


def check_ifname(name: str) -> str:
    validate_ifname(name)
    if not _NFT_IFNAME.match(name):
        raise InvalidName("interface", name, "berth's firewall allows only [A-Za-z0-9_.@+-]")
    return name


def check_network(net: NetworkIntent) -> NetworkIntent:
    """Types and families of one network intent (dataclasses do not enforce annotations)."""
    check_ifname(net.bridge)
    _check_subnets(net.subnets4, IPv4Network, net.bridge)
    _check_subnets(net.subnets6, IPv6Network, net.bridge)
    if net.snat4 is not None and type(net.snat4) is not IPv4Address:
        raise InvalidAddress(str(net.snat4), f"SNAT source of {net.bridge} must be IPv4")
    if net.snat6 is not None and type(net.snat6) is not IPv6Address:
        raise InvalidAddress(str(net.snat6), f"SNAT source of {net.bridge} must be IPv6")
    for snat in (net.snat4, net.snat6):
        if snat is not None and (snat.is_unspecified or snat.is_multicast):
            raise InvalidAddress(str(snat), f"SNAT source of {net.bridge} must be unicast")
    for flag in ("icc", "masquerade", "internal"):
        if not isinstance(getattr(net, flag), bool):
            raise InvalidParameter(f"network {net.bridge}: {flag} must be a bool")
    return net


def check_networks(nets: Sequence[NetworkIntent]) -> None:
    """Each network, plus what must hold across them: one intent per bridge, no subnet overlap
    (the masquerade and SNAT sets are interval sets, where nft refuses overlaps)."""
    bridges: set[str] = set()
    for net in nets:
        check_network(net)
        if net.bridge in bridges:
            raise InvalidName("interface", net.bridge, "given for more than one network")
        bridges.add(net.bridge)
    _check_overlaps([(s, n.bridge) for n in nets for s in n.subnets4])
    _check_overlaps([(s, n.bridge) for n in nets for s in n.subnets6])


def check_port(port: PortIntent) -> PortIntent:
    spec = (
        f"{port.host_ip}:{port.host_port}->{port.container_ip}:{port.container_port}/{port.proto}"
    )
    if port.proto not in PROTOCOLS:
        raise InvalidPortSpec(spec, f"protocol must be one of {', '.join(PROTOCOLS)}")
    for value in (port.host_port, port.container_port):
        if type(value) is not int or not 1 <= value <= 65535:
            raise InvalidPortSpec(spec, "ports must be integers from 1 to 65535")
    host, ctr = port.host_ip, port.container_ip
    if type(host) not in (IPv4Address, IPv6Address) or type(ctr) is not type(host):
        raise InvalidPortSpec(spec, "host and container addresses must be of one family")
    if ctr.is_unspecified or ctr.is_multicast or ctr.is_loopback:
        raise InvalidPortSpec(spec, "container address must be a unicast, non-loopback address")
    if host.is_multicast or (isinstance(host, IPv6Address) and host.ipv4_mapped is not None):
        raise InvalidPortSpec(spec, "host address must be unicast (no IPv4-mapped IPv6)")
    if isinstance(host, IPv6Address) and host.is_loopback:
        # IPv6 has no route_localnet: a DNATed packet from ::1 never gets its reply back.
        raise InvalidPortSpec(spec, "::1 cannot be published without a userland proxy")
    return port


def port_key(port: PortIntent) -> PortKey:
    """What a binding is looked up by: two bindings with one key cannot coexist."""
    return (port.proto, port.host_ip, port.host_port)


def check_ports(ports: Iterable[PortIntent]) -> list[PortIntent]:
    """Each binding; returns them de-duplicated. Two targets for one key is an error."""
    seen: dict[PortKey, PortIntent] = {}
    for port in ports:
        check_port(port)
        other = seen.setdefault(port_key(port), port)
        if other != port:
            raise InvalidPortSpec(
                f"{port.host_ip}:{port.host_port}/{port.proto}",
                f"bound to both {other.container_ip}:{other.container_port} "
                f"and {port.container_ip}:{port.container_port}",
            )
    return list(seen.values())


def check_endpoint(endpoint: EndpointIntent) -> EndpointIntent:
    check_ifname(endpoint.port)
    if endpoint.bridge:
        check_ifname(endpoint.bridge)
    return endpoint


def check_link(link: LinkIntent) -> LinkIntent:
    spec = f"{link.parent}->{link.child}:{link.port}/{link.proto}"
    if link.proto not in PROTOCOLS:
        raise InvalidPortSpec(spec, f"protocol must be one of {', '.join(PROTOCOLS)}")
    if type(link.port) is not int or not 1 <= link.port <= 65535:
        raise InvalidPortSpec(spec, "ports must be integers from 1 to 65535")
    for address in (link.parent, link.child):
        if type(address) is not IPv4Address:
            raise InvalidAddress(str(address), f"link {spec}: links are between IPv4 addresses")
        if address.is_unspecified or address.is_multicast or address.is_loopback:
            raise InvalidAddress(str(address), f"link {spec}: must be a unicast address")
    if link.parent == link.child:
        raise InvalidAddress(str(link.parent), f"link {spec}: a container links to another one")
    return link


def check_links(links: Iterable[LinkIntent]) -> list[LinkIntent]:
    """Each link; returns them de-duplicated (the same pair and port opened twice is one)."""
    return list(dict.fromkeys(check_link(link) for link in links))


def _check_subnets(subnets: object, kind: type, bridge: str) -> None:
    if not isinstance(subnets, tuple) or any(type(s) is not kind for s in subnets):
        raise InvalidSubnet(str(subnets), f"{bridge}: expected a tuple of {kind.__name__}")


def _check_overlaps(subnets: list[tuple[_Net, str]]) -> None:
    ordered = sorted(subnets, key=lambda item: (item[0].network_address, item[0].prefixlen))
    for (low, low_br), (high, high_br) in pairwise(ordered):
        if high.network_address <= low.broadcast_address:
            raise InvalidSubnet(str(high), f"{high_br} overlaps {low} of {low_br}")
