"""Renders firewall intents as nft scripts (text syntax) for berth's own tables.

Pure: no I/O, no kernel. Every function validates its input (``berth.firewall.validate``) first
and returns one script, which nft runs as one atomic transaction. The output is deterministic
(sorted) so the golden files under tests/unit/golden/ stay stable.

Layout (``berth.firewall.nft_layout``): the rules are fixed and written only by
``render_ensure``. Networks, published ports, ICC-off endpoints and links are only ever *elements*
of sets and maps, so the rule count (and the per-packet cost) stays the same whatever their
number. berth never touches another table, and never flushes or deletes the ``user`` chain, which
the inet forward chain jumps to first (Docker's DOCKER-USER).

Removals must tolerate elements that are already gone, inside one atomic script, and nft 1.0.6
has no ``destroy element``. So each removed element is first added (a no-op when present) and then
deleted.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from berth.firewall.api import EndpointIntent, LinkIntent, NetworkIntent, PortIntent
from berth.firewall.nft_layout import BRIDGE, CHAINS, INET, SETS, USER_CHAIN
from berth.firewall.validate import (
    check_endpoint,
    check_links,
    check_networks,
    check_ports,
    check_table,
)

DEFAULT_TABLE = "berth"
FAMILIES = (INET, BRIDGE)
_SET_INDEX = {(s.family, s.name): i for i, s in enumerate(SETS)}


@dataclass(frozen=True, order=True)
class Element:
    """One element of a berth set or map as nft text; sorts by set, then numerically."""

    set_index: int
    sort_key: tuple[int | str, ...]
    family: str
    set: str
    key: str
    value: str | None = None

    @property
    def text(self) -> str:
        return self.key if self.value is None else f"{self.key} : {self.value}"


def render_ensure(table: str = DEFAULT_TABLE) -> str:
    """Create the tables, sets, maps and chains if missing, and rewrite the rules of berth's own
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


def render_add_endpoint(endpoint: EndpointIntent, table: str = DEFAULT_TABLE) -> str:
    return _add(check_table(table), endpoint_elements(check_endpoint(endpoint)))


def render_remove_endpoint(endpoint: EndpointIntent, table: str = DEFAULT_TABLE) -> str:
    return _remove(check_table(table), endpoint_elements(check_endpoint(endpoint)))


def render_open_links(links: Sequence[LinkIntent], table: str = DEFAULT_TABLE) -> str:
    return _add(check_table(table), link_elements(check_links(links)))


def render_close_links(links: Sequence[LinkIntent], table: str = DEFAULT_TABLE) -> str:
    return _remove(check_table(table), link_elements(check_links(links)))


def render_reload(
    networks: Sequence[NetworkIntent],
    ports: Sequence[PortIntent],
    table: str = DEFAULT_TABLE,
    *,
    endpoints: Sequence[EndpointIntent] = (),
    links: Sequence[LinkIntent] = (),
) -> str:
    """``render_ensure``, then empty every berth set and map and refill it, in one transaction:
    no packet ever sees a half-built state, and the user chain keeps its rules."""
    check_table(table)
    check_networks(networks)
    elements = [e for net in networks for e in network_elements(net)]
    elements += port_elements(check_ports(ports))
    elements += [e for ep in endpoints for e in endpoint_elements(check_endpoint(ep))]
    elements += link_elements(check_links(links))
    flushes = "".join(f"flush {s.kind} {s.family} {table} {s.name}\n" for s in SETS)
    return "".join(_ensure_lines(table)) + flushes + _add(table, elements)


def network_elements(net: NetworkIntent) -> list[Element]:
    """The elements ``add_network`` puts in place for this intent."""
    elements = [_ifname("bridges", net.bridge), *_subnets(net)]
    elements.append(_pair("intra" if net.icc else "noicc", net.bridge))
    if net.internal:
        elements.append(_ifname("internal", net.bridge))
    elif net.masquerade:
        elements += _nat(net.subnets4, net.snat4, "4") + _nat(net.subnets6, net.snat6, "6")
    return sorted(elements)


def port_elements(ports: Iterable[PortIntent]) -> list[Element]:
    return sorted(_port(port) for port in ports)


def endpoint_elements(endpoint: EndpointIntent) -> list[Element]:
    """A port of an ICC-off network: filtered against the other such ports, except towards
    itself (hairpin)."""
    return [
        _ifname("noicc_ports", endpoint.port, BRIDGE),
        _pair("hairpin", endpoint.port, BRIDGE),
    ]


def link_elements(links: Iterable[LinkIntent]) -> list[Element]:
    """Each link in both tables: the bridge one always filters these frames, the inet one only
    sees them with br_netfilter (bridge-nf-call-iptables=1)."""
    elements = []
    for link in links:
        key = f"{link.parent} . {link.child} . {link.proto} . {link.port}"
        order = (int(link.parent), int(link.child), link.proto, link.port)
        elements += [_element("links4", order, key, family=f) for f in FAMILIES]
    return sorted(elements)


def owned_elements(net: NetworkIntent) -> list[Element]:
    """Every element this network could own under any of its flags: what removal deletes."""
    elements = [_ifname("bridges", net.bridge), _pair("intra", net.bridge), *_subnets(net)]
    elements += [_pair("noicc", net.bridge), _ifname("internal", net.bridge)]
    elements += _nat(net.subnets4, None, "4") + _nat(net.subnets6, None, "6")
    if net.snat4 is not None:
        elements += _nat(net.subnets4, net.snat4, "4")
    if net.snat6 is not None:
        elements += _nat(net.subnets6, net.snat6, "6")
    return sorted(elements)


def _element(
    set_name: str,
    sort_key: tuple[int | str, ...],
    key: str,
    value: str | None = None,
    *,
    family: str = INET,
) -> Element:
    return Element(_SET_INDEX[family, set_name], sort_key, family, set_name, key, value)


def _ifname(set_name: str, name: str, family: str = INET) -> Element:
    return _element(set_name, (name,), _q(name), family=family)


def _pair(set_name: str, name: str, family: str = INET) -> Element:
    """``"name" . "name"``: the same interface on both sides (in and out)."""
    return _element(set_name, (name,), f"{_q(name)} . {_q(name)}", family=family)


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
    for family in FAMILIES:
        yield f"add table {family} {table}\n"
        for s in (s for s in SETS if s.family == family):
            yield f"add {s.kind} {family} {table} {s.name} {{ {s.spec} }}\n"
        if family == INET:
            yield f"add chain {family} {table} {USER_CHAIN}\n"
        for chain in (c for c in CHAINS if c.family == family):
            yield f"add chain {family} {table} {chain.name}"
            yield f" {{ {chain.hook} }}\n" if chain.hook else "\n"
    for chain in CHAINS:
        where = f"{chain.family} {table} {chain.name}"
        family = "" if chain.family == INET else f" ({chain.family})"
        why = f"{chain.name}{family}: {chain.why}"
        yield from (f"# {line}\n" for line in textwrap.wrap(why, 98))
        yield f"flush chain {where}\n"
        for rule in chain.rules:
            yield f"add rule {where} {rule}\n"


def _add(table: str, elements: Sequence[Element]) -> str:
    return "".join(
        _element_cmd("add", family, table, name, [e.text for e in group])
        for (family, name), group in _by_set(elements)
    )


def _remove(table: str, elements: Sequence[Element]) -> str:
    lines = []
    for (family, name), group in _by_set(elements):
        lines.append(_element_cmd("add", family, table, name, [e.text for e in group]))
        lines.append(_element_cmd("delete", family, table, name, [e.key for e in group]))
    return "".join(lines)


def _by_set(elements: Sequence[Element]) -> list[tuple[tuple[str, str], list[Element]]]:
    groups: dict[tuple[str, str], list[Element]] = {}
    for element in sorted(set(elements)):
        groups.setdefault((element.family, element.set), []).append(element)
    return list(groups.items())


def _element_cmd(verb: str, family: str, table: str, set_name: str, items: Sequence[str]) -> str:
    head = f"{verb} element {family} {table} {set_name}"
    if len(items) == 1:
        return f"{head} {{ {items[0]} }}\n"
    body = ",\n".join(f"\t{item}" for item in items)
    return f"{head} {{\n{body}\n}}\n"


def _q(name: str) -> str:
    """An interface name as an nft quoted string (validated: it holds no quote)."""
    return f'"{name}"'
