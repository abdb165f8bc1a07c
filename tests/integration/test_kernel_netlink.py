"""PyrouteNetlink against the real kernel, inside throwaway namespaces (the adapter's "host" is a
test namespace, never the machine's)."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from ipaddress import ip_address, ip_interface, ip_network
from pathlib import Path
from typing import Any

import pytest

from berth.kernel.api import default_route
from berth.kernel.netlink import PyrouteNetlink
from berth.kernel.netns import LinuxNetns, in_netns
from berth.kernel.real import close_real_kernel, real_kernel
from berth.kernel.rtnl import RTM_DELLINK, Request, RtnlSocket
from berth.model.errors import KernelError
from tests.integration.netenv import Ns, links, namespace, unique

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, links)"),
]

RTMGRP_LINK = 1


@pytest.fixture
def sandbox() -> Iterator[Ns]:
    with namespace("bts") as ns:
        yield ns


@pytest.fixture
def netlink(host: Ns) -> Iterator[PyrouteNetlink]:
    adapter = PyrouteNetlink(host.path)
    yield adapter
    adapter.shutdown()


def link_json(ns: Ns, name: str) -> dict[str, Any]:
    result: list[dict[str, Any]] = json.loads(ns.ip("-d", "-j", "link", "show", name).stdout)
    return result[0]


def link_events(ns: Ns) -> socket.socket:
    """A raw rtnetlink socket in ``ns`` subscribed to link events (RTM_NEWLINK/DELLINK)."""
    with in_netns(ns.path):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK))
    sock.settimeout(0.3)
    return sock


def received(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def test_veth_peer_is_created_directly_in_the_sandbox(
    netlink: PyrouteNetlink, host: Ns, sandbox: Ns
) -> None:
    host_end, peer = unique("vh"), unique("pe")
    events = link_events(host)
    netlink.add_veth(
        None, host_end, peer_ns=sandbox.path, peer_name=peer, mtu=1450,
        peer_mac="02:42:ac:11:00:02", alias="berth:ep1",
    )  # fmt: skip
    seen_by_host = received(events)
    peer_json = link_json(sandbox, peer)
    assert (peer_json["address"], peer_json["mtu"]) == ("02:42:ac:11:00:02", 1450)
    assert "UP" not in peer_json["flags"]
    host_json = link_json(host, host_end)
    assert (host_json["mtu"], host_json["ifalias"]) == (1450, "berth:ep1")
    assert host.ip("link", "show", peer, check=False).returncode != 0
    # The host namespace never saw the peer: it was not created there and moved.
    assert host_end.encode() in seen_by_host and peer.encode() not in seen_by_host

    # Control: a peer created in the host and then moved does show up in the host's events.
    moved, moved_peer = unique("vm"), unique("pm")
    host.ip("link", "add", moved, "type", "veth", "peer", "name", moved_peer)
    host.ip("link", "set", moved_peer, "netns", sandbox.path)
    assert moved_peer.encode() in received(events)
    events.close()


def test_bridge_and_set_link_in_one_request(netlink: PyrouteNetlink, host: Ns) -> None:
    bridge, port = unique("br"), unique("vh")
    netlink.add_bridge(None, bridge, mtu=1400, alias="berth:net1")
    netlink.add_veth(None, port, peer_ns=None, peer_name=unique("pe"))
    netlink.set_link(None, port, master=bridge, up=True, mtu=1400, mac="02:00:00:00:00:09")
    info = netlink.get_link(None, port)
    assert info is not None
    assert (info.kind, info.master, info.up, info.mtu, info.mac) == (
        "veth", bridge, True, 1400, "02:00:00:00:00:09",
    )  # fmt: skip
    br = netlink.get_link(None, bridge)
    assert br is not None and (br.kind, br.alias, br.mtu, br.up) == (
        "bridge",
        "berth:net1",
        1400,
        False,
    )
    assert link_json(host, port)["master"] == bridge
    names = [link.name for link in netlink.list_links(None)]
    assert names[0] == "lo" and {bridge, port} <= set(names)
    assert netlink.get_link(None, "nosuchlink") is None

    netlink.set_bridge_port(None, port, isolated=True, hairpin=True)
    slave = link_json(host, port)["linkinfo"]["info_slave_data"]
    assert (slave["isolated"], slave["hairpin"]) == (True, True)
    netlink.set_bridge_port(None, port, hairpin=False)
    slave = link_json(host, port)["linkinfo"]["info_slave_data"]
    assert (slave["isolated"], slave["hairpin"]) == (True, False)


def test_veth_created_up_as_a_bridge_port_in_one_call(
    netlink: PyrouteNetlink, host: Ns, sandbox: Ns
) -> None:
    bridge, host_end, peer = unique("br"), unique("vh"), unique("pe")
    netlink.add_bridge(None, bridge)
    netlink.add_veth(
        None, host_end, peer_ns=sandbox.path, peer_name=peer, alias="berth:ep2", master=bridge,
        up=True, hairpin=True, isolated=True,
    )  # fmt: skip
    shown = link_json(host, host_end)
    slave = shown["linkinfo"]["info_slave_data"]
    assert (shown["master"], shown["ifalias"]) == (bridge, "berth:ep2") and "UP" in shown["flags"]
    assert (slave["hairpin"], slave["isolated"]) == (True, True)
    assert "UP" not in link_json(sandbox, peer)["flags"]
    before = (links(host), links(sandbox))
    other, other_peer = unique("vh"), unique("pe")
    cases: list[tuple[dict[str, Any], int]] = [
        ({"master": "nosuchbridge"}, errno.ENODEV),
        ({"master": "lo"}, errno.EOPNOTSUPP),
        ({"hairpin": True}, errno.EOPNOTSUPP),  # port flags without a bridge: the 2nd request
    ]
    for kwargs, code in cases:
        with pytest.raises(KernelError) as excinfo:
            netlink.add_veth(None, other, peer_ns=sandbox.path, peer_name=other_peer, **kwargs)
        assert excinfo.value.errno == code, kwargs
        assert (links(host), links(sandbox)) == before  # all or nothing


def test_configure_link_is_all_or_nothing(netlink: PyrouteNetlink, sandbox: Ns) -> None:
    host_end, peer = unique("vh"), unique("pe")
    netlink.add_veth(None, host_end, peer_ns=sandbox.path, peer_name=peer, up=True)
    v4, v6 = ip_interface("10.213.9.2/24"), ip_interface("fd00:213:9::2/64")
    netlink.configure_link(sandbox.path, peer, addresses=[v4, v6])
    assert {v4, v6} <= set(netlink.list_addresses(sandbox.path, peer))
    assert "UP" in link_json(sandbox, peer)["flags"]
    with pytest.raises(KernelError) as excinfo:
        netlink.configure_link(sandbox.path, "nosuchlink", addresses=[v4])
    assert excinfo.value.errno == errno.ENODEV

    other, other_peer = unique("vh"), unique("pe")
    netlink.add_veth(None, other, peer_ns=sandbox.path, peer_name=other_peer)
    taken = ip_interface("10.213.10.3/24")
    sandbox.ip("addr", "add", str(taken), "dev", other_peer)
    fresh = ip_interface("10.213.10.2/24")
    with pytest.raises(KernelError, match=f"add address {taken} to {other_peer}") as excinfo:
        netlink.configure_link(sandbox.path, other_peer, addresses=[fresh, taken])
    assert excinfo.value.errno == errno.EEXIST
    # the kernel went on with "up" after the failed address: both were undone
    assert netlink.list_addresses(sandbox.path, other_peer) == [taken]
    assert "UP" not in link_json(sandbox, other_peer)["flags"]


def test_detach_frees_the_names_at_once_and_deletes_the_pair_later(
    netlink: PyrouteNetlink, host: Ns, sandbox: Ns
) -> None:
    bridge, host_end = unique("br"), unique("vh")
    netlink.add_bridge(None, bridge)
    netlink.set_link(None, bridge, up=True)
    netlink.add_address(None, bridge, ip_interface("10.213.11.1/24"))
    netlink.add_veth(
        None, host_end, peer_ns=sandbox.path, peer_name="eth0", master=bridge, up=True,
        alias="berth:ep3",
    )  # fmt: skip
    netlink.configure_link(sandbox.path, "eth0", addresses=[ip_interface("10.213.11.2/24")])
    netlink.add_route(sandbox.path, default_route(4), gateway=ip_address("10.213.11.1"), dev="eth0")
    before = links(host)

    detached = netlink.detach_veth(
        None, host_end, peer_ns=sandbox.path, peer_name="eth0", alias="berth:gone-ep3"
    )
    assert detached is True
    assert host.ip("link", "show", host_end, check=False).returncode != 0
    assert sandbox.ip("link", "show", "eth0", check=False).returncode != 0
    assert sandbox.ip("route").stdout == ""  # the retired end is down: no route through it
    assert "10.213.11.2" not in sandbox.ip("addr").stdout  # nor its address
    assert host.ip("link", "show", "master", bridge).stdout == ""
    for link in json.loads(host.ip("-j", "-d", "link", "show").stdout):
        if link["ifname"] not in before:  # the retired host end, until the reaper is done
            assert "UP" not in link["flags"] and link["ifalias"] == "berth:gone-ep3"
    # the names are free for the next interface at once
    netlink.add_veth(None, host_end, peer_ns=sandbox.path, peer_name="eth0", master=bridge)
    assert netlink.settle(10)
    assert links(host) == before and links(sandbox) == ["eth0", "lo"]
    assert netlink.detach_veth(None, "nosuchlink", peer_ns=sandbox.path, peer_name="x") is False
    gone = netlink.detach_veth("/nonexistent/netns", "x", peer_ns=sandbox.path, peer_name="x")
    assert gone is False


class RecordingSocket(RtnlSocket):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Request] = []

    def request(self, *requests: Request) -> list[tuple[OSError | None, list[bytes]]]:
        self.sent += requests
        return super().request(*requests)


def test_the_reaper_deletes_a_batch_by_group_but_never_a_stranger(
    netlink: PyrouteNetlink, host: Ns, sandbox: Ns
) -> None:
    reaper = netlink._reaper
    stranger, stranger_peer = unique("us"), unique("us")
    host.ip("link", "add", stranger, "type", "veth", "peer", "name", stranger_peer)
    before = links(host)

    def retired_pairs() -> list[int]:
        indexes = []
        for _ in range(3):
            name = unique("vh")
            netlink.add_veth(None, name, peer_ns=sandbox.path, peer_name=unique("pe"))
            info = netlink.get_link(None, name)
            assert info is not None
            reaper.claim(info.index)
            host.ip("link", "set", name, "group", str(reaper.group))
            indexes.append(info.index)
        return indexes

    def group_deletes(sock: RecordingSocket) -> int:
        return sum(r.kind == RTM_DELLINK and r.body[4:8] == bytes(4) for r in sock.sent)

    with in_netns(host.path):
        sock = RecordingSocket()
    try:
        reaper._delete(sock, retired_pairs())  # only ours carry the group: one request
        assert group_deletes(sock) == 1 and len(sock.sent) == 2  # (a dump first)
        assert links(host) == before and links(sandbox) == ["lo"]
        ours = retired_pairs()
        host.ip("link", "set", stranger, "group", str(reaper.group))  # someone else's
        reaper._delete(sock, ours)  # one by one now
        assert group_deletes(sock) == 1
        assert links(host) == before and links(sandbox) == ["lo"]  # the stranger is still there
    finally:
        sock.close()
        reaper._outstanding.clear()


def test_link_errors_keep_the_errno(netlink: PyrouteNetlink, sandbox: Ns) -> None:
    bridge = unique("br")
    netlink.add_bridge(None, bridge)
    cases: list[tuple[Callable[[], object], int]] = [
        (lambda: netlink.add_bridge(None, bridge), errno.EEXIST),
        (lambda: netlink.add_bridge(None, "x" * 16), errno.ERANGE),
        (lambda: netlink.set_link(None, "nosuchlink", up=True), errno.ENODEV),
        (lambda: netlink.set_link(None, bridge, master="lo"), errno.EOPNOTSUPP),
        (lambda: netlink.set_link(None, bridge, mac="zz"), errno.EINVAL),
        (lambda: netlink.set_bridge_port(None, bridge, hairpin=True), errno.EOPNOTSUPP),
        (lambda: netlink.add_veth(None, "v0", peer_ns="/nonexistent", peer_name="e"), errno.ENOENT),
        (lambda: netlink.list_links("/nonexistent/netns"), errno.ENOENT),
    ]
    for call, code in cases:
        with pytest.raises(KernelError) as excinfo:
            call()
        assert excinfo.value.errno == code, excinfo.value
    assert netlink.delete_link(None, "nosuchlink") is False
    assert netlink.delete_link("/nonexistent/netns", "eth0") is False


def test_deleting_one_veth_end_deletes_the_other(netlink: PyrouteNetlink, sandbox: Ns) -> None:
    host_end, peer = unique("vh"), unique("pe")
    netlink.add_veth(None, host_end, peer_ns=sandbox.path, peer_name=peer)
    assert netlink.get_link(sandbox.path, peer) is not None
    assert netlink.delete_link(sandbox.path, peer) is True
    assert netlink.get_link(None, host_end) is None
    assert netlink.delete_link(None, host_end) is False


def test_addresses(netlink: PyrouteNetlink, host: Ns) -> None:
    bridge = unique("br")
    netlink.add_bridge(None, bridge)
    v4, v6 = ip_interface("10.213.5.1/24"), ip_interface("fd00:213:5::1/64")
    netlink.add_address(None, bridge, v4)
    netlink.add_address(None, bridge, v6)
    with pytest.raises(KernelError) as excinfo:
        netlink.add_address(None, bridge, v4)
    assert excinfo.value.errno == errno.EEXIST
    with pytest.raises(KernelError) as excinfo:
        netlink.add_address(None, "nosuchlink", v4)
    assert excinfo.value.errno == errno.ENODEV
    netlink.set_link(None, bridge, up=True)
    assert {v4, v6} <= set(netlink.list_addresses(None, bridge))
    assert v4 in netlink.list_addresses(None)
    flags = json.loads(host.ip("-j", "-6", "addr", "show", "dev", bridge).stdout)[0]
    (entry,) = [a for a in flags["addr_info"] if a["local"] == str(v6.ip)]
    assert "tentative" not in entry  # nodad: usable at once
    assert netlink.delete_address(None, bridge, v4) is True
    assert netlink.delete_address(None, bridge, v4) is False
    assert netlink.delete_address(None, "nosuchlink", v4) is False
    assert v4 not in netlink.list_addresses(None, bridge)


def test_routes(netlink: PyrouteNetlink, sandbox: Ns) -> None:
    host_end, peer = unique("vh"), unique("pe")
    netlink.add_veth(None, host_end, peer_ns=sandbox.path, peer_name=peer)
    gateway = ip_address("10.213.6.1")
    with pytest.raises(KernelError) as excinfo:
        netlink.add_route(sandbox.path, default_route(4), gateway=gateway)
    assert excinfo.value.errno == errno.ENETUNREACH
    with pytest.raises(KernelError) as excinfo:
        netlink.add_route(sandbox.path, default_route(6), gateway=ip_address("fd00::1"))
    assert excinfo.value.errno == errno.EHOSTUNREACH
    netlink.add_address(sandbox.path, peer, ip_interface("10.213.6.2/24"))
    with pytest.raises(KernelError) as excinfo:
        netlink.add_route(sandbox.path, ip_network("10.9.0.0/16"), dev=peer)
    assert excinfo.value.errno == errno.ENETDOWN
    netlink.set_link(sandbox.path, peer, up=True)
    netlink.add_route(sandbox.path, default_route(4), gateway=gateway)
    with pytest.raises(KernelError) as excinfo:
        netlink.add_route(sandbox.path, default_route(4), gateway=gateway)
    assert excinfo.value.errno == errno.EEXIST
    netlink.add_route(sandbox.path, ip_network("10.9.0.0/16"), dev=peer, metric=50)
    routes = netlink.list_routes(sandbox.path)
    assert set(routes) == {default_route(4), ip_network("10.9.0.0/16"), ip_network("10.213.6.0/24")}
    assert sandbox.ip("route", "show", "default").stdout.split()[:3] == [
        "default",
        "via",
        str(gateway),
    ]
    assert "metric 50" in sandbox.ip("route", "show", "10.9.0.0/16").stdout
    assert netlink.delete_route(sandbox.path, default_route(4), gateway=gateway) is True
    assert netlink.delete_route(sandbox.path, default_route(4)) is False
    assert netlink.delete_route(sandbox.path, ip_network("10.9.0.0/16"), dev=peer) is True
    assert netlink.list_routes(sandbox.path) == [ip_network("10.213.6.0/24")]


def test_list_routes_sees_every_table_but_local(netlink: PyrouteNetlink, host: Ns) -> None:
    bridge = unique("br")
    host.ip("link", "add", bridge, "type", "bridge")
    host.ip("addr", "add", "10.213.7.1/24", "dev", bridge)
    host.ip("link", "set", bridge, "up")
    host.ip("route", "add", "10.213.8.0/24", "dev", bridge, "table", "100")
    routes = netlink.list_routes(None)
    assert ip_network("10.213.8.0/24") in routes and ip_network("10.213.7.0/24") in routes
    assert ip_network("10.213.7.1/32") not in routes  # the local-table entry
    assert ip_network("127.0.0.0/8") not in routes


def test_a_recreated_namespace_gets_a_fresh_socket(netlink: PyrouteNetlink, tmp_path: Path) -> None:
    netns, path = LinuxNetns(), str(tmp_path / "sb")
    netns.create(path)
    try:
        netlink.add_bridge(path, "br0")
        netns.remove(path)  # without close(): the cached socket would keep the old netns alive
        netns.create(path)
        assert [link.name for link in netlink.list_links(path)] == ["lo"]
        netlink.close(path)
    finally:
        netns.remove(path)


def test_concurrent_callers_each_get_their_namespace(netlink: PyrouteNetlink) -> None:
    with namespace("btc") as a, namespace("btc") as b:
        netlink.add_bridge(a.path, "bra")
        netlink.add_bridge(b.path, "brb")
        seen: dict[int, set[str]] = {}

        def look(i: int) -> None:
            path = (a, b)[i % 2].path
            seen[i] = {link.name for link in netlink.list_links(path)}

        threads = [threading.Thread(target=look, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(
            names == ({"lo", "bra"} if i % 2 == 0 else {"lo", "brb"}) for i, names in seen.items()
        )
        netlink.close(a.path)
        netlink.close(b.path)


def test_usable_from_inside_an_event_loop(netlink: PyrouteNetlink) -> None:
    async def main() -> list[str]:
        return [link.name for link in netlink.list_links(None)]

    assert "lo" in asyncio.run(main())


def test_measure_add_veth_with_peer_in_a_netns(netlink: PyrouteNetlink, sandbox: Ns) -> None:
    times = []
    for i in range(40):
        start = time.perf_counter()
        netlink.add_veth(
            None, f"vm{i}", peer_ns=sandbox.path, peer_name=f"eth{i}", mtu=1500,
            peer_mac=f"02:42:ac:11:01:{i:02x}",
        )  # fmt: skip
        times.append(time.perf_counter() - start)
    print(f"\nadd_veth (peer in a netns): median {statistics.median(times) * 1000:.2f} ms")


def test_real_kernel_composes_the_adapters_for_one_host(host: Ns, tmp_path: Path) -> None:
    kernel = real_kernel(host.path)
    sandbox = str(tmp_path / "sb")
    try:
        kernel.netns.create(sandbox)
        kernel.netlink.add_veth(None, "vh0", peer_ns=sandbox, peer_name="eth0")
        kernel.sysctl.write(None, "net/ipv4/conf/vh0/route_localnet", "1")
        kernel.nft.run("add table inet berth")
        assert "table inet berth" in host.run("nft", "list", "tables").stdout
        assert host.run("cat", "/proc/sys/net/ipv4/conf/vh0/route_localnet").stdout == "1\n"
        assert not kernel.ports.in_use(sandbox, "tcp", ip_address("127.0.0.1"), 80)
        kernel.conntrack.flush(sandbox)  # in the kernel: no count to check, only no error
        kernel.netlink.close(sandbox)
    finally:
        kernel.netns.remove(sandbox)
        close_real_kernel(kernel)
