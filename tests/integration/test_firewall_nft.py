"""NftFirewall against the real kernel, proven with real traffic.

Every test builds its own throwaway "host" namespace holding three bridge networks (A: two
sandboxes, dual stack; B: one sandbox; C: internal, two sandboxes) and an "outside world"
namespace linked to the host (198.51.100.1 host side, 198.51.100.2 outside, no route back to the
container subnets). The host is set up the way the bridge driver must leave it: ip_forward on,
route_localnet=1 on every bridge, hairpin on every bridge port. Everything is torn down with the
namespaces, also when a test fails; nothing touches the machine's own tables or links.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_address
from pathlib import Path

import pytest

from berth.firewall.api import NetworkIntent, PortIntent, Proto
from berth.firewall.nft_render import render_ensure
from berth.firewall.nftables import NftFirewall
from berth.kernel.nftables import LibNftables
from berth.model.errors import KernelError
from tests.integration import netenv
from tests.integration.netenv import Ns, call, serve

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, nftables)"),
]

TABLE = "berth"
HOST4, OUT4 = "198.51.100.1", "198.51.100.2"
HOST6, OUT6 = "2001:db8:1::1", "2001:db8:1::2"
SNAT4 = IPv4Address("198.51.100.7")
NO = 1.0  # client timeout where no answer is the expected outcome

NET_A = NetworkIntent("bra", (IPv4Network("10.50.0.0/24"),), (IPv6Network("fd50::/64"),))
NET_B = NetworkIntent("brb", (IPv4Network("10.51.0.0/24"),))
NET_C = NetworkIntent("brc", (IPv4Network("10.52.0.0/24"),), internal=True)
NETS = (NET_A, NET_B, NET_C)


def tcp(host: str, hport: int, ctr: str, cport: int, proto: Proto = "tcp") -> PortIntent:
    return PortIntent(proto, ip_address(host), hport, ip_address(ctr), cport)


@dataclass
class Lab:
    host: Ns
    out: Ns
    sa1: Ns  # 10.50.0.2, fd50::2
    sa2: Ns  # 10.50.0.3, fd50::3
    sb1: Ns  # 10.51.0.2
    sc1: Ns  # 10.52.0.2 (internal)
    sc2: Ns  # 10.52.0.3 (internal)
    fw: NftFirewall
    adapter: LibNftables

    def nft(self, *args: str) -> str:
        return self.host.run("nft", *args).stdout


def _no_dad(ns: Ns, restart: str | None = None) -> None:
    """No duplicate address detection in ``ns``: IPv6 works at once. A link that is already up
    (``restart``) is bounced so its link-local address is made again, without DAD."""
    for conf in ("all", "default", *([restart] if restart else [])):
        ns.run("sysctl", "-qw", f"net.ipv6.conf.{conf}.accept_dad=0")
    if restart:
        ns.ip("link", "set", restart, "down")
        ns.ip("link", "set", restart, "up")


def _bridge(host: Ns, name: str, gw4: str, gw6: str | None = None) -> None:
    host.ip("link", "add", name, "type", "bridge")
    host.ip("addr", "add", gw4, "dev", name)
    if gw6:
        host.ip("addr", "add", gw6, "dev", name, "nodad")
    host.ip("link", "set", name, "up")
    host.run("sysctl", "-qw", f"net.ipv4.conf.{name}.route_localnet=1")


def _sandbox(
    stack: ExitStack, host: Ns, bridge: str, port: str, addr4: str, *, addr6: str | None = None
) -> Ns:
    sb = stack.enter_context(netenv.namespace("bts"))
    _no_dad(sb)
    host.ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", sb.path)
    host.ip("link", "set", port, "master", bridge, "up")
    host.run("bridge", "link", "set", "dev", port, "hairpin", "on")
    sb.ip("addr", "add", addr4, "dev", "eth0")
    sb.ip("link", "set", "eth0", "up")
    sb.ip("route", "add", "default", "via", addr4.rsplit(".", 1)[0] + ".1")
    if addr6:
        sb.ip("addr", "add", addr6, "dev", "eth0", "nodad")
        sb.ip("-6", "route", "add", "default", "via", addr6.split("::")[0] + "::1")
    return sb


@pytest.fixture
def lab(host: Ns, outside: Ns) -> Iterator[Lab]:
    out = outside
    with ExitStack() as stack:
        nft = LibNftables(host.path)
        stack.callback(nft.close)
        uplink = host.ip("-o", "-4", "addr", "show", "to", f"{HOST4}/32").stdout.split()[1]
        _no_dad(host, uplink)
        _no_dad(out, "eth0")
        host.ip("addr", "add", f"{HOST6}/64", "dev", uplink, "nodad")
        out.ip("addr", "add", f"{OUT6}/64", "dev", "eth0", "nodad")
        for key in (
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.bridge.bridge-nf-call-iptables=1",
            "net.bridge.bridge-nf-call-ip6tables=1",
        ):
            host.run("sysctl", "-qw", key)
        _bridge(host, "bra", "10.50.0.1/24", "fd50::1/64")
        _bridge(host, "brb", "10.51.0.1/24")
        _bridge(host, "brc", "10.52.0.1/24")
        lab = Lab(
            host=host,
            out=out,
            sa1=_sandbox(stack, host, "bra", "va1", "10.50.0.2/24", addr6="fd50::2/64"),
            sa2=_sandbox(stack, host, "bra", "va2", "10.50.0.3/24", addr6="fd50::3/64"),
            sb1=_sandbox(stack, host, "brb", "vb1", "10.51.0.2/24"),
            sc1=_sandbox(stack, host, "brc", "vc1", "10.52.0.2/24"),
            sc2=_sandbox(stack, host, "brc", "vc2", "10.52.0.3/24"),
            fw=NftFirewall(nft, TABLE),
            adapter=nft,
        )
        for net in NETS:
            lab.fw.add_network(net)
        yield lab


def _serve_all(lab: Lab, proto: str = "tcp") -> None:
    for name in ("sa1", "sa2", "sb1", "sc1", "sc2"):
        serve(getattr(lab, name), 80, proto=proto, tag=name)
    serve(lab.out, 80, proto=proto, tag="out")


def rule_lines(listing: str) -> int:
    """Rules in ``nft -a list table`` output: lines with a handle that declare nothing."""
    return sum(
        1
        for line in listing.splitlines()
        if "# handle" in line and not re.match(r"\s*(table|chain|set|map) ", line)
    )


def elements(lab: Lab, kind: str, name: str) -> str:
    """The elements of one berth set or map as listed by nft ('' when empty)."""
    listing = lab.nft("list", kind, "inet", TABLE, name)
    match = re.search(r"elements = \{(.*?)\}", listing, re.S)
    return " ".join(match.group(1).split()) if match else ""


def install_probe(ns: Ns, name: str, hook: str, priority: int, match: str) -> None:
    """A test-owned counter table in ``ns``: counts packets matching ``match`` at ``hook``."""
    ns.nft(
        f"table ip {name} {{\n counter hits {{}}\n"
        f" chain c {{\n  type filter hook {hook} priority {priority}; policy accept;\n"
        f"  {match} counter name hits\n }}\n}}\n"
    )


def probe_hits(ns: Ns, name: str) -> int:
    listing = ns.run("nft", "list", "counter", "ip", name, "hits").stdout
    found = re.search(r"packets (\d+)", listing)
    assert found, listing
    return int(found.group(1))


def connect_error(ns: Ns, host: str, port: int) -> str:
    """The name of the exception a TCP connect from ``ns`` ends with ("" if it succeeds)."""
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(({host!r}, {port}), timeout={NO}).close()\n"
        "except OSError as err:\n"
        "    print(type(err).__name__)\n"
    )
    return ns.run(netenv.PYTHON, "-c", code).stdout.strip()


def send_rewritten(ns: Ns, gateway: str, daddr: str, port: int) -> None:
    """Send one UDP datagram from ``ns`` to ``daddr``:``port`` through ``gateway``, even when
    ``daddr`` is a loopback address: the datagram is routed to a dummy address via the gateway
    and its destination is rewritten after routing, in a test-owned table of ``ns``."""
    dummy = "10.99.99.99"
    ns.ip("route", "replace", f"{dummy}/32", "via", gateway)
    ns.nft(
        "table ip bt_rewrite\ndelete table ip bt_rewrite\n"
        "table ip bt_rewrite {\n chain post {\n"
        "  type filter hook postrouting priority 0; policy accept;\n"
        f"  ip daddr {dummy} ip daddr set {daddr}\n }}\n}}\n"
    )
    call(ns, dummy, port, proto="udp", timeout=0.3)


# --- source NAT ---------------------------------------------------------------------------------


def test_masquerade_hides_containers_behind_the_host_address(lab: Lab) -> None:
    serve(lab.out, 80, tag="out")
    serve(lab.out, 81, tag="out6", bind="::")
    assert call(lab.sa1, OUT4, 80) == f"out {HOST4}"
    assert call(lab.sb1, OUT4, 80) == f"out {HOST4}"
    assert call(lab.sa1, OUT6, 81) == f"out6 {HOST6}"


def test_masquerade_off_keeps_the_container_address(lab: Lab) -> None:
    serve(lab.out, 80, tag="out")
    lab.fw.remove_network(NET_A)
    lab.fw.add_network(replace(NET_A, masquerade=False))
    assert elements(lab, "set", "masq4") == "10.51.0.0/24"  # B is still masqueraded
    # The outside has no route back to 10.50.0.0/24: no masquerade, no answer ...
    assert call(lab.sa1, OUT4, 80, timeout=NO) is None
    # ... until it learns one; then it sees the container itself.
    lab.out.ip("route", "add", "10.50.0.0/24", "via", HOST4)
    assert call(lab.sa1, OUT4, 80) == "out 10.50.0.2"
    assert call(lab.sb1, OUT4, 80) == f"out {HOST4}"


def test_fixed_snat_source(lab: Lab) -> None:
    serve(lab.out, 80, tag="out")
    uplink = lab.host.ip("-o", "-4", "addr", "show", "to", f"{HOST4}/32").stdout.split()[1]
    lab.host.ip("addr", "add", "198.51.100.7/24", "dev", uplink)
    lab.fw.remove_network(NET_B)
    lab.fw.add_network(replace(NET_B, snat4=SNAT4))
    assert call(lab.sb1, OUT4, 80) == "out 198.51.100.7"
    assert call(lab.sa1, OUT4, 80) == f"out {HOST4}"
    assert elements(lab, "map", "snat4") == "10.51.0.0/24 : 198.51.100.7"


# --- published ports ----------------------------------------------------------------------------


def test_published_port_reachable_from_host_and_outside(lab: Lab) -> None:
    _serve_all(lab)
    _serve_all(lab, "udp")
    lab.fw.publish_ports(
        [
            tcp("0.0.0.0", 8080, "10.50.0.2", 80),
            tcp("0.0.0.0", 8080, "10.50.0.2", 80, "udp"),
            tcp(HOST4, 8082, "10.50.0.3", 80),
        ]
    )
    # From the host itself, through loopback (route_localnet + masquerade to the gateway).
    assert call(lab.host, "127.0.0.1", 8080) == "sa1 10.50.0.1"
    assert call(lab.host, "127.0.0.1", 8080, proto="udp") == "sa1 10.50.0.1"
    assert call(lab.host, HOST4, 8080) == f"sa1 {HOST4}"
    # From the outside: the container sees the real client address.
    assert call(lab.out, HOST4, 8080) == f"sa1 {OUT4}"
    assert call(lab.out, HOST4, 8080, proto="udp") == f"sa1 {OUT4}"
    assert call(lab.out, HOST4, 8082) == f"sa2 {OUT4}"
    # A binding to one host address is not a binding to the others.
    assert call(lab.host, "127.0.0.1", 8082, timeout=NO) is None
    assert call(lab.out, HOST4, 8081, timeout=NO) is None


def test_published_port_ipv6(lab: Lab) -> None:
    serve(lab.sa1, 81, tag="sa1v6", bind="::")
    lab.fw.publish_ports([tcp("::", 8080, "fd50::2", 81), tcp(HOST6, 8086, "fd50::2", 81)])
    assert call(lab.out, HOST6, 8080) == f"sa1v6 {OUT6}"
    assert call(lab.out, HOST6, 8086) == f"sa1v6 {OUT6}"
    assert call(lab.host, HOST6, 8080) == f"sa1v6 {HOST6}"
    assert call(lab.sa2, HOST6, 8080) == "sa1v6 fd50::1"
    # ::1 is never translated (IPv6 has no route_localnet): refused at once, not hanging.
    assert connect_error(lab.host, "::1", 8080) == "ConnectionRefusedError"


def test_hairpin_and_cross_network_access_to_published_port(lab: Lab) -> None:
    _serve_all(lab)
    _serve_all(lab, "udp")
    lab.fw.publish_ports(
        [tcp("0.0.0.0", 8080, "10.50.0.2", 80), tcp("0.0.0.0", 8080, "10.50.0.2", 80, "udp")]
    )
    # Own published port through the host address and through the gateway.
    assert call(lab.sa1, HOST4, 8080) == "sa1 10.50.0.1"
    assert call(lab.sa1, "10.50.0.1", 8080) == "sa1 10.50.0.1"
    assert call(lab.sa1, HOST4, 8080, proto="udp") == "sa1 10.50.0.1"
    # Same network, other container; other network (whose direct access is isolated).
    assert call(lab.sa2, HOST4, 8080) == "sa1 10.50.0.1"
    assert call(lab.sb1, HOST4, 8080) == "sa1 10.50.0.1"
    assert call(lab.sb1, "10.50.0.2", 80, timeout=NO) is None


def test_loopback_binding_is_not_reachable_from_elsewhere(lab: Lab) -> None:
    serve(lab.sa1, 80, tag="sa1")
    serve(lab.sa1, 80, proto="udp", tag="sa1")
    lab.fw.publish_ports(
        [
            tcp("127.0.0.1", 8083, "10.50.0.2", 80),
            tcp("127.0.0.1", 8083, "10.50.0.2", 80, "udp"),
            tcp("0.0.0.0", 8084, "10.50.0.2", 80, "udp"),
        ]
    )
    assert call(lab.host, "127.0.0.1", 8083) == "sa1 10.50.0.1"
    assert call(lab.out, HOST4, 8083, timeout=NO) is None
    assert call(lab.sa2, HOST4, 8083, timeout=NO) is None
    # Datagrams that arrive on the host's outside interface addressed to 127.0.0.1.
    install_probe(
        lab.host, "bt_arrived", "prerouting", -400, "ip daddr 127.0.0.1 udp dport { 8083, 8084 }"
    )
    install_probe(lab.sa1, "bt_got", "prerouting", -400, "udp dport 80")
    send_rewritten(lab.out, HOST4, HOST4, 8084)  # control: the rewrite path works
    assert netenv.wait_for(lambda: probe_hits(lab.sa1, "bt_got") == 1)
    for port in (8083, 8084):  # the loopback binding, the wildcard one
        send_rewritten(lab.out, HOST4, "127.0.0.1", port)
    assert netenv.wait_for(lambda: probe_hits(lab.host, "bt_arrived") == 2)
    time.sleep(0.2)
    assert probe_hits(lab.sa1, "bt_got") == 1  # neither was translated to the container


def test_container_cannot_reach_host_loopback(lab: Lab) -> None:
    serve(lab.host, 7001, proto="udp", tag="host-lo", bind="127.0.0.1")
    install_probe(lab.host, "bt_sent", "prerouting", -400, 'iifname "bra" ip daddr 127.0.0.1')
    install_probe(lab.host, "bt_in", "input", 0, "ip daddr 127.0.0.1 udp dport 7001")
    send_rewritten(lab.sa1, "10.50.0.1", "127.0.0.1", 7001)
    assert netenv.wait_for(lambda: probe_hits(lab.host, "bt_sent") == 1)
    time.sleep(0.2)
    assert probe_hits(lab.host, "bt_in") == 0


# --- filtering ----------------------------------------------------------------------------------


def test_isolation_between_networks(lab: Lab) -> None:
    _serve_all(lab)
    assert call(lab.sa1, "10.50.0.3", 80) == "sa2 10.50.0.2"  # ICC inside a network
    assert call(lab.sa1, "10.51.0.2", 80, timeout=NO) is None
    assert call(lab.sb1, "10.50.0.2", 80, timeout=NO) is None
    assert call(lab.sa1, "10.52.0.2", 80, timeout=NO) is None


def test_icc_off_drops_same_network_traffic_seen_by_br_netfilter(lab: Lab) -> None:
    _serve_all(lab)
    lab.fw.remove_network(NET_A)
    lab.fw.add_network(replace(NET_A, icc=False))
    lab.fw.publish_ports([tcp("0.0.0.0", 8080, "10.50.0.2", 80)])
    assert call(lab.sa2, "10.50.0.2", 80, timeout=NO) is None
    assert call(lab.sa2, HOST4, 8080) == "sa1 10.50.0.1"  # published ports stay open
    assert call(lab.sa1, OUT4, 80) == f"out {HOST4}"


def test_internal_network(lab: Lab) -> None:
    _serve_all(lab)
    serve(lab.host, 7000, tag="host")
    assert call(lab.sc1, "10.52.0.3", 80) == "sc2 10.52.0.2"
    assert call(lab.sc1, "10.52.0.1", 7000) == "host 10.52.0.2"  # its own gateway
    assert call(lab.sc1, OUT4, 80, timeout=NO) is None
    assert call(lab.sc1, "10.50.0.2", 80, timeout=NO) is None
    assert call(lab.sa1, "10.52.0.2", 80, timeout=NO) is None
    # Not even unmasqueraded: nothing from the internal subnet ever reaches the outside.
    install_probe(lab.out, "bt_leak", "prerouting", -400, "ip saddr 10.52.0.0/24")
    lab.out.ip("route", "add", "10.52.0.0/24", "via", HOST4)
    assert call(lab.sc1, OUT4, 80, timeout=NO) is None
    assert call(lab.sc1, OUT4, 80, proto="udp", timeout=NO) is None
    assert probe_hits(lab.out, "bt_leak") == 0
    assert elements(lab, "set", "internal") == '"brc"'
    # Nothing gets in, not even one way through a published port (the driver should not
    # publish any there).
    install_probe(lab.sc1, "bt_in", "prerouting", -400, "ip saddr != 10.52.0.0/24 udp dport 80")
    lab.fw.publish_ports([tcp("0.0.0.0", 8085, "10.52.0.2", 80, "udp")])
    assert call(lab.out, HOST4, 8085, proto="udp", timeout=NO) is None
    assert call(lab.sa1, HOST4, 8085, proto="udp", timeout=NO) is None
    assert probe_hits(lab.sc1, "bt_in") == 0


def test_direct_routing_from_outside_is_dropped(lab: Lab) -> None:
    _serve_all(lab)
    lab.fw.publish_ports([tcp("0.0.0.0", 8080, "10.50.0.2", 80)])
    lab.out.ip("route", "add", "10.50.0.0/23", "via", HOST4)
    assert call(lab.out, "10.50.0.2", 80, timeout=NO) is None  # published, but not this way
    assert call(lab.out, "10.50.0.3", 80, timeout=NO) is None
    assert call(lab.out, "10.51.0.2", 80, timeout=NO) is None
    assert call(lab.out, HOST4, 8080) == f"sa1 {OUT4}"


# --- the user chain, reload, scale, coexistence -------------------------------------------------


def test_user_chain_is_honoured_and_survives_ensure_and_reload(lab: Lab) -> None:
    _serve_all(lab)
    ports = [tcp("0.0.0.0", 8080, "10.50.0.2", 80)]
    lab.fw.publish_ports(ports)
    assert call(lab.out, HOST4, 8080) == f"sa1 {OUT4}"
    rule = f"ip saddr {OUT4} meta l4proto tcp ct original proto-dst 8080 drop"
    lab.host.nft(f"add rule inet {TABLE} user {rule}\n")
    assert call(lab.out, HOST4, 8080, timeout=NO) is None
    lab.fw.ensure()
    assert call(lab.out, HOST4, 8080, timeout=NO) is None
    lab.fw.reload(NETS, ports)
    assert call(lab.out, HOST4, 8080, timeout=NO) is None
    assert "ct original proto-dst 8080 drop" in lab.nft("list", "chain", "inet", TABLE, "user")
    assert call(lab.host, "127.0.0.1", 8080) == "sa1 10.50.0.1"  # forward only
    lab.host.nft(f"flush chain inet {TABLE} user\n")
    assert call(lab.out, HOST4, 8080) == f"sa1 {OUT4}"


def test_reload_replaces_every_element_atomically(lab: Lab) -> None:
    serve(lab.sa1, 80, tag="sa1")
    lab.fw.publish_ports(
        [tcp("0.0.0.0", 8080, "10.50.0.2", 80), tcp("0.0.0.0", 9090, "10.50.0.3", 80)]
    )
    lab.host.nft(f"flush map inet {TABLE} pub4any\nflush set inet {TABLE} bridges\n")
    lab.fw.reload([NET_A, NET_C], [tcp("0.0.0.0", 8080, "10.50.0.2", 80)])
    assert elements(lab, "set", "bridges") == '"bra", "brc"'
    assert elements(lab, "map", "pub4any") == "tcp . 8080 : 10.50.0.2 . 80"
    assert elements(lab, "set", "masq4") == "10.50.0.0/24"
    assert call(lab.out, HOST4, 8080) == f"sa1 {OUT4}"


def test_rule_count_is_independent_of_published_ports(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.fw.publish_ports([tcp("0.0.0.0", 10000, "10.50.0.2", 80)])
    one = lab.nft("-a", "list", "table", "inet", TABLE)
    lab.fw.unpublish_ports([tcp("0.0.0.0", 10000, "10.50.0.2", 80)])
    many = [tcp("0.0.0.0", 10000 + i, "10.50.0.2", 80 + i) for i in range(200)]
    started = time.perf_counter()
    lab.fw.publish_ports(many)
    took = time.perf_counter() - started
    listing = lab.nft("-a", "list", "table", "inet", TABLE)
    assert rule_lines(listing) == rule_lines(one) > 20
    assert elements(lab, "map", "pub4any").count(" : ") == 200
    with capsys.disabled():
        print(
            f"\npublish_ports(200 bindings) took {took * 1000:.1f} ms "
            f"via {type(lab.adapter).__name__}"
        )


def test_other_tables_are_untouched(lab: Lab) -> None:
    docker_like = (
        "table ip filter {\n chain DOCKER-USER {\n  return\n }\n"
        " chain FORWARD {\n  type filter hook forward priority filter; policy accept;\n"
        "  jump DOCKER-USER\n  counter\n }\n}\n"
        "table ip nat {\n chain DOCKER {\n }\n"
        " chain POSTROUTING {\n  type nat hook postrouting priority srcnat; policy accept;\n"
        '  ip saddr 172.17.0.0/16 oifname != "docker0" masquerade\n }\n}\n'
    )
    lab.host.nft(docker_like)
    before = [lab.nft("list", "table", "ip", t) for t in ("filter", "nat")]
    lab.fw.ensure()
    lab.fw.publish_ports([tcp("0.0.0.0", 8080, "10.50.0.2", 80)])
    lab.fw.reload(NETS, [])
    lab.fw.remove_network(NET_B)
    assert [lab.nft("list", "table", "ip", t) for t in ("filter", "nat")] == before
    tables = sorted(lab.nft("list", "tables").splitlines())
    assert tables == [
        "table bridge berth",
        "table inet berth",
        "table ip filter",
        "table ip nat",
    ]


def test_remove_and_unpublish_leave_nothing_and_may_repeat(lab: Lab) -> None:
    ports = [
        tcp("0.0.0.0", 8080, "10.50.0.2", 80),
        tcp(HOST4, 8081, "10.50.0.3", 80, "udp"),
        tcp("::", 8080, "fd50::2", 81),
        tcp(HOST6, 53, "fd50::3", 53, "sctp"),
    ]
    lab.fw.add_network(replace(NET_B, snat4=SNAT4))
    lab.fw.publish_ports(ports)
    assert elements(lab, "map", "pub6") == f"{HOST6} . sctp . 53 : fd50::3 . 53"
    for _ in range(2):
        lab.fw.unpublish_ports(ports)
        for net in NETS:
            lab.fw.remove_network(replace(net, snat4=SNAT4))
        lab.fw.remove_network(NET_B)
    listing = lab.nft("list", "table", "inet", TABLE)
    assert "elements" not in listing, listing


def test_failed_change_applies_nothing(lab: Lab) -> None:
    lab.fw.publish_ports([tcp("0.0.0.0", 8080, "10.50.0.2", 80)])
    with pytest.raises(KernelError):  # 8080/tcp is already bound to another target
        lab.fw.publish_ports(
            [tcp("0.0.0.0", 8081, "10.50.0.3", 80), tcp("0.0.0.0", 8080, "10.50.0.3", 80)]
        )
    assert elements(lab, "map", "pub4any") == "tcp . 8080 : 10.50.0.2 . 80"


def test_first_change_creates_the_table_in_the_same_transaction(lab: Lab) -> None:
    lab.host.nft(f"delete table inet {TABLE}\n")
    fw = NftFirewall(lab.adapter, "bt_custom")
    fw.add_network(NET_A)
    assert elements_of(lab, "bt_custom", "bridges") == '"bra"'
    assert "jump user" in lab.nft("list", "chain", "inet", "bt_custom", "forward")


def elements_of(lab: Lab, table: str, name: str) -> str:
    listing = lab.nft("list", "set", "inet", table, name)
    match = re.search(r"elements = \{(.*?)\}", listing, re.S)
    return " ".join(match.group(1).split()) if match else ""


GOLDEN_DIR = Path(__file__).parent.parent / "unit" / "golden"


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN_DIR.glob("*.nft")))
def test_golden_scripts_are_accepted_by_nft(host: Ns, name: str) -> None:
    """Every golden rendering passes nft's full check (parser and kernel, then rolled back),
    after the ensure script of its table in the same batch."""
    script = (GOLDEN_DIR / name).read_text()
    table = re.search(r"^\w+ \w+ (?:inet|bridge) (\S+)", script, re.M)
    assert table, name
    result = host.run(
        "nft", "-c", "-f", "-", input=render_ensure(table.group(1)) + script, check=False
    )
    assert result.returncode == 0, result.stderr
