"""The controller and the bridge driver over the fake kernel: lifecycles, rules, rollback."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from ipaddress import IPv4Address, ip_address, ip_interface, ip_network

import pytest

from berth import EndpointSpec, IpamConfig, IpamPoolConfig, NetworkSpec, SandboxSpec
from berth.controller.config import ControllerConfig
from berth.controller.controller import NetworkController
from berth.drivers.bridge import BridgeDriver
from berth.drivers.null import HostDriver, NullDriver
from berth.firewall.nftables import NftFirewall
from berth.ipam.default import DefaultIpam
from berth.kernel.api import Kernel
from berth.kernel.fake import FakeKernel, fake_kernel
from berth.model.errors import (
    ActiveEndpoints,
    AmbiguousReference,
    BerthError,
    DriverNotFound,
    EndpointExists,
    Forbidden,
    InvalidAddress,
    InvalidName,
    InvalidParameter,
    InvalidSubnet,
    NameInUse,
    NetworkNotFound,
    PoolOverlap,
    PortInUse,
    PredefinedNetwork,
    UnknownOption,
)
from berth.model.network import parse_pool_config
from berth.model.ports import parse_port_spec
from berth.store.memory import MemoryStore

HOST = None


def make(kernel: Kernel, store: MemoryStore | None = None) -> NetworkController:
    firewall = NftFirewall(kernel.nft)
    return NetworkController(
        config=ControllerConfig(state_dir="/fake/state", exec_root="/fake/run"),
        store=store or MemoryStore(),
        kernel=kernel,
        ipam={"default": DefaultIpam(host_id="unit")},
        drivers={
            "bridge": BridgeDriver(kernel, firewall),
            "host": HostDriver(),
            "null": NullDriver(),
        },
    )


@pytest.fixture
def env() -> tuple[NetworkController, FakeKernel]:
    kernel, fake = fake_kernel()
    return make(kernel), fake


def spec(name: str = "front", subnet: str | None = "10.1.0.0/24", **kw: object) -> NetworkSpec:
    pools = (IpamPoolConfig(subnet=ip_network(subnet)),) if subnet else ()
    kw.setdefault("ipam", IpamConfig(config=pools))
    return NetworkSpec(name=name, **kw)  # type: ignore[arg-type]


def link(fake: FakeKernel, ns: str | None, name: str):  # type: ignore[no-untyped-def]
    return fake.get_link(ns, name)


def test_create_network_builds_the_bridge(env: tuple[NetworkController, FakeKernel]) -> None:
    ctl, fake = env
    net = ctl.create_network(spec())
    bridge = f"br-{net.id[:12]}"
    assert net.driver_state == {"bridge": bridge, "created_bridge": True}
    info = link(fake, HOST, bridge)
    assert info is not None and info.kind == "bridge" and info.up
    assert info.alias == f"berth:{net.id}"
    assert [str(a) for a in fake.list_addresses(HOST, bridge)] == ["10.1.0.1/24"]
    assert fake.read(HOST, "net/ipv4/ip_forward") == "1"
    assert fake.read(HOST, f"net/ipv4/conf/{bridge}/route_localnet") == "1"
    assert any(bridge in s for s in fake.nft_scripts)
    assert ctl.network("front") == net == ctl.network(net.id[:5])


def test_connect_creates_the_veth_inside_the_sandbox(
    env: tuple[NetworkController, FakeKernel],
) -> None:
    ctl, fake = env
    net = ctl.create_network(spec())
    sandbox = ctl.create_sandbox(SandboxSpec(name="web", hostname="web"))
    ep = ctl.connect("front", "web")
    assert (str(ep.ipv4), ep.ifname, ep.mac) == ("10.1.0.2/24", "eth0", "02:42:0a:01:00:02")
    assert ep.gateway4 == IPv4Address("10.1.0.1") and ep.name == "web"
    host_end = link(fake, HOST, f"vb{ep.id[:12]}")
    assert host_end.master == f"br-{net.id[:12]}" and host_end.up
    inside = link(fake, sandbox.netns_path, "eth0")
    assert inside.mac == "02:42:0a:01:00:02" and inside.up
    assert [str(a) for a in fake.list_addresses(sandbox.netns_path, "eth0")] == ["10.1.0.2/24"]
    adds = [c for c in fake.calls if c[0] == "add_veth"]
    assert adds[-1][1]["peer_ns"] == sandbox.netns_path  # created in place, never moved
    assert ctl.sandbox("web").gateway_endpoint == ep.id
    second = ctl.connect("front", ctl.create_sandbox(SandboxSpec(name="db")).id)
    assert str(second.ipv4) == "10.1.0.3/24"


def test_only_a_detach_leaves_the_veth_deletion_to_the_background(
    env: tuple[NetworkController, FakeKernel],
) -> None:
    ctl, fake = env
    ctl.create_network(spec())
    ctl.create_sandbox(SandboxSpec(name="a"))

    def deletions(action: Callable[[], object]) -> list[tuple[str, str | None]]:
        start = len(fake.calls)
        with contextlib.suppress(BerthError):
            action()
        deleting = ("detach_veth", "delete_link")
        return [(name, args.get("alias")) for name, args in fake.calls[start:] if name in deleting]

    endpoint = ctl.connect("front", "a")
    assert deletions(lambda: ctl.disconnect("front", "a")) == [
        ("detach_veth", f"berth:detached-{endpoint.id}")  # the orphan sweep's, after a crash
    ]
    fake.fail_next("add_route")
    assert deletions(lambda: ctl.connect("front", "a")) == [("delete_link", None)]  # rollback
    ctl.connect("front", "a")
    assert deletions(lambda: ctl.delete_sandbox("a")) == [("delete_link", None)]


def test_disconnect_and_delete_remove_everything(env: tuple[NetworkController, FakeKernel]) -> None:
    ctl, fake = env
    empty = fake.snapshot()
    ctl.create_network(spec())
    ctl.create_sandbox(SandboxSpec(name="web"))
    ctl.connect("front", "web", EndpointSpec(ports=parse_port_spec("8080:80")))
    with pytest.raises(ActiveEndpoints):
        ctl.delete_network("front")
    ctl.disconnect("front", "web")
    assert ctl.endpoints() == []
    ctl.delete_sandbox("web")
    ctl.delete_network("front")
    after = fake.snapshot()
    assert [ns.path for ns in after.namespaces] == [ns.path for ns in empty.namespaces]
    assert [link.info.name for ns in after.namespaces for link in ns.links] == [
        link.info.name for ns in empty.namespaces for link in ns.links
    ]
    assert ctl.networks() == [] and ctl.sandboxes() == []


@pytest.mark.parametrize(
    ("make_spec", "error"),
    [
        (lambda: spec(name="bad name"), InvalidName),
        (lambda: spec(name="bridge"), PredefinedNetwork),
        (lambda: spec(driver="nope"), DriverNotFound),
        (lambda: spec(options={"com.docker.network.bridge.enable_icc": "maybe"}), InvalidParameter),
        (lambda: spec(options={"colour": "blue"}), UnknownOption),
        (lambda: spec(subnet="fd00::/64"), InvalidParameter),  # IPv6 without enable_ipv6
    ],
)
def test_invalid_network_requests_change_nothing(
    env: tuple[NetworkController, FakeKernel],
    make_spec: Callable[[], NetworkSpec],
    error: type[BerthError],
) -> None:
    ctl, fake = env
    before = fake.snapshot(include_nft=True)
    with pytest.raises(error):
        ctl.create_network(make_spec())
    assert fake.snapshot(include_nft=True) == before
    assert ctl.networks() == []


def test_duplicate_and_overlapping_networks(env: tuple[NetworkController, FakeKernel]) -> None:
    ctl, _ = env
    ctl.create_network(spec())
    with pytest.raises(NameInUse, match="network with name front already exists"):
        ctl.create_network(spec(subnet="10.2.0.0/24"))
    with pytest.raises(
        PoolOverlap, match=r"10\.1\.0\.0/25 overlaps with the pool of network front"
    ):
        ctl.create_network(spec(name="other", subnet="10.1.0.0/25"))


def test_references(env: tuple[NetworkController, FakeKernel]) -> None:
    ctl, _ = env
    with pytest.raises(NetworkNotFound, match="network nope not found"):
        ctl.network("nope")
    a = ctl.create_network(spec("a", "10.3.0.0/24", id="ab" + "1" * 62))
    b = ctl.create_network(spec("b", "10.4.0.0/24", id="ab" + "2" * 62))
    assert ctl.network(a.id) == ctl.network("a") == ctl.network("ab1")
    assert ctl.network("ab2") == b
    with pytest.raises(AmbiguousReference, match="'ab' is ambiguous"):
        ctl.network("ab")
    with pytest.raises(NetworkNotFound):
        ctl.network("")


def fault_points(fake: FakeKernel) -> list[tuple[str, int]]:
    methods = [
        "create",
        "add_bridge",
        "add_veth",
        "set_link",
        "set_bridge_port",
        "add_address",
        "configure_link",
        "add_route",
        "run",
        "write",
    ]
    return [(m, k) for m in methods for k in range(4)]


def test_rollback_at_every_step_of_connect(env: tuple[NetworkController, FakeKernel]) -> None:
    ctl, fake = env
    ctl.create_network(
        spec(
            enable_ipv6=True,
            ipam=IpamConfig(
                config=(
                    IpamPoolConfig(subnet=ip_network("10.1.0.0/24")),
                    IpamPoolConfig(subnet=ip_network("fd00:1::/64")),
                )
            ),
        )
    )
    ctl.create_sandbox(SandboxSpec(name="web"))
    before = fake.snapshot()
    failed = 0
    for method, after in fault_points(fake):
        fake.fail_next(method, after=after)
        try:
            ctl.connect("front", "web", EndpointSpec(ports=parse_port_spec("8080:80")))
        except BerthError:
            failed += 1
            assert fake.snapshot() == before, (method, after)
            assert ctl.endpoints() == []
            continue
        finally:
            fake.clear_faults()
        ctl.disconnect("front", "web")
        assert fake.snapshot() == before
    assert failed >= 7  # add_veth, configure_link, 2 routes, nft, 2 IPv6 sysctls


def test_rollback_at_every_step_of_create_network(
    env: tuple[NetworkController, FakeKernel],
) -> None:
    ctl, fake = env
    ctl.create_network(spec("warm", "10.9.0.0/24"))  # global sysctls and the table exist now
    before = fake.snapshot()
    failed = 0
    for method, after in fault_points(fake):
        fake.fail_next(method, after=after)
        try:
            ctl.create_network(spec())
        except BerthError:
            failed += 1
            assert fake.snapshot() == before, (method, after)
            assert [n.name for n in ctl.networks()] == ["warm"]
            continue
        finally:
            fake.clear_faults()
        ctl.delete_network("front")
    assert failed >= 5


def test_ports_conflict_across_networks_and_with_host_sockets(
    env: tuple[NetworkController, FakeKernel],
) -> None:
    ctl, fake = env
    ctl.create_network(spec())
    ctl.create_network(spec("back", "10.2.0.0/24"))
    for name in ("a", "b", "c"):
        ctl.create_sandbox(SandboxSpec(name=name))
    ctl.connect("front", "a", EndpointSpec(ports=parse_port_spec("8080:80")))
    with pytest.raises(PortInUse, match="endpoint a on network front"):
        ctl.connect("back", "b", EndpointSpec(ports=parse_port_spec("127.0.0.1:8080:80")))
    fake.hold_port(HOST, "udp", ip_address("0.0.0.0"), 5353)
    with pytest.raises(PortInUse, match="another program"):
        ctl.connect("back", "c", EndpointSpec(ports=parse_port_spec("5353:53/udp")))
    ctl.disconnect("front", "a")
    assert ctl.connect("back", "b", EndpointSpec(ports=parse_port_spec("8080:80"))).published


def test_static_addresses_and_aliases_need_user_defined_networks(
    env: tuple[NetworkController, FakeKernel],
) -> None:
    ctl, _ = env
    ctl.ensure_predefined_networks()
    ctl.create_network(spec("auto", subnet=None))
    ctl.create_sandbox(SandboxSpec(name="a"))
    with pytest.raises(InvalidParameter, match="user defined networks only"):
        ctl.connect("bridge", "a", EndpointSpec(ipv4=IPv4Address("172.17.0.9")))
    with pytest.raises(InvalidParameter, match="aliases are only supported"):
        ctl.connect("bridge", "a", EndpointSpec(aliases=("x",)))
    with pytest.raises(InvalidParameter, match="user configured subnets"):
        ctl.connect("auto", "a", EndpointSpec(ipv4=IPv4Address("172.18.0.9")))
    ctl.create_network(spec())
    assert (
        str(ctl.connect("front", "a", EndpointSpec(ipv4=IPv4Address("10.1.0.77"))).ipv4)
        == "10.1.0.77/24"
    )


def test_gateway_follows_priority_and_moves_on_disconnect(
    env: tuple[NetworkController, FakeKernel],
) -> None:
    ctl, fake = env
    ctl.create_network(spec())
    ctl.create_network(spec("back", "10.2.0.0/24"))
    ctl.create_network(spec("vault", "10.3.0.0/24", internal=True))
    sandbox = ctl.create_sandbox(SandboxSpec(name="a"))
    vault = ctl.connect("vault", "a")
    assert vault.gateway4 is None and ctl.sandbox("a").gateway_endpoint is None
    front = ctl.connect("front", "a")
    back = ctl.connect("back", "a", EndpointSpec(gw_priority=10))
    assert (vault.ifname, front.ifname, back.ifname) == ("eth0", "eth1", "eth2")
    assert ctl.sandbox("a").gateway_endpoint == back.id

    def default_routes() -> list[str]:
        ns = next(n for n in fake.snapshot().namespaces if n.path == sandbox.netns_path)
        return [f"{r.gateway} {r.dev}" for r in ns.routes if r.dst.prefixlen == 0]

    assert default_routes() == ["10.2.0.1 eth2"]
    ctl.disconnect("back", "a")
    assert default_routes() == ["10.1.0.1 eth1"]
    assert ctl.sandbox("a").gateway_endpoint == front.id


def test_host_and_none_rules(env: tuple[NetworkController, FakeKernel]) -> None:
    ctl, _ = env
    ctl.ensure_predefined_networks()
    ctl.create_network(spec())
    ctl.create_sandbox(SandboxSpec(name="a"))
    ctl.connect("none", "a")
    with pytest.raises(Forbidden, match="none network"):
        ctl.connect("front", "a")
    with pytest.raises(Forbidden, match="only host-mode"):
        ctl.connect("host", "a")
    with pytest.raises(EndpointExists):
        ctl.connect("none", "a")
    with pytest.raises(PredefinedNetwork):
        ctl.delete_network("none")


def test_two_controllers_share_one_store() -> None:
    kernel, _ = fake_kernel()
    store = MemoryStore()
    first, second = make(kernel, store), make(kernel, store)
    first.create_network(spec())
    assert second.network("front").name == "front"
    second.create_sandbox(SandboxSpec(name="a"))
    assert str(first.connect("front", "a").ipv4) == "10.1.0.2/24"
    first.create_sandbox(SandboxSpec(name="b"))
    assert str(second.connect("front", "b").ipv4) == "10.1.0.3/24"


def test_default_bridge_avoids_host_prefixes() -> None:
    kernel, fake = fake_kernel()
    fake.add_bridge(HOST, "docker0")
    fake.add_address(HOST, "docker0", ip_interface("172.17.0.1/16"))
    fake.set_link(HOST, "docker0", up=True)
    ctl = make(kernel)
    ctl.ensure_predefined_networks()
    bridge = ctl.network("bridge")
    assert str(bridge.pools[0].subnet) == "172.18.0.0/16"
    assert bridge.driver_state["bridge"] == "berth0"


def test_parse_pool_config_names_bad_values() -> None:
    with pytest.raises(InvalidSubnet, match=r"'10\.1\.0\.1/24'.*host bits"):
        parse_pool_config(subnet="10.1.0.1/24")
    with pytest.raises(InvalidAddress, match="gateway"):
        parse_pool_config(subnet="10.1.0.0/24", gateway="10.1.0.x")
    cfg = parse_pool_config("10.1.0.0/24", "10.1.0.128/25", "10.1.0.1", {"h": "10.1.0.5"})
    assert cfg.aux_addresses == {"h": ip_address("10.1.0.5")}


def test_network_events_are_published_after_commit() -> None:
    from berth.events import Event

    seen: list[Event] = []

    class Sink:
        def publish(self, event: Event) -> None:
            seen.append(event)

    kernel, fake = fake_kernel()
    ctl = make(kernel)
    ctl.events = Sink()
    net = ctl.create_network(spec())
    sandbox = ctl.create_sandbox(SandboxSpec(name="a"))
    ctl.connect("front", "a")
    fake.fail_next("add_veth")
    ctl.create_sandbox(SandboxSpec(name="b"))
    with pytest.raises(BerthError):
        ctl.connect("front", "b")  # rolled back: no event
    ctl.disconnect("front", "a")
    ctl.delete_network("front")
    assert [(e.action, e.actor_id, e.attributes.get("container")) for e in seen] == [
        ("create", net.id, None),
        ("connect", net.id, sandbox.id),
        ("disconnect", net.id, sandbox.id),
        ("destroy", net.id, None),
    ]
    assert seen[0].attributes == {"name": "front", "type": "bridge"}
