"""Renders firewall intents as nft scripts (text syntax) for berth's own ``inet`` table.

Pure: no I/O, no kernel. Every function validates its input (``berth.firewall.validate``) first
and returns one script, which nft runs as one atomic transaction. The output is deterministic
(sorted) so the golden files under tests/unit/golden/ stay stable.

Layout: the rules are fixed and written only by ``render_ensure``. Networks and published ports
are only ever *elements* of the sets and maps below, so the rule count (and the per-packet cost)
stays the same whatever the number of networks or ports. berth never touches another table, and
never flushes or deletes the ``user`` chain, which the forward chain jumps to first (Docker's
DOCKER-USER).

Removals must tolerate elements that are already gone, inside one atomic script, and nft 1.0.6
has no ``destroy element``. So each removed element is first added (a no-op when present) and then
deleted.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from berth.firewall.api import NetworkIntent, PortIntent
from berth.firewall.validate import check_networks, check_ports, check_table

DEFAULT_TABLE = "berth"
USER_CHAIN = "user"


@dataclass(frozen=True)
class NftSet:
    kind: str  # "set" or "map"
    name: str
    spec: str


@dataclass(frozen=True)
class Chain:
    name: str
    hook: str | None  # the base-chain declaration; None for a regular chain
    rules: tuple[str, ...]
    why: str  # rendered as a comment above the chain's rules


SETS = (
    NftSet("set", "bridges", "type ifname;"),  # every berth bridge
    NftSet("set", "intra", "type ifname . ifname;"),  # "br" . "br" for each network with ICC
    NftSet("set", "internal", "type ifname;"),
    NftSet("set", "subnets4", "type ipv4_addr; flags interval;"),  # of every network
    NftSet("set", "subnets6", "type ipv6_addr; flags interval;"),
    NftSet("set", "masq4", "type ipv4_addr; flags interval;"),
    NftSet("set", "masq6", "type ipv6_addr; flags interval;"),
    NftSet("map", "snat4", "type ipv4_addr : ipv4_addr; flags interval;"),
    NftSet("map", "snat6", "type ipv6_addr : ipv6_addr; flags interval;"),
    NftSet("map", "pub4", "type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;"),
    NftSet("map", "pub4any", "type inet_proto . inet_service : ipv4_addr . inet_service;"),
    NftSet("map", "pub6", "type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service;"),
    NftSet("map", "pub6any", "type inet_proto . inet_service : ipv6_addr . inet_service;"),
)
_SET_INDEX = {s.name: i for i, s in enumerate(SETS)}

_L4 = "meta l4proto { tcp, udp, sctp }"

# Regular chains come first, so every jump target exists before a rule names it.
CHAINS = (
    Chain(
        "into_bridge",
        None,
        ("ct state established,related accept", "ct status dnat accept", "drop"),
        "entering a bridge from elsewhere: replies and published ports only",
    ),
    Chain(
        "published",
        None,
        (
            "dnat ip to ip daddr . meta l4proto . th dport map @pub4",
            "meta nfproto ipv4 dnat ip to meta l4proto . th dport map @pub4any",
            "dnat ip6 to ip6 daddr . meta l4proto . th dport map @pub6",
            "meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @pub6any",
        ),
        "published ports: a binding to a specific host address wins over the wildcard",
    ),
    Chain(
        "forward",
        "type filter hook forward priority filter; policy accept;",
        (
            f"jump {USER_CHAIN}",
            "iifname . oifname @intra accept",
            "iifname @internal drop",
            "oifname @internal drop",
            "oifname @bridges jump into_bridge",
        ),
        "the user chain decides first; then ICC, internal networks, isolation",
    ),
    Chain(
        "raw_prerouting",
        "type filter hook prerouting priority raw; policy accept;",
        ("ip daddr 127.0.0.0/8 iifname @bridges drop",),
        "route_localnet=1 on bridges must not open the host's loopback to containers; raw runs"
        " before NAT, so replies to localhost-to-container connections still pass",
    ),
    Chain(
        "nat_prerouting",
        "type nat hook prerouting priority dstnat; policy accept;",
        ("ip daddr 127.0.0.0/8 return", f"fib daddr type local {_L4} jump published"),
        "a loopback destination arriving from elsewhere is never translated (moby#45610)",
    ),
    Chain(
        # nft 1.0.6 accepts the keyword 'dstnat' on the prerouting hook only; -100 is its value.
        "nat_output",
        "type nat hook output priority -100; policy accept;",
        ("ip6 daddr ::1 return", f"fib daddr type local {_L4} jump published"),
        "the host's own connections, to 127.0.0.1 too; never ::1 (IPv6 has no route_localnet,"
        " a reply could not come back), so such a connection fails at once",
    ),
    Chain(
        "nat_postrouting",
        "type nat hook postrouting priority srcnat; policy accept;",
        (
            "oifname @bridges ct status dnat ip saddr @subnets4 masquerade",
            "oifname @bridges ct status dnat ip6 saddr @subnets6 masquerade",
            "oifname @bridges ip saddr 127.0.0.0/8 masquerade",
            "oifname != @bridges snat ip to ip saddr map @snat4",
            "oifname != @bridges ip saddr @masq4 masquerade",
            "oifname != @bridges snat ip6 to ip6 saddr map @snat6",
            "oifname != @bridges ip6 saddr @masq6 masquerade",
        ),
        "container to a published port (hairpin, other network), localhost to container,"
        " leaving the host",
    ),
)


@dataclass(frozen=True, order=True)
class Element:
    """One element of a berth set or map as nft text; sorts by set, then numerically."""

    set_index: int
    sort_key: tuple[int | str, ...]
    set: str
    key: str
    value: str | None = None

    @property
    def text(self) -> str:
        return self.key if self.value is None else f"{self.key} : {self.value}"


def render_ensure(table: str = DEFAULT_TABLE) -> str:
    """Create the table, sets, maps and chains if missing, and rewrite the rules of berth's own
    chains. The user chain is only ever added (a no-op when it exists), never flushed."""
    return "".join(_ensure_lines(check_table(table)))


def render_add_network(net: NetworkIntent, table: str = DEFAULT_TABLE) -> str:
    check_networks([net])
    return _add(check_table(table), network_elements(net))


def render_remove_network(net: NetworkIntent, table: str = DEFAULT_TABLE) -> str:
    """Removes everything the network could own, whatever its flags were when it was added."""
    check_networks([net])
    return _remove(check_table(table), owned_elements(net))


def render_publish(ports: Sequence[PortIntent], table: str = DEFAULT_TABLE) -> str:
    return _add(check_table(table), port_elements(check_ports(ports)))


def render_unpublish(ports: Sequence[PortIntent], table: str = DEFAULT_TABLE) -> str:
    return _remove(check_table(table), port_elements(check_ports(ports)))


def render_reload(
    networks: Sequence[NetworkIntent], ports: Sequence[PortIntent], table: str = DEFAULT_TABLE
) -> str:
    """``render_ensure``, then empty every berth set and map and refill it, in one transaction:
    no packet ever sees a half-built state, and the user chain keeps its rules."""
    check_table(table)
    check_networks(networks)
    elements = [e for net in networks for e in network_elements(net)]
    elements += port_elements(check_ports(ports))
    flushes = "".join(f"flush {s.kind} inet {table} {s.name}\n" for s in SETS)
    return "".join(_ensure_lines(table)) + flushes + _add(table, elements)


def network_elements(net: NetworkIntent) -> list[Element]:
    """The elements ``add_network`` puts in place for this intent."""
    elements = [_ifname("bridges", net.bridge), *_subnets(net)]
    if net.icc:
        elements.append(_intra(net.bridge))
    if net.internal:
        elements.append(_ifname("internal", net.bridge))
    elif net.masquerade:
        elements += _nat(net.subnets4, net.snat4, "4") + _nat(net.subnets6, net.snat6, "6")
    return sorted(elements)


def port_elements(ports: Iterable[PortIntent]) -> list[Element]:
    return sorted(_port(port) for port in ports)


def owned_elements(net: NetworkIntent) -> list[Element]:
    """Every element this network could own under any of its flags: what removal deletes."""
    elements = [_ifname("bridges", net.bridge), _intra(net.bridge), *_subnets(net)]
    elements += [_ifname("internal", net.bridge)]
    elements += _nat(net.subnets4, None, "4") + _nat(net.subnets6, None, "6")
    if net.snat4 is not None:
        elements += _nat(net.subnets4, net.snat4, "4")
    if net.snat6 is not None:
        elements += _nat(net.subnets6, net.snat6, "6")
    return sorted(elements)


def _element(
    set_name: str, sort_key: tuple[int | str, ...], key: str, value: str | None = None
) -> Element:
    return Element(_SET_INDEX[set_name], sort_key, set_name, key, value)


def _ifname(set_name: str, name: str) -> Element:
    return _element(set_name, (name,), _q(name))


def _intra(bridge: str) -> Element:
    return _element("intra", (bridge,), f"{_q(bridge)} . {_q(bridge)}")


def _subnets(net: NetworkIntent) -> list[Element]:
    subnets: tuple[IPv4Network | IPv6Network, ...] = (*net.subnets4, *net.subnets6)
    return [_element(f"subnets{s.version}", _net_order(s), str(s)) for s in subnets]


def _nat(
    subnets: Iterable[IPv4Network | IPv6Network],
    snat: IPv4Address | IPv6Address | None,
    family: str,
) -> list[Element]:
    if snat is None:
        return [_element(f"masq{family}", _net_order(s), str(s)) for s in subnets]
    return [_element(f"snat{family}", _net_order(s), str(s), str(snat)) for s in subnets]


def _port(port: PortIntent) -> Element:
    family = port.host_ip.version
    value = f"{port.container_ip} . {port.container_port}"
    order = (port.proto, int(port.host_ip), port.host_port)
    if port.host_ip.is_unspecified:
        return _element(f"pub{family}any", order, f"{port.proto} . {port.host_port}", value)
    key = f"{port.host_ip} . {port.proto} . {port.host_port}"
    return _element(f"pub{family}", order, key, value)


def _net_order(subnet: IPv4Network | IPv6Network) -> tuple[int, int]:
    return (int(subnet.network_address), subnet.prefixlen)


def _ensure_lines(table: str) -> Iterator[str]:
    yield f"add table inet {table}\n"
    for s in SETS:
        yield f"add {s.kind} inet {table} {s.name} {{ {s.spec} }}\n"
    yield f"add chain inet {table} {USER_CHAIN}\n"
    for chain in CHAINS:
        yield f"add chain inet {table} {chain.name}"
        yield f" {{ {chain.hook} }}\n" if chain.hook else "\n"
    for chain in CHAINS:
        yield from (f"# {line}\n" for line in textwrap.wrap(f"{chain.name}: {chain.why}", 98))
        yield f"flush chain inet {table} {chain.name}\n"
        for rule in chain.rules:
            yield f"add rule inet {table} {chain.name} {rule}\n"


def _add(table: str, elements: Sequence[Element]) -> str:
    return "".join(
        _element_cmd("add", table, name, [e.text for e in group])
        for name, group in _by_set(elements)
    )


def _remove(table: str, elements: Sequence[Element]) -> str:
    lines = []
    for name, group in _by_set(elements):
        lines.append(_element_cmd("add", table, name, [e.text for e in group]))
        lines.append(_element_cmd("delete", table, name, [e.key for e in group]))
    return "".join(lines)


def _by_set(elements: Sequence[Element]) -> list[tuple[str, list[Element]]]:
    groups: dict[str, list[Element]] = {}
    for element in sorted(set(elements)):
        groups.setdefault(element.set, []).append(element)
    return list(groups.items())


def _element_cmd(verb: str, table: str, set_name: str, items: Sequence[str]) -> str:
    head = f"{verb} element inet {table} {set_name}"
    if len(items) == 1:
        return f"{head} {{ {items[0]} }}\n"
    body = ",\n".join(f"\t{item}" for item in items)
    return f"{head} {{\n{body}\n}}\n"


def _q(name: str) -> str:
    """An interface name as an nft quoted string (validated: it holds no quote)."""
    return f'"{name}"'
