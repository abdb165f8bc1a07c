"""Bridge networks with real traffic: sandboxes, the host, the outside world, published ports."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from berth import EndpointSpec, IpamConfig, IpamPoolConfig, NetworkSpec, SandboxSpec
from berth.controller.controller import NetworkController
from berth.model.ports import parse_port_spec
from tests.integration.conftest import sandbox_ns
from tests.integration.netenv import Ns, call, ping, serve

pytestmark = pytest.mark.root


def user_net(ctl: NetworkController, name: str, subnet: str, **kw: object) -> None:
    ctl.create_network(
        NetworkSpec(
            name=name, ipam=IpamConfig(config=(IpamPoolConfig(subnet=ip_network(subnet)),)), **kw
        )
    )  # type: ignore[arg-type]


def run_sandbox(
    ctl: NetworkController, name: str, network: str, spec: EndpointSpec | None = None
) -> tuple[Ns, str]:
    ctl.create_sandbox(SandboxSpec(name=name))
    ep = ctl.connect(network, name, spec)
    assert ep.ipv4 is not None
    return sandbox_ns(ctl, name), str(ep.ipv4.ip)


def test_two_sandboxes_reach_each_other_the_gateway_and_the_host(
    berth: NetworkController, host: Ns
) -> None:
    user_net(berth, "front", "10.90.1.0/24")
    a, a_ip = run_sandbox(berth, "a", "front")
    b, b_ip = run_sandbox(berth, "b", "front")
    assert (a_ip, b_ip) == ("10.90.1.2", "10.90.1.3")
    assert ping(a, b_ip) and ping(b, a_ip)
    assert ping(a, "10.90.1.1")
    assert ping(host, a_ip)
    serve(b, 80, tag="b")
    assert call(a, b_ip, 80) == f"b {a_ip}"
    assert call(host, b_ip, 80) == "b 10.90.1.1"
    links = a.ip("-o", "link", "show", "eth0").stdout
    assert "02:42:0a:5a:01:02" in links  # Docker's MAC from the address
    assert "default via 10.90.1.1 dev eth0" in a.ip("route").stdout


def test_outbound_traffic_is_masqueraded(berth: NetworkController, outside: Ns) -> None:
    user_net(berth, "front", "10.90.2.0/24")
    a, _ = run_sandbox(berth, "a", "front")
    serve(outside, 7000, tag="internet")
    assert call(a, "198.51.100.2", 7000) == "internet 198.51.100.1"


def test_published_port_from_localhost_outside_and_hairpin(
    berth: NetworkController, host: Ns, outside: Ns
) -> None:
    user_net(berth, "front", "10.90.3.0/24")
    web, web_ip = run_sandbox(berth, "web", "front", EndpointSpec(ports=parse_port_spec("8080:80")))
    other, _other_ip = run_sandbox(berth, "other", "front")
    serve(web, 80, tag="web")
    assert call(host, "127.0.0.1", 8080) is not None
    assert call(outside, "198.51.100.1", 8080) == "web 198.51.100.2"  # client address kept
    assert call(web, "198.51.100.1", 8080) is not None  # hairpin to itself
    assert call(other, "198.51.100.1", 8080) is not None  # a neighbour via the host address
    assert call(host, web_ip, 80) == "web 10.90.3.1"


def test_loopback_published_port_is_not_reachable_from_outside(
    berth: NetworkController, host: Ns, outside: Ns
) -> None:
    user_net(berth, "front", "10.90.4.0/24")
    web, _ = run_sandbox(
        berth, "web", "front", EndpointSpec(ports=parse_port_spec("127.0.0.1:8081:80"))
    )
    serve(web, 80, tag="web")
    assert call(host, "127.0.0.1", 8081) is not None
    assert call(outside, "198.51.100.1", 8081, timeout=1) is None


def test_udp_publish_and_publish_all(berth: NetworkController, host: Ns, outside: Ns) -> None:
    user_net(berth, "front", "10.90.5.0/24")
    spec = EndpointSpec(
        ports=parse_port_spec("5353:53/udp"),
        exposed=((80, "tcp"), (81, "tcp"), (82, "udp")),
        publish_all=True,
    )
    dns, _ = run_sandbox(berth, "dns", "front", spec)
    serve(dns, 53, proto="udp", tag="dns")
    assert call(outside, "198.51.100.1", 5353, proto="udp") == "dns 198.51.100.2"
    published = berth.endpoint("dns").published
    random_ports = [p.host_port for p in published if p.container_port in (80, 81, 82)]
    assert len(random_ports) == 3 and len(set(random_ports)) == 3
    low, high = (
        int(x) for x in host.run("cat", "/proc/sys/net/ipv4/ip_local_port_range").stdout.split()
    )
    assert all(low <= p <= high for p in random_ports)
    serve(dns, 81, tag="eighty-one")
    port81 = next(p.host_port for p in published if p.container_port == 81)
    assert call(outside, "198.51.100.1", port81) == "eighty-one 198.51.100.2"


def test_isolation_between_networks_and_icc_off(berth: NetworkController) -> None:
    user_net(berth, "front", "10.90.6.0/24")
    user_net(berth, "back", "10.90.7.0/24")
    user_net(
        berth, "quiet", "10.90.8.0/24", options={"com.docker.network.bridge.enable_icc": "false"}
    )
    a, _ = run_sandbox(berth, "a", "front")
    _b, b_ip = run_sandbox(berth, "b", "back")
    q1, q1_ip = run_sandbox(berth, "q1", "quiet")
    q2, _ = run_sandbox(berth, "q2", "quiet")
    assert not ping(a, b_ip)
    assert not ping(q2, q1_ip)
    assert ping(q1, "10.90.8.1") and ping(q2, "10.90.8.1")  # the gateway still answers


def test_internal_network_has_no_outside_reach(
    berth: NetworkController, outside: Ns, host: Ns
) -> None:
    user_net(berth, "vault", "10.90.9.0/24", internal=True)
    a, a_ip = run_sandbox(berth, "a", "vault")
    _b, b_ip = run_sandbox(berth, "b", "vault")
    serve(outside, 7001, tag="internet")
    assert call(a, "198.51.100.2", 7001, timeout=1) is None
    assert "default" not in a.ip("route").stdout
    assert ping(a, b_ip) and ping(host, a_ip)


def test_default_bridge_skips_a_subnet_already_on_the_host(host: Ns, berth_dirs: object) -> None:
    from berth.local import open_controller

    host.ip("link", "add", "docker0", "type", "bridge")
    host.ip("addr", "add", "172.17.0.1/16", "dev", "docker0")
    state, run = berth_dirs  # type: ignore[misc]
    with open_controller(state_dir=str(state), exec_root=str(run), host_ns=host.path) as ctl:
        bridge = ctl.network("bridge")
        assert str(bridge.pools[0].subnet) == "172.18.0.0/16"
        assert bridge.pools[0].gateway == ip_address("172.18.0.1")
        assert "172.18.0.1/16" in host.ip("addr", "show", "berth0").stdout
        assert {n.name for n in ctl.networks()} == {"bridge", "host", "none"}
