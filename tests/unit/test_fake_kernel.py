"""The fake kernel remembers state and fails like the kernel (the integration tests in
tests/integration/test_kernel_*.py check the same errnos against the real thing)."""

from __future__ import annotations

import errno
from collections.abc import Callable
from ipaddress import ip_address, ip_interface, ip_network
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.kernel.api import Kernel, default_route
from berth.kernel.fake import HOST, FakeConntrackEntry, FakeKernel, fake_kernel, kernel_error
from berth.model.errors import KernelError

SB = "/run/berth/netns/sb1"


@pytest.fixture
def fake() -> FakeKernel:
    return FakeKernel()


def errno_of(excinfo: pytest.ExceptionInfo[KernelError]) -> int | None:
    return excinfo.value.errno


def attached(fake: FakeKernel) -> None:
    """A bridge with a gateway address and a sandbox joined by a veth, all up."""
    fake.create(SB)
    fake.add_bridge(None, "br0")
    fake.add_address(None, "br0", ip_interface("10.1.0.1/24"))
    fake.set_link(None, "br0", up=True)
    fake.add_veth(None, "vh0", peer_ns=SB, peer_name="eth0", peer_mac="02:42:0a:01:00:02")
    fake.set_link(None, "vh0", master="br0", up=True)
    fake.add_address(SB, "eth0", ip_interface("10.1.0.2/24"))
    fake.set_link(SB, "eth0", up=True)


# --- namespaces --------------------------------------------------------------------------------


def test_a_new_namespace_has_loopback_up(fake: FakeKernel) -> None:
    fake.create(SB)
    (lo,) = fake.list_links(SB)
    assert (lo.name, lo.index, lo.kind, lo.up, lo.mtu) == ("lo", 1, "", True, 65536)
    assert fake.list_addresses(SB, "lo") == [ip_interface("127.0.0.1/8"), ip_interface("::1/128")]
    assert fake.list_routes(SB) == []  # lo's routes live in table local


def test_namespace_lifecycle(fake: FakeKernel) -> None:
    fake.create(SB)
    fake.create("/run/berth/netns/sb2")
    fake.create("/elsewhere/sb3")
    assert fake.exists(SB)
    assert fake.list("/run/berth/netns/") == [SB, "/run/berth/netns/sb2"]
    with pytest.raises(KernelError) as excinfo:
        fake.create(SB)
    assert errno_of(excinfo) == errno.EEXIST
    assert fake.remove(SB) is True
    assert fake.remove(SB) is False
    assert not fake.exists(SB)


def test_calls_in_a_missing_namespace(fake: FakeKernel) -> None:
    with pytest.raises(KernelError) as excinfo:
        fake.add_bridge(SB, "br0")
    assert errno_of(excinfo) == errno.ENOENT
    with pytest.raises(KernelError) as excinfo:
        fake.read(SB, "net/ipv4/ip_forward")
    assert errno_of(excinfo) == errno.ENOENT
    assert fake.delete_link(SB, "eth0") is False  # already gone, with its namespace
    assert fake.delete_route(SB, default_route(4)) is False


def test_removing_a_namespace_deletes_its_links_and_their_peers(fake: FakeKernel) -> None:
    attached(fake)
    fake.hold_port(SB, "tcp", ip_address("0.0.0.0"), 80)
    fake.remove(SB)
    assert fake.get_link(None, "vh0") is None
    assert not fake.ports
    assert "net/ipv4/conf/vh0/forwarding" not in dict(fake.snapshot().namespaces[0].sysctls)


# --- links -------------------------------------------------------------------------------------


def test_veth_peer_is_created_in_the_peer_namespace(fake: FakeKernel) -> None:
    fake.create(SB)
    fake.add_veth(
        None, "vh0", peer_ns=SB, peer_name="eth0", mtu=1450, peer_mac="02:42:AC:11:00:02",
        alias="berth:ep1",
    )  # fmt: skip
    host_end, peer = fake.get_link(None, "vh0"), fake.get_link(SB, "eth0")
    assert host_end is not None and peer is not None
    assert (host_end.kind, host_end.mtu, host_end.up, host_end.alias) == (
        "veth",
        1450,
        False,
        "berth:ep1",
    )
    assert (peer.mac, peer.mtu, peer.alias, peer.index) == ("02:42:ac:11:00:02", 1450, None, 2)
    assert fake.get_link(None, "eth0") is None
    assert host_end.mac != peer.mac


def test_link_name_errors(fake: FakeKernel) -> None:
    fake.add_bridge(None, "br0")
    cases: list[tuple[Callable[[], None], int]] = [
        (lambda: fake.add_bridge(None, "br0"), errno.EEXIST),
        (lambda: fake.add_bridge(None, "x" * 16), errno.ERANGE),
        (lambda: fake.add_bridge(None, "a/b"), errno.EINVAL),
        (lambda: fake.add_veth(None, "v0", peer_ns=None, peer_name="br0"), errno.EEXIST),
        (lambda: fake.add_veth(None, "v0", peer_ns=None, peer_name="v0"), errno.EEXIST),
        (lambda: fake.add_veth(None, "v0", peer_ns=SB, peer_name="eth0"), errno.ENOENT),
        (lambda: fake.add_bridge(None, "br1", mtu=20), errno.EINVAL),
    ]
    before = fake.snapshot()
    for call, code in cases:
        with pytest.raises(KernelError) as excinfo:
            call()
        assert errno_of(excinfo) == code
    assert fake.snapshot() == before


def test_deleting_either_veth_end_deletes_both(fake: FakeKernel) -> None:
    attached(fake)
    assert fake.delete_link(SB, "eth0") is True
    assert fake.get_link(None, "vh0") is None
    assert fake.delete_link(None, "vh0") is False
    assert fake.list_routes(SB) == []


def test_set_link_in_one_call(fake: FakeKernel) -> None:
    attached(fake)
    fake.set_link(None, "vh0", mtu=1400, mac="02:00:00:00:00:09")
    link = fake.get_link(None, "vh0")
    assert link is not None
    assert (link.master, link.up, link.mtu, link.mac) == ("br0", True, 1400, "02:00:00:00:00:09")


def test_set_link_errors(fake: FakeKernel) -> None:
    attached(fake)
    cases = [
        ({"name": "nope", "up": True}, errno.ENODEV),
        ({"name": "vh0", "master": "nope"}, errno.ENODEV),
        ({"name": "vh0", "master": "lo"}, errno.EOPNOTSUPP),
        ({"name": "vh0", "mac": "zz"}, errno.EINVAL),
        ({"name": "vh0", "mac": "01:00:5e:00:00:01"}, errno.EADDRNOTAVAIL),
        ({"name": "vh0", "mtu": 65536}, errno.EINVAL),
    ]
    for kwargs, code in cases:
        with pytest.raises(KernelError) as excinfo:
            fake.set_link(None, **kwargs)  # type: ignore[arg-type]
        assert errno_of(excinfo) == code, kwargs


def test_bridge_ports(fake: FakeKernel) -> None:
    attached(fake)
    fake.set_bridge_port(None, "vh0", isolated=True, hairpin=True)
    (port,) = [link for link in fake.snapshot().namespaces[0].links if link.info.name == "vh0"]
    assert (port.isolated, port.hairpin, port.peer) == (True, True, (SB, "eth0"))
    with pytest.raises(KernelError) as excinfo:
        fake.set_bridge_port(None, "br0", hairpin=True)
    assert errno_of(excinfo) == errno.EOPNOTSUPP
    fake.delete_link(None, "br0")
    link = fake.get_link(None, "vh0")
    assert link is not None and link.master is None


def test_veth_created_up_as_a_bridge_port_in_one_call(fake: FakeKernel) -> None:
    fake.create(SB)
    fake.add_bridge(None, "br0")
    fake.add_veth(
        None, "vh0", peer_ns=SB, peer_name="eth0", master="br0", up=True, hairpin=True,
        isolated=False,
    )  # fmt: skip
    (port,) = [link for link in fake.snapshot().namespaces[0].links if link.info.name == "vh0"]
    assert (port.info.master, port.info.up) == ("br0", True)
    assert (port.hairpin, port.isolated) == (True, False)
    peer = fake.get_link(SB, "eth0")
    assert peer is not None and not peer.up  # the kernel refuses IFF_UP on a peer at creation
    before = fake.snapshot()
    cases: list[tuple[dict[str, Any], int]] = [
        ({"master": "nope"}, errno.ENODEV),
        ({"master": "lo"}, errno.EOPNOTSUPP),
        ({"hairpin": True}, errno.EOPNOTSUPP),  # bridge-port flags without a bridge
    ]
    for kwargs, code in cases:  # all or nothing
        with pytest.raises(KernelError) as excinfo:
            fake.add_veth(None, "v1", peer_ns=SB, peer_name="e1", **kwargs)
        assert errno_of(excinfo) == code, kwargs
    assert fake.snapshot() == before


def test_configure_link_adds_addresses_then_sets_up_or_does_nothing(fake: FakeKernel) -> None:
    fake.create(SB)
    fake.add_veth(None, "vh0", peer_ns=SB, peer_name="eth0")
    v4, v6 = ip_interface("10.1.0.2/24"), ip_interface("fd00::2/64")
    before = fake.snapshot()
    for addresses, name, code in [
        ([v4, v4], "eth0", errno.EEXIST),
        ([v6, ip_interface("fd00::2/48")], "eth0", errno.EEXIST),
        ([v4], "nope", errno.ENODEV),
    ]:
        with pytest.raises(KernelError) as excinfo:
            fake.configure_link(SB, name, addresses=addresses)
        assert errno_of(excinfo) == code
    assert fake.snapshot() == before
    fake.configure_link(SB, "eth0", addresses=[v4, v6])
    link = fake.get_link(SB, "eth0")
    assert link is not None and link.up
    assert fake.list_addresses(SB, "eth0") == [v4, v6]


def test_detach_veth_deletes_the_pair(fake: FakeKernel) -> None:
    attached(fake)
    assert fake.detach_veth(None, "vh0", peer_ns=SB, peer_name="eth0", alias="berth:x") is True
    assert fake.get_link(None, "vh0") is None and fake.get_link(SB, "eth0") is None
    assert fake.list_routes(SB) == []
    assert fake.detach_veth(None, "vh0", peer_ns=SB, peer_name="eth0") is False
    assert fake.detach_veth("/no/such/netns", "vh0", peer_ns=SB, peer_name="eth0") is False


# --- addresses and routes ----------------------------------------------------------------------


def test_addresses(fake: FakeKernel) -> None:
    attached(fake)
    fake.add_address(None, "br0", ip_interface("10.1.0.1/16"))  # same IPv4, other prefix: fine
    fake.add_address(None, "br0", ip_interface("fd00::1/64"))
    for address, code in [
        (ip_interface("10.1.0.1/24"), errno.EEXIST),
        (ip_interface("fd00::1/48"), errno.EEXIST),
    ]:
        with pytest.raises(KernelError) as excinfo:
            fake.add_address(None, "br0", address)
        assert errno_of(excinfo) == code
    with pytest.raises(KernelError) as excinfo:
        fake.add_address(None, "nope", ip_interface("10.9.0.1/24"))
    assert errno_of(excinfo) == errno.ENODEV
    assert fake.delete_address(None, "br0", ip_interface("10.1.0.1/16")) is True
    assert fake.delete_address(None, "br0", ip_interface("10.1.0.1/16")) is False
    assert fake.delete_address(None, "nope", ip_interface("10.1.0.1/16")) is False
    assert fake.list_addresses(None, "br0") == [
        ip_interface("10.1.0.1/24"),
        ip_interface("fd00::1/64"),
    ]
    assert ip_interface("10.1.0.2/24") in fake.list_addresses(SB)


def test_default_route_needs_an_on_link_gateway(fake: FakeKernel) -> None:
    fake.create(SB)
    fake.add_veth(None, "vh0", peer_ns=SB, peer_name="eth0")
    fake.add_address(SB, "eth0", ip_interface("10.1.0.2/24"))
    gateway = ip_address("10.1.0.1")
    with pytest.raises(KernelError) as excinfo:  # the link is down: no prefix route yet
        fake.add_route(SB, default_route(4), gateway=gateway)
    assert errno_of(excinfo) == errno.ENETUNREACH
    fake.set_link(SB, "eth0", up=True)
    fake.add_route(SB, default_route(4), gateway=gateway)
    with pytest.raises(KernelError) as excinfo:
        fake.add_route(SB, default_route(4), gateway=ip_address("10.1.0.3"))
    assert errno_of(excinfo) == errno.EEXIST
    fake.add_route(SB, default_route(4), gateway=ip_address("10.1.0.3"), metric=10)
    with pytest.raises(KernelError) as excinfo:
        fake.add_route(SB, default_route(6), gateway=ip_address("fd00::1"))
    assert errno_of(excinfo) == errno.EHOSTUNREACH
    assert fake.list_routes(SB) == [ip_network("10.1.0.0/24"), default_route(4)]


def test_device_routes(fake: FakeKernel) -> None:
    fake.add_bridge(None, "br0")
    with pytest.raises(KernelError) as excinfo:
        fake.add_route(None, ip_network("10.2.0.0/16"), dev="br0")
    assert errno_of(excinfo) == errno.ENETDOWN
    with pytest.raises(KernelError) as excinfo:
        fake.add_route(None, ip_network("10.2.0.0/16"), dev="nope")
    assert errno_of(excinfo) == errno.ENODEV
    fake.set_link(None, "br0", up=True)
    fake.add_route(None, ip_network("10.2.0.0/16"), dev="br0")
    assert fake.list_routes(None) == [ip_network("10.2.0.0/16")]
    assert fake.delete_route(None, ip_network("10.2.0.0/16"), dev="lo") is False
    assert fake.delete_route(None, ip_network("10.2.0.0/16")) is True
    assert fake.delete_route(None, ip_network("10.2.0.0/16")) is False


def test_link_down_drops_routes_and_ipv6_addresses(fake: FakeKernel) -> None:
    attached(fake)
    fake.add_address(SB, "eth0", ip_interface("fd00::2/64"))
    fake.add_route(SB, default_route(4), gateway=ip_address("10.1.0.1"))
    assert fake.list_routes(SB, 6) == [ip_network("fd00::/64")]
    fake.set_link(SB, "eth0", up=False)
    assert fake.list_routes(SB) == [] and fake.list_routes(SB, 6) == []
    assert fake.list_addresses(SB, "eth0") == [ip_interface("10.1.0.2/24")]


def test_deleting_a_link_drops_its_routes(fake: FakeKernel) -> None:
    attached(fake)
    fake.add_route(None, ip_network("10.3.0.0/16"), gateway=ip_address("10.1.0.2"))
    assert ip_network("10.3.0.0/16") in fake.list_routes(None)
    fake.delete_link(None, "br0")
    assert fake.list_routes(None) == []


# --- sysctl ------------------------------------------------------------------------------------


def test_sysctl_defaults_and_per_namespace_values(fake: FakeKernel) -> None:
    fake.create(SB)
    assert fake.read(None, "net/ipv4/ip_forward") == "0"
    assert fake.read(None, "net/ipv4/ip_local_port_range") == "32768\t60999"
    assert fake.read(None, "net/ipv4/ip_local_reserved_ports") == ""
    fake.write(SB, "net/ipv4/ip_forward", "1")
    assert fake.read(SB, "net/ipv4/conf/lo/forwarding") == "1"  # the kernel copies it
    assert fake.read(None, "net/ipv4/ip_forward") == "0"
    fake.write(None, "net/ipv4/ip_local_port_range", "40000 50000")
    assert fake.read(None, "net/ipv4/ip_local_port_range") == "40000\t50000"


def test_interface_sysctls_follow_the_link(fake: FakeKernel) -> None:
    key = "net/ipv4/conf/br0/route_localnet"
    with pytest.raises(KernelError) as excinfo:
        fake.write(None, key, "1")
    assert errno_of(excinfo) == errno.ENOENT
    fake.add_bridge(None, "br0")
    assert fake.read(None, key) == "0"
    fake.write(None, key, "1")
    assert fake.read(None, key) == "1"
    assert fake.read(None, "net/ipv6/conf/br0/disable_ipv6") == "0"
    fake.delete_link(None, "br0")
    with pytest.raises(KernelError) as excinfo:
        fake.read(None, key)
    assert errno_of(excinfo) == errno.ENOENT


@pytest.mark.parametrize(
    ("key", "value"),
    [("net/ipv4/ip_forward", "yes"), ("net/ipv4/ip_local_port_range", "1"), ("net/../x", "1")],
)
def test_sysctl_invalid_writes(fake: FakeKernel, key: str, value: str) -> None:
    with pytest.raises(KernelError) as excinfo:
        fake.write(None, key, value)
    assert errno_of(excinfo) == errno.EINVAL


def test_define_sysctl(fake: FakeKernel) -> None:
    fake.define_sysctl(None, "net/bridge/bridge-nf-call-iptables", "1")
    assert fake.read(None, "net/bridge/bridge-nf-call-iptables") == "1"


# --- nftables, conntrack, ports ----------------------------------------------------------------


def test_nft_scripts_are_recorded_and_can_fail(fake: FakeKernel) -> None:
    assert fake.run("add table inet berth") == ""
    fake.fail_next("run", kernel_error(errno.EINVAL, "nft: syntax error"))
    with pytest.raises(KernelError, match="syntax error"):
        fake.run("add chain inet berth broken")
    assert fake.nft_scripts == ["add table inet berth"]
    assert fake.snapshot(include_nft=True).nft_scripts == ("add table inet berth",)
    assert fake.snapshot().nft_scripts == ()


def test_conntrack_flush_deletes_entries_matching_every_field(fake: FakeKernel) -> None:
    a, b = ip_address("10.0.0.1"), ip_address("172.17.0.2")
    web = FakeConntrackEntry("tcp", a, a, 40000, 8080, b)
    dns = FakeConntrackEntry("udp", a, a, 40001, 53, b)
    other = FakeConntrackEntry("udp", a, a, 40002, 53, ip_address("172.17.0.3"))
    for entry in (web, dns, other):
        fake.add_conntrack(None, entry)
    assert fake.flush(None, proto="udp", orig_dport=53, reply_src=b) == 1
    assert fake.conntrack_entries(None) == [web, other]
    assert fake.flush(None, proto="sctp") == 0
    assert fake.flush(None) == 2


def test_ports_in_use(fake: FakeKernel) -> None:
    fake.add_bridge(None, "br0")
    fake.add_address(None, "br0", ip_interface("10.1.0.1/24"))
    any4, br = ip_address("0.0.0.0"), ip_address("10.1.0.1")
    fake.hold_port(None, "tcp", br, 8080)
    fake.hold_port(None, "udp", any4, 53)
    assert fake.in_use(None, "tcp", br, 8080)
    assert fake.in_use(None, "tcp", any4, 8080)  # a wildcard conflicts with any address
    assert not fake.in_use(None, "tcp", ip_address("127.0.0.1"), 8080)
    assert fake.in_use(None, "udp", ip_address("127.0.0.5"), 53)
    assert not fake.in_use(None, "udp", ip_address("::"), 53)
    assert not fake.in_use(None, "sctp", br, 8080)
    with pytest.raises(KernelError) as excinfo:
        fake.in_use(None, "tcp", ip_address("192.0.2.1"), 80)
    assert errno_of(excinfo) == errno.EADDRNOTAVAIL


# --- fault injection, snapshots, the bundle ----------------------------------------------------


def test_fail_next_counts_calls_and_changes_nothing(fake: FakeKernel) -> None:
    fake.fail_next("add_bridge", after=1)
    fake.add_bridge(None, "br0")
    before = fake.snapshot()
    with pytest.raises(KernelError) as excinfo:
        fake.add_bridge(None, "br1")
    assert errno_of(excinfo) == errno.EIO
    assert fake.snapshot() == before
    fake.add_bridge(None, "br1")  # only once
    custom = RuntimeError("boom")
    fake.fail_next("set_link", custom)
    with pytest.raises(RuntimeError) as caught:
        fake.set_link(None, "br0", up=True)
    assert caught.value is custom
    with pytest.raises(ValueError):
        fake.fail_next("no_such_method")


def test_snapshot_is_hashable_and_restored_by_undo(fake: FakeKernel) -> None:
    before = fake.snapshot()
    attached(fake)
    after = fake.snapshot()
    assert after != before
    assert len({before, after, fake.snapshot()}) == 2
    fake.delete_link(None, "vh0")
    fake.delete_link(None, "br0")
    fake.remove(SB)
    assert fake.snapshot() == before


def test_calls_are_logged(fake: FakeKernel) -> None:
    fake.add_bridge(None, "br0", mtu=1400, mac="02:00:00:00:00:07")
    call = {"ns": None, "name": "br0", "mtu": 1400, "alias": None, "mac": "02:00:00:00:00:07"}
    assert fake.calls[-1] == ("add_bridge", call)
    assert fake.get_link(None, "br0").mac == "02:00:00:00:00:07"  # type: ignore[union-attr]


def test_fake_kernel_bundle() -> None:
    kernel, fake = fake_kernel()
    assert isinstance(kernel, Kernel)
    kernel.netns.create(SB)
    kernel.netlink.add_veth(None, "vh0", peer_ns=SB, peer_name="eth0")
    kernel.sysctl.write(None, "net/ipv4/conf/vh0/route_localnet", "1")
    assert fake.get_link(SB, "eth0") is not None
    assert [ns.path for ns in fake.snapshot().namespaces] == [HOST, SB]


@given(
    st.lists(
        st.tuples(st.sampled_from(["bridge", "veth"]), st.integers(0, 5), st.booleans()),
        max_size=12,
    )
)
def test_deleting_everything_created_restores_the_snapshot(
    ops: list[tuple[str, int, bool]],
) -> None:
    fake = FakeKernel()
    before = fake.snapshot()
    fake.create(SB)
    for kind, n, up in ops:
        try:
            if kind == "bridge":
                fake.add_bridge(None, f"br{n}")
            else:
                fake.add_veth(None, f"vh{n}", peer_ns=SB, peer_name=f"eth{n}")
            fake.set_link(None, f"{kind[0]}{'r' if kind == 'bridge' else 'h'}{n}", up=up)
        except KernelError as err:
            assert err.errno == errno.EEXIST
    for link in fake.list_links(None):
        if link.name != "lo":
            fake.delete_link(None, link.name)
    fake.remove(SB)
    assert fake.snapshot() == before
