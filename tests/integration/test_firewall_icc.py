"""ICC off and legacy links in berth's nftables tables, proven with real traffic, with br_netfilter
showing bridged traffic to the inet hooks (net.bridge.bridge-nf-call-iptables=1) and without
(=0): the sysctl is per network namespace, so each test sets it in its own throwaway host.

The host namespace holds one bridge, ``brq`` (10.60.0.0/24, ICC off), with three sandboxes whose
ports are announced as endpoints of an ICC-off network, and an "outside" namespace on its
uplink (198.51.100.1 host side, 198.51.100.2 outside). Nothing touches the machine's own tables,
links or sysctls; everything goes with the namespaces, also when a test fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_address

import pytest

from berth.firewall.api import EndpointIntent, LinkIntent, NetworkIntent, PortIntent
from berth.firewall.nftables import NftFirewall
from berth.kernel.nftables import LibNftables
from tests.integration import netenv
from tests.integration.netenv import Ns, call, ping, serve

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, nftables)"),
]

TABLE = "berth"
HOST4, OUT4 = "198.51.100.1", "198.51.100.2"
NET = NetworkIntent("brq", (IPv4Network("10.60.0.0/24"),), icc=False)
Q1, Q2, Q3 = "10.60.0.2", "10.60.0.3", "10.60.0.4"
PORTS = {"q1": "vq1", "q2": "vq2", "q3": "vq3"}
NO = 1.0  # client timeout where no answer is the expected outcome


def link(parent: str, child: str, port: int, proto: str = "tcp") -> LinkIntent:
    return LinkIntent(proto, IPv4Address(parent), IPv4Address(child), port, "brq")  # type: ignore[arg-type]


@dataclass
class Lab:
    host: Ns
    out: Ns
    q1: Ns
    q2: Ns
    q3: Ns
    fw: NftFirewall
    br_netfilter: bool  # bridged IPv4 also goes through the inet hooks

    def endpoints(self) -> list[EndpointIntent]:
        return [EndpointIntent(port, "brq") for port in PORTS.values()]

    def elements(self, family: str, name: str) -> str:
        listing = self.host.run("nft", "list", "set", family, TABLE, name).stdout
        start = listing.find("elements = {")
        return " ".join(listing[start:].split("}")[0].split()[3:]) if start >= 0 else ""


def _sandbox(stack: ExitStack, host: Ns, port: str, address: str) -> Ns:
    sb = stack.enter_context(netenv.namespace("btq"))
    host.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", sb.path)
    host.ip("link", "set", port, "master", "brq", "up")
    host.run("bridge", "link", "set", "dev", port, "hairpin", "on")
    sb.ip("addr", "add", f"{address}/24", "dev", "eth0")
    sb.ip("link", "set", "eth0", "up")
    sb.ip("route", "add", "default", "via", "10.60.0.1")
    return sb


@pytest.fixture(params=["1", "0"], ids=["br_netfilter", "bridge_only"])
def lab(request: pytest.FixtureRequest, host: Ns, outside: Ns) -> Iterator[Lab]:
    with ExitStack() as stack:
        nft = LibNftables(host.path)
        stack.callback(nft.close)
        host.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        host.run("sysctl", "-qw", f"net.bridge.bridge-nf-call-iptables={request.param}")
        host.ip("link", "add", "brq", "type", "bridge")
        host.ip("addr", "add", "10.60.0.1/24", "dev", "brq")
        host.ip("link", "set", "brq", "up")
        host.run("sysctl", "-qw", "net.ipv4.conf.brq.route_localnet=1")
        fw = NftFirewall(nft, TABLE)
        fw.add_network(NET)
        for port in PORTS.values():  # announced before the ports join, as the driver does
            fw.add_endpoint(EndpointIntent(port, "brq"))
        lab = Lab(
            host=host,
            out=outside,
            q1=_sandbox(stack, host, "vq1", Q1),
            q2=_sandbox(stack, host, "vq2", Q2),
            q3=_sandbox(stack, host, "vq3", Q3),
            fw=fw,
            br_netfilter=request.param == "1",
        )
        for name in PORTS:
            for port in (80, 81):
                serve(getattr(lab, name), port, tag=f"{name}:{port}")
        yield lab


def test_containers_cannot_talk_but_reach_the_gateway_and_outside(lab: Lab) -> None:
    serve(lab.host, 7000, tag="host")
    serve(lab.out, 80, tag="out")
    assert call(lab.q1, Q2, 80, timeout=NO) is None
    assert call(lab.q2, Q1, 80, timeout=NO) is None
    assert not ping(lab.q1, Q3, timeout=1)
    assert call(lab.q1, "10.60.0.1", 7000) == f"host {Q1}"
    assert call(lab.q2, OUT4, 80) == f"out {HOST4}"
    # address resolution between them still works: only IP is filtered
    assert "lladdr" in lab.q1.ip("neigh", "show", Q2).stdout


def test_a_link_opens_exactly_its_port_one_way_until_closed(lab: Lab) -> None:
    opened = [link(Q1, Q2, 80)]
    lab.fw.open_links(opened)
    assert call(lab.q1, Q2, 80) == f"q2:80 {Q1}"
    assert call(lab.q1, Q2, 81, timeout=NO) is None  # another port of the same pair
    assert call(lab.q2, Q1, 80, timeout=NO) is None  # the linked container calling back
    assert call(lab.q3, Q2, 80, timeout=NO) is None  # someone else to the linked port
    assert call(lab.q1, Q3, 80, timeout=NO) is None
    lab.fw.close_links(opened)
    assert call(lab.q1, Q2, 80, timeout=NO) is None


def test_with_br_netfilter_the_inet_table_must_let_links_through_too(lab: Lab) -> None:
    lab.fw.open_links([link(Q1, Q2, 80)])
    lab.host.nft(f"flush set inet {TABLE} links4\n")  # the bridge table alone
    answer = call(lab.q1, Q2, 80, timeout=NO if lab.br_netfilter else 2.0)
    assert answer == (None if lab.br_netfilter else f"q2:80 {Q1}")


def test_udp_links_and_the_reverse_tuple(lab: Lab) -> None:
    serve(lab.q2, 53, proto="udp", tag="dns")
    lab.fw.open_links([link(Q1, Q2, 53, "udp")])
    assert call(lab.q1, Q2, 53, proto="udp") == f"dns {Q1}"
    assert call(lab.q1, Q2, 54, proto="udp", timeout=NO) is None


def test_published_ports_keep_working(lab: Lab) -> None:
    pub = PortIntent("tcp", ip_address("0.0.0.0"), 8080, ip_address(Q2), 80, "brq")
    lab.fw.publish_ports([pub])
    assert call(lab.out, HOST4, 8080) == f"q2:80 {OUT4}"
    assert call(lab.host, "127.0.0.1", 8080) == "q2:80 10.60.0.1"
    # a container to its own published port (with br_netfilter: DNATed at the bridge and sent
    # back out of its own port, which the hairpin set lets through)
    assert (call(lab.q2, HOST4, 8080) or "").startswith("q2:80 ")
    assert call(lab.q1, Q2, 80, timeout=NO) is None  # direct access stays closed
    # another container of the network through the host's port: routed by the host without
    # br_netfilter; with it, DNATed at the bridge and dropped between the two ports (dockerd
    # without its userland proxy does the same: -i br -o br -j DROP)
    through_host = call(lab.q1, HOST4, 8080, timeout=NO if lab.br_netfilter else 2.0)
    assert through_host == (None if lab.br_netfilter else "q2:80 10.60.0.1")


def test_reload_rebuilds_ports_and_links(lab: Lab) -> None:
    lab.fw.open_links([link(Q1, Q2, 80)])
    lab.host.nft(
        f"flush set bridge {TABLE} noicc_ports\nflush set bridge {TABLE} links4\n"
        f"flush set inet {TABLE} links4\n"
    )
    # the bridge table lost its ports: only br_netfilter still shows the traffic to the inet
    # table, whose forward chain drops it (no "intra" element for an ICC-off network)
    expected = None if lab.br_netfilter else f"q3:81 {Q1}"
    assert call(lab.q1, Q3, 81, timeout=NO if lab.br_netfilter else 2.0) == expected
    lab.fw.reload([NET], [], lab.endpoints(), [link(Q1, Q2, 80)])
    assert lab.elements("bridge", "noicc_ports") == '"vq1", "vq2", "vq3"'
    assert call(lab.q1, Q3, 81, timeout=NO) is None
    assert call(lab.q1, Q2, 80) == f"q2:80 {Q1}"
    lab.fw.reload([NET], [], lab.endpoints(), [])
    assert call(lab.q1, Q2, 80, timeout=NO) is None
