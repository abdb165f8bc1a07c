"""Start-up reconciliation over the fake kernel: what is missing is rebuilt from the store, what
berth left behind is removed, and nothing without berth's tag is touched."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_interface, ip_network

import pytest

from berth import EndpointSpec, IpamConfig, IpamPoolConfig, NetworkSpec, SandboxSpec
from berth.controller.config import ControllerConfig
from berth.controller.controller import NetworkController
from berth.daemon.reconcile import firewall_intents, reconcile
from berth.drivers.bridge import BridgeDriver
from berth.drivers.null import HostDriver, NullDriver
from berth.firewall.api import LinkIntent
from berth.firewall.recording import RecordingFirewall
from berth.ipam.default import DefaultIpam
from berth.kernel.api import default_route
from berth.kernel.fake import FakeKernel, fake_kernel
from berth.model.ids import new_id
from berth.model.ports import parse_port_spec
from berth.store.memory import MemoryStore

HOST = None
NETNS_DIR = "/fake/run/netns"

Env = tuple[NetworkController, FakeKernel, RecordingFirewall]


@pytest.fixture
def env() -> Env:
    kernel, fake = fake_kernel()
    firewall = RecordingFirewall()
    ctl = NetworkController(
        config=ControllerConfig(state_dir="/fake/state", exec_root="/fake/run"),
        store=MemoryStore(),
        kernel=kernel,
        ipam={"default": DefaultIpam(host_id="unit")},
        drivers={
            "bridge": BridgeDriver(kernel, firewall),
            "host": HostDriver(),
            "null": NullDriver(),
        },
    )
    return ctl, fake, firewall


def network(ctl: NetworkController, name: str = "front", subnet: str = "10.1.0.0/24") -> str:
    pools = (IpamPoolConfig(subnet=ip_network(subnet)),)
    net = ctl.create_network(NetworkSpec(name=name, ipam=IpamConfig(config=pools)))
    return str(net.driver_state["bridge"])


def joined(ctl: NetworkController, name: str = "web", net: str = "front", **kw: object) -> str:
    """A sandbox on ``net``; returns its endpoint id."""
    ctl.create_sandbox(SandboxSpec(name=name))
    return ctl.connect(net, name, EndpointSpec(**kw)).id  # type: ignore[arg-type]


def link_names(fake: FakeKernel, ns: str | None = HOST) -> set[str]:
    return {info.name for info in fake.list_links(ns)}


def test_a_consistent_system_needs_no_repair_and_the_firewall_is_rebuilt(env: Env) -> None:
    ctl, fake, firewall = env
    bridge = network(ctl)
    joined(ctl, ports=parse_port_spec("8080:80"))
    before = fake.snapshot()
    firewall.networks.clear()
    firewall.bindings.clear()  # as if berth's table had been deleted by hand
    report = reconcile(ctl, firewall)
    assert report.repaired == [] and report.errors == []
    assert fake.snapshot() == before
    assert firewall.calls[-1][0] == "reload"
    assert set(firewall.networks) == {bridge}
    assert [(p.host_port, p.container_port) for p in firewall.ports] == [(8080, 80)]
    assert firewall_intents(ctl)[1] == list(firewall.ports)


def test_orphans_berth_made_are_removed_and_nothing_else(env: Env) -> None:
    ctl, fake, firewall = env
    bridge = network(ctl)
    endpoint = joined(ctl)
    # what a crash mid-operation leaves: a tagged bridge, a tagged veth, a bound namespace
    fake.add_bridge(HOST, "br-orphan", alias=f"berth:{new_id()}")
    fake.create(f"{NETNS_DIR}/stray")
    fake.add_veth(HOST, "vborphan", peer_ns=f"{NETNS_DIR}/stray", peer_name="eth0",
                  alias=f"berth:{new_id()}")  # fmt: skip
    # and what is not berth's: untagged links, other tags, namespaces elsewhere
    fake.add_bridge(HOST, "docker0")
    fake.add_bridge(HOST, "br-user", alias="my bridge")
    fake.create("/fake/elsewhere/ns1")
    fake.add_veth(HOST, "vbuser", peer_ns="/fake/elsewhere/ns1", peer_name="eth0")
    report = reconcile(ctl, firewall)
    assert report.errors == []
    assert link_names(fake) == {"lo", bridge, f"vb{endpoint[:12]}", "docker0", "br-user",
                                "vbuser"}  # fmt: skip
    assert fake.list(NETNS_DIR) == [ctl.sandbox("web").netns_path]
    assert fake.exists("/fake/elsewhere/ns1")
    assert sorted(r.split(" (")[0] for r in report.repaired) == [
        "removed orphan bridge br-orphan",
        f"removed orphan namespace {NETNS_DIR}/stray",
        "removed orphan veth vborphan",
    ]
    assert reconcile(ctl, firewall).repaired == []  # idempotent


def test_a_veth_of_a_stored_but_unjoined_endpoint_is_an_orphan(env: Env) -> None:
    ctl, fake, firewall = env
    network(ctl)
    endpoint = ctl.create_endpoint("front")  # committed; a crash came before join committed
    fake.create(f"{NETNS_DIR}/half")
    fake.add_veth(HOST, f"vb{endpoint.id[:12]}", peer_ns=f"{NETNS_DIR}/half", peer_name="eth0",
                  alias=f"berth:{endpoint.id}")  # fmt: skip
    reconcile(ctl, firewall)
    assert f"vb{endpoint.id[:12]}" not in link_names(fake)
    assert ctl.endpoint(endpoint.id).sandbox_id is None  # the store is not changed


def test_a_missing_bridge_is_recreated_and_its_ports_reattached(env: Env) -> None:
    ctl, fake, firewall = env
    bridge = network(ctl)
    endpoint = joined(ctl)
    fake.delete_link(HOST, bridge)  # ports fall off the bridge
    report = reconcile(ctl, firewall)
    assert report.errors == []
    info = fake.get_link(HOST, bridge)
    assert info is not None and info.up and info.alias == f"berth:{ctl.network('front').id}"
    assert fake.list_addresses(HOST, bridge) == [ip_interface("10.1.0.1/24")]
    port = fake.get_link(HOST, f"vb{endpoint[:12]}")
    assert port is not None and port.master == bridge and port.up
    assert report.repaired == [
        f"network front: re-created bridge {bridge}",
        f"network front: added 10.1.0.1/24 to {bridge}",
        f"endpoint web on network front: re-attached vb{endpoint[:12]} to {bridge}",
    ]
    assert reconcile(ctl, firewall).repaired == []


def test_a_missing_gateway_address_and_a_down_bridge_are_repaired(env: Env) -> None:
    ctl, fake, firewall = env
    bridge = network(ctl)
    fake.delete_address(HOST, bridge, ip_interface("10.1.0.1/24"))
    fake.set_link(HOST, bridge, up=False)
    report = reconcile(ctl, firewall)
    assert report.repaired == [
        f"network front: added 10.1.0.1/24 to {bridge}",
        f"network front: set {bridge} up",
    ]
    info = fake.get_link(HOST, bridge)
    assert info is not None and info.up


def test_a_missing_namespace_releases_its_endpoints(env: Env) -> None:
    ctl, fake, firewall = env
    network(ctl)
    joined(ctl, ports=parse_port_spec("8080:80"))
    web = ctl.sandbox("web")
    fake.remove(web.netns_path)  # a reboot, or someone removed it
    report = reconcile(ctl, firewall)
    assert report.errors == []
    assert ctl.sandboxes() == [] and ctl.endpoints() == []
    assert firewall.ports == frozenset()
    assert "released it and its 1 endpoint(s)" in report.repaired[0]
    joined(ctl, "again", ports=parse_port_spec("8080:80"))  # address and port are free again
    assert str(ctl.endpoints()[0].ipv4) == "10.1.0.2/24"


def test_a_missing_veth_of_a_live_sandbox_is_recreated_with_its_route(env: Env) -> None:
    ctl, fake, firewall = env
    network(ctl)
    endpoint = ctl.endpoint(joined(ctl))
    web = ctl.sandbox("web")
    fake.delete_link(HOST, f"vb{endpoint.id[:12]}")  # takes eth0 and the default route with it
    assert default_route(4) not in fake.list_routes(web.netns_path, 4)
    report = reconcile(ctl, firewall)
    assert report.errors == []
    inside = fake.get_link(web.netns_path, "eth0")
    assert inside is not None and inside.up and inside.mac == endpoint.mac
    assert fake.list_addresses(web.netns_path, "eth0") == [endpoint.ipv4]
    assert default_route(4) in fake.list_routes(web.netns_path, 4)
    assert report.repaired == [
        "endpoint web on network front: re-created its veth",
        "sandbox web: restored its default route via 10.1.0.1",
    ]
    assert reconcile(ctl, firewall).repaired == []


def test_an_adopted_bridge_that_vanished_is_reported_not_recreated(env: Env) -> None:
    ctl, fake, firewall = env
    fake.add_bridge(HOST, "br0")
    pools = (IpamPoolConfig(subnet=ip_network("10.5.0.0/24")),)
    ctl.create_network(
        NetworkSpec(
            name="adopted",
            ipam=IpamConfig(config=pools),
            options={"com.docker.network.bridge.name": "br0"},
        )
    )
    fake.delete_link(HOST, "br0")
    report = reconcile(ctl, firewall)
    assert "br0" not in link_names(fake)
    assert len(report.errors) == 1 and "berth did not create it" in report.errors[0]


def test_failures_are_reported_and_the_rest_goes_on(env: Env) -> None:
    ctl, fake, firewall = env
    network(ctl)
    fake.add_bridge(HOST, "br-orphan", alias=f"berth:{new_id()}")
    firewall.fail_next("reload")
    report = reconcile(ctl, firewall)
    assert len(report.errors) == 1 and report.errors[0].startswith("rebuild the firewall")
    assert "br-orphan" not in link_names(fake)


def test_icc_off_ports_and_links_are_rebuilt(env: Env) -> None:
    """The ports of ICC-off networks come from the store; the links (the runtime's) from the
    given source, and a source that fails costs the links only."""
    ctl, _fake, firewall = env
    quiet = ctl.create_network(
        NetworkSpec(
            name="quiet",
            options={"com.docker.network.bridge.enable_icc": "false"},
            ipam=IpamConfig(config=(IpamPoolConfig(subnet=ip_network("10.3.0.0/24")),)),
        )
    )
    first = ctl.endpoint(joined(ctl, "a", "quiet"))
    joined(ctl, "b", "quiet")
    network(ctl)
    joined(ctl, "c", "front")  # an ICC-on network: no port is announced
    assert set(firewall.endpoints) == {f"vb{e.id[:12]}" for e in ctl.endpoints("quiet")}
    link = LinkIntent("tcp", IPv4Address("10.3.0.2"), IPv4Address("10.3.0.3"), 80, "x")
    firewall.endpoints.clear()
    report = reconcile(ctl, firewall, links=lambda: [link])
    assert report.errors == []
    assert set(firewall.endpoints) == {f"vb{e.id[:12]}" for e in ctl.endpoints("quiet")}
    assert firewall.endpoints[f"vb{first.id[:12]}"].bridge == quiet.driver_state["bridge"]
    assert firewall.links == {link}

    def broken() -> list[LinkIntent]:
        raise OSError("containers.db is unreadable")

    report = reconcile(ctl, firewall, links=broken)
    assert firewall.links == set() and len(firewall.endpoints) == 2
    ctl.disconnect("quiet", "a")
    assert set(firewall.endpoints) == {f"vb{e.id[:12]}" for e in ctl.endpoints("quiet")}
