"""ICC off and legacy links as the bridge driver tells the firewall (fake kernel, recording
firewall): a port is filtered before it joins its bridge and until it has left it, and links are
opened only where ICC is off."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_network

import pytest

from berth import EndpointSpec, IpamConfig, IpamPoolConfig, NetworkSpec, SandboxSpec
from berth.controller.config import ControllerConfig
from berth.controller.controller import NetworkController
from berth.drivers.bridge import BridgeDriver
from berth.drivers.bridge.intents import endpoint_intent, link_intents
from berth.drivers.null import HostDriver, NullDriver
from berth.firewall.api import EndpointIntent, LinkIntent
from berth.firewall.recording import RecordingFirewall
from berth.ipam.default import DefaultIpam
from berth.kernel.fake import FakeKernel, fake_kernel
from berth.model.errors import KernelError
from berth.store.memory import MemoryStore

ICC_OFF = {"com.docker.network.bridge.enable_icc": "false"}
Env = tuple[NetworkController, FakeKernel, RecordingFirewall, BridgeDriver]


@pytest.fixture
def env() -> Env:
    kernel, fake = fake_kernel()
    firewall = RecordingFirewall()
    driver = BridgeDriver(kernel, firewall)
    ctl = NetworkController(
        config=ControllerConfig(state_dir="/fake/state", exec_root="/fake/run"),
        store=MemoryStore(),
        kernel=kernel,
        ipam={"default": DefaultIpam(host_id="unit")},
        drivers={"bridge": driver, "host": HostDriver(), "null": NullDriver()},
    )
    for name, subnet, options in (
        ("quiet", "10.3.0.0/24", ICC_OFF),
        ("chatty", "10.4.0.0/24", {}),
    ):
        pools = (IpamPoolConfig(subnet=ip_network(subnet)),)
        ctl.create_network(NetworkSpec(name=name, options=options, ipam=IpamConfig(config=pools)))
    return ctl, fake, firewall, driver


def join(ctl: NetworkController, name: str, net: str) -> str:
    ctl.create_sandbox(SandboxSpec(name=name))
    return ctl.connect(net, name, EndpointSpec()).id


def test_port_is_announced_before_the_veth_and_withdrawn_after(env: Env) -> None:
    ctl, fake, firewall, _ = env
    endpoint_id = join(ctl, "a", "quiet")
    port = f"vb{endpoint_id[:12]}"
    calls = [c[0] for c in firewall.calls]
    assert calls[-1] == "add_endpoint"  # before add_veth, which records no firewall call
    assert firewall.endpoints[port].bridge == ctl.network("quiet").driver_state["bridge"]
    assert port in {link.name for link in fake.list_links(None)}
    join(ctl, "b", "chatty")
    assert set(firewall.endpoints) == {port}  # ICC on: nothing to filter
    ctl.disconnect("quiet", "a")
    assert firewall.endpoints == {}
    assert firewall.calls[-1] == ("remove_endpoint", EndpointIntent(port))


def test_a_failed_veth_withdraws_the_port(env: Env) -> None:
    ctl, fake, firewall, _ = env
    ctl.create_sandbox(SandboxSpec(name="a"))
    fake.fail_next("add_veth", KernelError("no veth today"))
    with pytest.raises(KernelError):
        ctl.connect("quiet", "a", EndpointSpec())
    assert firewall.endpoints == {}
    assert [c[0] for c in firewall.calls][-2:] == ["add_endpoint", "remove_endpoint"]


def test_links_open_only_where_icc_is_off(env: Env) -> None:
    ctl, _, firewall, driver = env
    quiet, chatty = ctl.network("quiet"), ctl.network("chatty")
    parent, child = (ctl.endpoint(join(ctl, n, "quiet")) for n in ("p", "c"))
    links = link_intents(quiet, parent, child, [(80, "tcp"), (53, "udp"), (80, "tcp")])
    assert links == [
        LinkIntent("udp", IPv4Address("10.3.0.2"), IPv4Address("10.3.0.3"), 53),
        LinkIntent("tcp", IPv4Address("10.3.0.2"), IPv4Address("10.3.0.3"), 80),
    ]
    assert {link.bridge for link in links} == {quiet.driver_state["bridge"]}
    driver.open_links(quiet, links)
    assert firewall.links == set(links)
    driver.close_links(quiet, links[:1])
    assert firewall.links == set(links[1:])
    other = ctl.endpoint(join(ctl, "o", "chatty"))
    assert link_intents(chatty, other, other, [(80, "tcp")]) == []
    driver.open_links(chatty, links)  # ICC on: the firewall is not asked
    assert firewall.calls[-1][0] == "close_links"


def test_endpoint_intent_only_for_joined_endpoints_of_icc_off_networks(env: Env) -> None:
    ctl, _, _, _ = env
    quiet, chatty = ctl.network("quiet"), ctl.network("chatty")
    joined = ctl.endpoint(join(ctl, "a", "quiet"))
    intent = endpoint_intent(quiet, joined)
    assert intent == EndpointIntent(f"vb{joined.id[:12]}")
    other = ctl.endpoint(join(ctl, "b", "chatty"))
    assert endpoint_intent(chatty, other) is None
    ctl.disconnect("quiet", "a")
