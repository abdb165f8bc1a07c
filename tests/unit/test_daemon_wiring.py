"""The daemon's wiring over the fake kernel: -b names an existing bridge (whose address becomes
the default network's), the default network follows the configuration across restarts as
dockerd's does, events reach the bus, and --ip-forward=false leaves the sysctl alone."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Interface, ip_interface
from pathlib import Path

import pytest

from berth.controller.controller import NetworkController
from berth.daemon.config import DaemonConfig, merge
from berth.daemon.flags import parse_command_line
from berth.daemon.wiring import (
    adopt_bridge,
    daemon_info,
    ensure_predefined,
    resolv_conf,
    update_dns,
)
from berth.events import Event
from berth.firewall.disabled import DisabledFirewall
from berth.firewall.recording import RecordingFirewall
from berth.kernel.fake import FakeKernel, fake_kernel
from berth.local import build_controller
from berth.model import netlabels as nl
from berth.model.endpoint import SandboxSpec
from berth.model.errors import InvalidParameter
from berth.runtime.etcfiles import ResolvConf


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)


def config(tmp_path: Path, *argv: str) -> DaemonConfig:
    flags = parse_command_line(
        ["--data-root", str(tmp_path / "state"), "--exec-root", "/fake/run", *argv]
    ).flags
    return merge(flags, None)


def open_ctl(
    cfg: DaemonConfig, fake_pair: tuple[object, FakeKernel], sink: Sink | None = None
) -> NetworkController:
    kernel, _fake = fake_pair
    return build_controller(
        replace(cfg.controller_config(), default_bridge=adopt_bridge(cfg, kernel)),  # type: ignore[arg-type]
        kernel,  # type: ignore[arg-type]
        firewall=RecordingFirewall() if cfg.iptables else DisabledFirewall(),
        events=sink,
        ip_forward=cfg.ip_forward,
    )


def test_predefined_networks_and_their_events(tmp_path: Path) -> None:
    pair = fake_kernel()
    sink = Sink()
    ctl = open_ctl(config(tmp_path), pair, sink)
    ensure_predefined(ctl)
    assert sorted(n.name for n in ctl.networks()) == ["bridge", "host", "none"]
    assert pair[1].get_link(None, "berth0") is not None
    assert [(e.type, e.action, e.attributes["name"]) for e in sink.events] == [
        ("network", "create", "bridge"),
        ("network", "create", "host"),
        ("network", "create", "none"),
    ]
    ctl.close()


def test_bridge_none_gives_no_default_network(tmp_path: Path) -> None:
    pair = fake_kernel()
    ctl = open_ctl(config(tmp_path, "-b", "none"), pair)
    ensure_predefined(ctl)
    assert sorted(n.name for n in ctl.networks()) == ["host", "none"]
    ctl.close()


def test_same_configuration_keeps_the_default_network_across_restarts(tmp_path: Path) -> None:
    pair = fake_kernel()
    cfg = config(tmp_path, "--bip", "10.44.0.1/24", "--fixed-cidr", "10.44.0.128/25", "--mtu",
                 "1400", "--icc=false", "--ip", "127.0.0.1")  # fmt: skip
    ctl = open_ctl(cfg, pair)
    ensure_predefined(ctl)
    first = ctl.network("bridge")
    ctl.close()
    ctl = open_ctl(cfg, pair)  # the store round trip must compare equal
    ensure_predefined(ctl)
    assert ctl.network("bridge") == first
    assert first.options[nl.ENABLE_ICC] == "false" and first.options[nl.MTU] == "1400"
    assert pair[1].list_addresses(None, "berth0") == [ip_interface("10.44.0.1/24")]
    ctl.close()


def test_changed_configuration_recreates_an_unused_default_network(tmp_path: Path) -> None:
    pair = fake_kernel()
    ctl = open_ctl(config(tmp_path, "--bip", "10.44.0.1/24"), pair)
    ensure_predefined(ctl)
    ctl.close()
    ctl = open_ctl(config(tmp_path, "--bip", "10.45.0.1/24"), pair)
    ensure_predefined(ctl)
    assert pair[1].list_addresses(None, "berth0") == [ip_interface("10.45.0.1/24")]
    ctl.close()
    ctl = open_ctl(config(tmp_path, "-b", "none"), pair)
    ensure_predefined(ctl)
    assert "bridge" not in {n.name for n in ctl.networks()}
    assert pair[1].get_link(None, "berth0") is None
    ctl.close()


def test_a_used_default_network_is_kept_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pair = fake_kernel()
    ctl = open_ctl(config(tmp_path, "--bip", "10.44.0.1/24"), pair)
    ensure_predefined(ctl)
    ctl.create_sandbox(SandboxSpec(name="web"))
    ctl.connect("bridge", "web")
    ctl.close()
    ctl = open_ctl(config(tmp_path, "--bip", "10.45.0.1/24"), pair)
    ensure_predefined(ctl)
    assert pair[1].list_addresses(None, "berth0") == [ip_interface("10.44.0.1/24")]
    assert "configuration changed" in caplog.text
    ctl.close()


def test_dash_b_needs_an_existing_bridge_and_adopts_its_address(tmp_path: Path) -> None:
    kernel, fake = fake_kernel()
    with pytest.raises(InvalidParameter, match=r"br0 \(-b\) does not exist"):
        adopt_bridge(config(tmp_path, "-b", "br0"), kernel)
    fake.add_veth(None, "br0", peer_ns=None, peer_name="br0peer")
    with pytest.raises(InvalidParameter, match="is a veth, not a bridge"):
        adopt_bridge(config(tmp_path, "-b", "br0"), kernel)
    fake.add_bridge(None, "br1")
    bridge = adopt_bridge(config(tmp_path, "-b", "br1"), kernel)
    assert bridge is not None and bridge.bip is None and bridge.bridge_name == "br1"
    fake.add_address(None, "br1", ip_interface("192.0.2.1/24"))
    bridge = adopt_bridge(config(tmp_path, "-b", "br1"), kernel)
    assert bridge is not None and bridge.bip == IPv4Interface("192.0.2.1/24")


def test_an_adopted_bridge_keeps_its_own_address_and_alias(tmp_path: Path) -> None:
    pair = fake_kernel()
    fake = pair[1]
    fake.add_bridge(None, "br1", alias="mine")
    fake.add_address(None, "br1", ip_interface("192.0.2.1/24"))
    ctl = open_ctl(config(tmp_path, "-b", "br1"), pair)
    ensure_predefined(ctl)
    bridge = ctl.network("bridge")
    assert bridge.driver_state == {
        "bridge": "br1",
        "created_bridge": False,
        "kept_addresses": ["192.0.2.1/24"],
    }
    assert fake.list_addresses(None, "br1") == [ip_interface("192.0.2.1/24")]
    ctl.delete_network("bridge", predefined=True)  # e.g. -b none at the next start
    info = fake.get_link(None, "br1")
    assert info is not None and info.alias == "mine"
    assert fake.list_addresses(None, "br1") == [ip_interface("192.0.2.1/24")]
    ctl.close()


def test_ip_forward_false_leaves_the_sysctl_alone(tmp_path: Path) -> None:
    pair = fake_kernel()
    ctl = open_ctl(config(tmp_path, "--ip-forward=false"), pair)
    ensure_predefined(ctl)
    assert pair[1].read(None, "net/ipv4/ip_forward") == "0"
    ctl.close()
    pair = fake_kernel()
    ctl = open_ctl(config(tmp_path / "b"), pair)
    ensure_predefined(ctl)
    assert pair[1].read(None, "net/ipv4/ip_forward") == "1"
    ctl.close()


def test_daemon_info(tmp_path: Path) -> None:
    cfg = config(tmp_path, "--iptables=false", "--label", "a=b",
                 "--default-address-pool", "base=10.200.0.0/16,size=24")  # fmt: skip
    info = daemon_info(cfg)
    assert info.firewall_backend == "none" and info.labels == ("a=b",)
    assert info.default_address_pools == ({"Base": "10.200.0.0/16", "Size": 24},)
    assert info.data_root == str(tmp_path / "state")


def test_dns_defaults_for_the_runtime_and_their_live_update(tmp_path: Path) -> None:
    cfg = config(tmp_path, "--dns", "192.0.2.53", "--dns-search", "corp.example",
                 "--dns-opt", "ndots:2")  # fmt: skip
    assert resolv_conf(cfg) == ResolvConf(("192.0.2.53",), ("corp.example",), ("ndots:2",))

    class Settable:
        dns: ResolvConf | None = None

        def set_dns(self, dns: ResolvConf) -> None:
            self.dns = dns

    runtime = Settable()
    assert update_dns(runtime, cfg) is True  # type: ignore[arg-type]
    assert runtime.dns == resolv_conf(cfg)
    assert update_dns(object(), cfg) is False  # type: ignore[arg-type]
