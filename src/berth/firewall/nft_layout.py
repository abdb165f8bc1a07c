"""berth's nftables layout: the sets, maps and chains of its two tables, and their fixed rules.

Two tables of one name: ``inet <table>`` (NAT, published ports, forwarding between networks)
and ``bridge <table>``, for what the inet table cannot see. Frames forwarded between two ports of
one bridge reach the inet forward hook only when br_netfilter is loaded with
``bridge-nf-call-iptables=1`` (per network namespace); the bridge family sees them always. So ICC
off is enforced in the bridge table, on the ports of ICC-off networks, and the open legacy links
are accepted in both tables (the inet one drops such traffic in ``into_bridge`` when
br_netfilter shows it there). The kernels berth runs on may have no conntrack in the bridge
family, so the bridge rules are stateless: Docker's pair of link rules, both directions.

Rules are written only by ``render_ensure``; networks, ports, endpoints and links are only ever
*elements* of the sets and maps below, so the rule count stays the same whatever their number.
"""

from __future__ import annotations

from dataclasses import dataclass

INET = "inet"
BRIDGE = "bridge"
USER_CHAIN = "user"  # inet only: Docker's DOCKER-USER, never flushed by berth

_LINKS4 = "type ipv4_addr . ipv4_addr . inet_proto . inet_service;"  # parent . child . proto . port


@dataclass(frozen=True)
class NftSet:
    kind: str  # "set" or "map"
    name: str
    spec: str
    family: str = INET


@dataclass(frozen=True)
class Chain:
    name: str
    hook: str | None  # the base-chain declaration; None for a regular chain
    rules: tuple[str, ...]
    why: str  # rendered as a comment above the chain's rules
    family: str = INET


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
    NftSet("set", "noicc", "type ifname . ifname;"),  # "br" . "br" for each network without ICC
    NftSet("set", "links4", _LINKS4),
    NftSet("set", "noicc_ports", "type ifname;", BRIDGE),  # ports of networks without ICC
    NftSet("set", "hairpin", "type ifname . ifname;", BRIDGE),  # "port" . "port" of those
    NftSet("set", "links4", _LINKS4, BRIDGE),
)

_L4 = "meta l4proto { tcp, udp, sctp }"
_LINK_RULES = (
    "ip saddr . ip daddr . meta l4proto . th dport @links4 accept",
    "ip daddr . ip saddr . meta l4proto . th sport @links4 accept",
)

# Regular chains come first in each family, so every jump target exists before a rule names it.
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
        "links",
        None,
        _LINK_RULES,
        "legacy links inside a network with ICC off: to the linked container's exposed ports,"
        " and from those ports back (Docker's pair of rules)",
    ),
    Chain(
        "forward",
        "type filter hook forward priority filter; policy accept;",
        (
            f"jump {USER_CHAIN}",
            "iifname . oifname @intra accept",
            "iifname . oifname @noicc jump links",
            "iifname @internal drop",
            "oifname @internal drop",
            "oifname @bridges jump into_bridge",
        ),
        "the user chain decides first; then ICC, links, internal networks, isolation",
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
    Chain(
        "noicc",
        None,
        (
            # a container's own traffic sent back to it (its published port, DNATed at the
            # bridge by br_netfilter) is its own business
            "iifname . oifname @hairpin accept",
            "ether type arp accept",
            *_LINK_RULES,
            # Non-first fragments carry no ports; the first one, which does, passes only for a
            # link, and without it the receiver never reassembles the rest.
            "ip frag-off & 0x1fff != 0 accept",
            "drop",
        ),
        "between two ports of networks with ICC off: address resolution and open links only",
        BRIDGE,
    ),
    Chain(
        "forward",
        "type filter hook forward priority filter; policy accept;",
        ("iifname @noicc_ports oifname @noicc_ports jump noicc",),
        "frames a bridge forwards from one port to another: one lookup for other networks' ports",
        BRIDGE,
    ),
)
