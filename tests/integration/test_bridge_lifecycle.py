"""Lifecycles against the real kernel: teardown leaves nothing, state is shared between
processes, bad input changes nothing, conntrack is flushed, multi-network gateways, IPv6."""

from __future__ import annotations

import json
import subprocess
import sys
from ipaddress import ip_network
from pathlib import Path

import pytest

from berth import EndpointSpec, IpamConfig, IpamPoolConfig, NetworkSpec, SandboxSpec
from berth.controller.controller import NetworkController
from berth.model.errors import (
    ActiveEndpoints,
    AddressInUse,
    InvalidParameter,
    NameInUse,
    PoolOverlap,
    PortInUse,
    UnknownOption,
)
from berth.model.mac import bridge_mac
from berth.model.ports import parse_port_spec
from tests.integration.conftest import sandbox_ns
from tests.integration.netenv import Ns, call, links, ping, serve

pytestmark = pytest.mark.root


def net(name: str, subnet: str, *v6: str, **kw: object) -> NetworkSpec:
    pools = [IpamPoolConfig(subnet=ip_network(subnet))]
    pools += [IpamPoolConfig(subnet=ip_network(s)) for s in v6]
    return NetworkSpec(name=name, ipam=IpamConfig(config=tuple(pools)), enable_ipv6=bool(v6), **kw)  # type: ignore[arg-type]


def nft_table(host: Ns) -> str:
    return host.run("nft", "list", "table", "inet", "berth").stdout


def test_teardown_removes_every_kernel_object(berth: NetworkController, host: Ns) -> None:
    before_links = links(host)
    berth.create_network(net("front", "10.92.1.0/24"))
    berth.create_sandbox(SandboxSpec(name="web"))
    berth.connect("front", "web", EndpointSpec(ports=parse_port_spec("8080:80")))
    assert len(links(host)) == len(before_links) + 2  # bridge and the veth's host end
    assert "8080" in nft_table(host)
    with pytest.raises(ActiveEndpoints, match="front has 1 active endpoint"):
        berth.delete_network("front")
    berth.delete_sandbox("web")
    assert "8080" not in nft_table(host)
    berth.delete_network("front")
    assert links(host) == before_links
    table = nft_table(host)
    assert "10.92.1.0" not in table and "br-" not in table
    assert berth.sandboxes() == [] and berth.networks() == []


def test_another_process_sees_and_extends_the_state(
    berth: NetworkController, host: Ns, berth_dirs: tuple[Path, Path]
) -> None:
    berth.create_network(net("front", "10.92.2.0/24"))
    berth.create_sandbox(SandboxSpec(name="a"))
    berth.connect("front", "a")
    state, run = berth_dirs
    script = f"""
import json
from berth import open_controller, SandboxSpec
with open_controller(state_dir={str(state)!r}, exec_root={str(run)!r}, host_ns={host.path!r},
                     predefined=False) as ctl:
    ctl.create_sandbox(SandboxSpec(name="b"))
    ep = ctl.connect("front", "b")
    print(json.dumps({{"networks": [n.name for n in ctl.networks()], "ip": str(ep.ipv4)}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(out.stdout)
    assert seen == {"networks": ["front"], "ip": "10.92.2.3/24"}
    # and this process sees what the other one made
    assert str(berth.endpoint("b").ipv4) == "10.92.2.3/24"
    assert ping(sandbox_ns(berth, "a"), "10.92.2.3")
    berth.create_sandbox(SandboxSpec(name="c"))
    assert str(berth.connect("front", "c").ipv4) == "10.92.2.4/24"


def test_bad_input_changes_nothing(berth: NetworkController, host: Ns) -> None:
    berth.create_network(net("front", "10.92.3.0/24"))
    berth.create_sandbox(SandboxSpec(name="a"))
    berth.connect(
        "front",
        "a",
        EndpointSpec(ipv4=ip_network("10.92.3.9/32")[0], ports=parse_port_spec("8080:80")),
    )
    berth.create_sandbox(SandboxSpec(name="b"))
    before = (links(host), nft_table(host), berth.networks(), berth.endpoints())
    cases = [
        (lambda: berth.create_network(net("front", "10.93.0.0/24")), NameInUse, "front"),
        (lambda: berth.create_network(net("x", "10.92.3.128/25")), PoolOverlap, "front"),
        (
            lambda: berth.create_network(net("y", "10.94.0.0/24", options={"bogus": "1"})),
            UnknownOption,
            "bogus",
        ),
        (
            lambda: berth.connect("front", "b", EndpointSpec(ports=parse_port_spec("8080:81"))),
            PortInUse,
            "8080",
        ),
        (
            lambda: berth.connect("front", "b", EndpointSpec(ipv4=ip_network("10.92.3.9/32")[0])),
            AddressInUse,
            "10.92.3.9",
        ),
        (lambda: berth.connect("front", "a"), Exception, "already connected"),
        (
            lambda: berth.connect("front", "b", EndpointSpec(ports=parse_port_spec("[::1]:80:80"))),
            InvalidParameter,
            "no IPv6 address",
        ),
    ]
    for action, error, text in cases:
        with pytest.raises(error, match=text):
            action()
        assert (links(host), nft_table(host), berth.networks(), berth.endpoints()) == before


def test_a_listening_host_socket_refuses_the_port(berth: NetworkController, host: Ns) -> None:
    berth.create_network(net("front", "10.92.4.0/24"))
    berth.create_sandbox(SandboxSpec(name="a"))
    listener = serve(host, 8443, tag="host-service")
    with pytest.raises(PortInUse, match="8443/tcp is already in use by another program"):
        berth.connect("front", "a", EndpointSpec(ports=parse_port_spec("8443:443")))
    assert berth.endpoints() == []
    listener.kill()
    listener.wait()
    assert berth.connect("front", "a", EndpointSpec(ports=parse_port_spec("8443:443")))


def test_unpublishing_flushes_udp_conntrack(
    berth: NetworkController, host: Ns, outside: Ns
) -> None:
    berth.create_network(net("front", "10.92.5.0/24"))
    berth.create_sandbox(SandboxSpec(name="dns"))
    berth.connect("front", "dns", EndpointSpec(ports=parse_port_spec("5300:53/udp")))
    serve(sandbox_ns(berth, "dns"), 53, proto="udp", tag="dns")
    assert call(outside, "198.51.100.1", 5300, proto="udp") is not None
    flows = host.run("conntrack", "-L", "-p", "udp", "--dport", "5300", check=False).stdout
    assert "dport=5300" in flows
    berth.disconnect("front", "dns")
    flows = host.run("conntrack", "-L", "-p", "udp", "--dport", "5300", check=False).stdout
    assert "dport=5300" not in flows


def test_gateway_moves_when_its_network_is_disconnected(berth: NetworkController) -> None:
    berth.create_network(net("front", "10.92.6.0/24"))
    berth.create_network(net("back", "10.92.7.0/24"))
    berth.create_sandbox(SandboxSpec(name="a"))
    berth.connect("front", "a")
    eth1 = berth.connect("back", "a")
    assert eth1.ifname == "eth1"
    a = sandbox_ns(berth, "a")
    assert "default via 10.92.6.1 dev eth0" in a.ip("route").stdout
    berth.disconnect("front", "a")
    assert "default via 10.92.7.1 dev eth1" in a.ip("route").stdout
    assert berth.sandbox("a").gateway_endpoint == eth1.id
    assert ping(a, "10.92.7.1")


def test_dual_stack_network_and_ipv6_published_port(berth: NetworkController, host: Ns) -> None:
    berth.create_network(net("front", "10.92.8.0/24", "fd00:92:8::/64"))
    berth.create_sandbox(SandboxSpec(name="a"))
    berth.create_sandbox(SandboxSpec(name="b"))
    a_ep = berth.connect("front", "a", EndpointSpec(ports=parse_port_spec("8080:80")))
    b_ep = berth.connect("front", "b")
    assert str(a_ep.ipv6) == "fd00:92:8::2/64" and str(b_ep.ipv6) == "fd00:92:8::3/64"
    a, b = sandbox_ns(berth, "a"), sandbox_ns(berth, "b")
    assert ping(b, "fd00:92:8::2") and ping(a, "fd00:92:8::1")
    serve(a, 80, tag="v6web", bind="::")
    assert call(b, "fd00:92:8::2", 80) == "v6web fd00:92:8::3"
    assert call(host, "fd00:92:8::2", 80) is not None
    # published on :: too: the host's own IPv6 address reaches the container
    host.ip("addr", "add", "2001:db8:1::1/64", "dev", "lo")
    assert call(host, "2001:db8:1::1", 8080) is not None


def test_none_and_host_networks(berth: NetworkController, host: Ns) -> None:
    berth.ensure_predefined_networks()
    assert {n.name for n in berth.networks()} >= {"bridge", "host", "none"}
    berth.create_sandbox(SandboxSpec(name="alone"))
    berth.connect("none", "alone")
    alone = sandbox_ns(berth, "alone")
    assert alone.ip("-o", "link").stdout.count("\n") == 1  # only lo
    with pytest.raises(Exception, match="none network and on another"):
        berth.connect("bridge", "alone")
    hostbox = berth.create_sandbox(SandboxSpec(name="hostbox", host_mode=True))
    berth.connect("host", "hostbox")
    assert hostbox.netns_path == host.path
    with pytest.raises(Exception, match="only host-mode"):
        berth.connect("host", "alone")
    with pytest.raises(Exception, match="pre-defined"):
        berth.delete_network("host")


def test_adopted_bridge_is_kept_on_delete(berth: NetworkController, host: Ns) -> None:
    host.ip("link", "add", "mybr0", "type", "bridge")
    berth.create_network(
        net("front", "10.92.9.0/24", options={"com.docker.network.bridge.name": "mybr0"})
    )
    assert "10.92.9.1/24" in host.ip("addr", "show", "mybr0").stdout
    berth.delete_network("front")
    shown = host.ip("addr", "show", "mybr0").stdout
    assert "mybr0" in shown and "10.92.9.1" not in shown


def test_firewall_rules_do_not_grow_with_ports(berth: NetworkController, host: Ns) -> None:
    def rule_lines() -> int:
        table = nft_table(host)
        body = table.split("chain ", 1)[1]  # sets and maps (with their elements) come first
        return len(body.splitlines())

    berth.create_network(net("front", "10.92.10.0/24"))
    berth.create_sandbox(SandboxSpec(name="one"))
    berth.connect("front", "one", EndpointSpec(ports=parse_port_spec("20000:80")))
    with_one = rule_lines()
    berth.create_sandbox(SandboxSpec(name="many"))
    berth.connect("front", "many", EndpointSpec(ports=parse_port_spec("21000-21199:1000-1199")))
    assert len(berth.endpoint("many").published) == 200
    assert rule_lines() == with_one
    assert nft_table(host).count(" : 10.92.10.3 . ") == 200


def test_mtu_option_applies_to_bridge_and_both_veth_ends(
    berth: NetworkController, host: Ns
) -> None:
    berth.create_network(
        net("front", "10.92.11.0/24", options={"com.docker.network.driver.mtu": "1400"})
    )
    berth.create_sandbox(SandboxSpec(name="a"))
    ep = berth.connect("front", "a")
    bridge = berth.network("front").driver_state["bridge"]
    assert "mtu 1400" in host.ip("link", "show", bridge).stdout
    assert "mtu 1400" in host.ip("link", "show", f"vb{ep.id[:12]}").stdout
    assert "mtu 1400" in sandbox_ns(berth, "a").ip("link", "show", "eth0").stdout


def test_ipv6_only_on_interfaces_with_an_ipv6_address(berth: NetworkController, host: Ns) -> None:
    """As in Docker: a sandbox's interfaces start without IPv6 (no link-local address, DAD,
    router solicitations or MLD reports for the bridge to flood to every port), an interface
    with an IPv6 address has it, bridge ports never do, and loopback keeps ::1."""
    berth.create_network(net("v4", "10.92.12.0/24"))
    berth.create_network(net("dual", "10.92.13.0/24", "fd00:92:13::/64"))
    berth.create_sandbox(SandboxSpec(name="a"))
    v4, dual = berth.connect("v4", "a"), berth.connect("dual", "a")
    a = sandbox_ns(berth, "a")
    assert a.ip("-6", "-o", "addr", "show", "dev", str(v4.ifname)).stdout == ""
    assert "fd00:92:13::2/64" in a.ip("-6", "-o", "addr", "show", "dev", str(dual.ifname)).stdout
    assert "::1/128" in a.ip("-6", "-o", "addr", "show", "dev", "lo").stdout
    assert ping(a, "fd00:92:13::1") and ping(a, "10.92.12.1")
    for endpoint in (v4, dual):
        port = f"vb{endpoint.id[:12]}"
        assert host.ip("-6", "-o", "addr", "show", "dev", port).stdout == ""
        disabled = host.run("sysctl", "-n", f"net.ipv6.conf.{port}.disable_ipv6").stdout
        assert disabled.strip() == "1"


def test_the_bridge_mac_stays_put_as_ports_come_and_go(berth: NetworkController, host: Ns) -> None:
    """A bridge without an address of its own takes its lowest port's, which changes as ports
    come and go (and each change leaves containers with a stale gateway MAC). berth's bridges
    have a fixed one, from the network id, also when re-created."""
    network = berth.create_network(net("front", "10.92.14.0/24"))
    bridge = str(network.driver_state["bridge"])
    expected = bridge_mac(network.id)
    assert int(expected[:2], 16) & 0x03 == 0x02  # locally administered, unicast

    def mac() -> str:
        shown = json.loads(host.ip("-j", "link", "show", bridge).stdout)
        return str(shown[0]["address"])

    assert mac() == expected
    for name, low in (("a", "02:00:00:00:00:01"), ("b", "00:00:00:00:00:02")):
        berth.create_sandbox(SandboxSpec(name=name))
        endpoint = berth.connect("front", name)
        host.ip("link", "set", f"vb{endpoint.id[:12]}", "address", low)  # lower than the bridge's
        assert mac() == expected
    berth.disconnect("front", "a")
    assert mac() == expected
