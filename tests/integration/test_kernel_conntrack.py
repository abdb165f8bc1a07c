"""NetlinkConntrack against the real kernel: a real UDP flow through a DNAT, then entries made to
order (both families, each differing from the flushed one in a single field), flushed through the
kernel's filtered delete and through the dump-and-delete fallback."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

import pytest

from berth.kernel import conntrack, ctnetlink
from berth.kernel.conntrack import NetlinkConntrack
from berth.kernel.ctnetlink import AF_INET6
from berth.kernel.netns import in_netns
from berth.kernel.rtnl import Request, RtnlSocket
from berth.model.errors import KernelError
from tests.integration.ctentries import Flow, insert, listed
from tests.integration.netenv import Ns, call, namespace, serve, unique

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (conntrack in a namespace)"),
]

HOST_IP, SERVER_IP, PUBLISHED = "10.213.9.1", "10.213.9.2", "192.0.2.10"


@pytest.fixture
def pair() -> Iterator[tuple[Ns, Ns]]:
    """A "host" with a DNAT of PUBLISHED:9999/udp to a server namespace's SERVER_IP:5353."""
    with namespace("btc") as host, namespace("btc") as server:
        link = unique("vc")
        host.ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", server.path)
        host.ip("addr", "add", f"{HOST_IP}/24", "dev", link)
        host.ip("link", "set", link, "up")
        host.ip("route", "add", f"{PUBLISHED}/32", "dev", link)
        server.ip("addr", "add", f"{SERVER_IP}/24", "dev", "eth0")
        server.ip("link", "set", "eth0", "up")
        host.nft(
            "table ip berth_ct {\n"
            "  chain out {\n"
            "    type nat hook output priority -100\n"
            f"    ip daddr {PUBLISHED} udp dport 9999 dnat to {SERVER_IP}:5353\n"
            "  }\n"
            "}\n"
        )
        serve(server, 5353, proto="udp", tag="dns", lifetime=30)
        yield host, server


def entries(ns: Ns) -> list[str]:
    out = ns.run("conntrack", "-L").stdout
    return [line for line in out.splitlines() if line.strip()]


def test_a_real_dnat_flow_is_flushed_and_the_direct_one_kept(pair: tuple[Ns, Ns]) -> None:
    host, _server = pair
    assert call(host, PUBLISHED, 9999, proto="udp") == f"dns {HOST_IP}"
    assert call(host, SERVER_IP, 5353, proto="udp") == f"dns {HOST_IP}"
    assert len(entries(host)) == 2
    ct = NetlinkConntrack(host.path)
    ct.flush(None, proto="tcp", orig_dst=ip_address(PUBLISHED))
    ct.flush(None, orig_dst=ip_address("2001:db8::1"))
    assert len(entries(host)) == 2
    ct.flush(
        None,
        proto="udp",
        orig_dst=ip_address(PUBLISHED),
        orig_dport=9999,
        reply_src=ip_address(SERVER_IP),
    )
    (left,) = entries(host)
    assert f"dst={SERVER_IP}" in left and "dport=5353" in left
    ct.flush(host.path)
    assert entries(host) == []


# --- entries made to order ---------------------------------------------------------------------

ADDRESSES = {
    4: ("198.51.100.7", "192.0.2.10", "192.0.2.11", "172.17.0.2", "172.17.0.3"),
    6: ("2001:db8:1::7", "2001:db8::10", "2001:db8::11", "fd00:17::2", "fd00:17::3"),
}


def table(version: int) -> dict[str, Flow]:
    """The flow a flush targets (two of them: only the source port differs) and one variant per
    field it is matched on, differing from it in that field only."""
    client, dst, other_dst, container, other_container = ADDRESSES[version]
    base = Flow("udp", client, dst, 40000, 5353, container)
    return {
        "base": base,
        "base2": Flow("udp", client, dst, 40001, 5353, container),
        "proto": Flow("tcp", client, dst, 40002, 5353, container),
        "orig_dst": Flow("udp", client, other_dst, 40003, 5353, container),
        "orig_dport": Flow("udp", client, dst, 40004, 5354, container),
        "reply_src": Flow("udp", client, dst, 40005, 5353, other_container),
    }


def target(version: int) -> dict[str, Any]:
    _client, dst, _other, container, _other_container = ADDRESSES[version]
    return {
        "proto": "udp",
        "orig_dst": ip_address(dst),
        "orig_dport": 5353,
        "reply_src": ip_address(container),
    }


def without_filter(body: bytes) -> bytes:
    """A filtered delete as a kernel before 6.3 reads it: the same tuples, no CTA_FILTER (such
    kernels take the tuples as the key of one entry and refuse them as incomplete)."""
    kept, offset = body[:4], 4
    while offset < len(body):
        length, kind = struct.unpack_from("=HH", body, offset)
        size = (length + 3) & ~3
        if kind & 0x3FFF != ctnetlink.CTA_FILTER:
            kept += body[offset : offset + size]
        offset += size
    return kept


@pytest.fixture(params=["kernel", "fallback"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which way flush goes: the kernel's filtered delete, or (on a kernel that refuses it)
    dump and delete."""
    if request.param == "fallback":
        real = ctnetlink.flush_matching
        monkeypatch.setattr(
            conntrack.ctnetlink, "flush_matching", lambda *a, **kw: without_filter(real(*a, **kw))
        )
    return str(request.param)


@pytest.fixture
def ns() -> Iterator[Ns]:
    with namespace("btk") as made:
        yield made


def flush_and_check(
    ns: Ns, path: str, fields: dict[str, Any], gone: set[Flow], *, exact: bool
) -> None:
    """Flush ``fields`` with a fresh adapter: exactly ``gone`` goes. Where the kernel's filter
    is ``exact``, the kernel did it (no count) unless ``path`` refused it; else it was dumped."""
    before = listed(ns)
    assert gone <= before
    ct = NetlinkConntrack(ns.path)
    returned = ct.flush(None, **fields)
    assert listed(ns) == before - gone
    in_kernel = exact and path == "kernel"
    assert returned == (None if in_kernel else len(gone))
    assert ct._filtered_delete == (path == "kernel" or not exact)


@pytest.mark.parametrize("version", [4, 6])
def test_only_entries_matching_every_field_go(ns: Ns, path: str, version: int) -> None:
    flows, other_family = table(version), table(10 - version)
    insert(ns, [*flows.values(), *other_family.values()])
    flush_and_check(ns, path, target(version), {flows["base"], flows["base2"]}, exact=version == 4)


@pytest.mark.parametrize("version", [4, 6])
def test_an_endpoint_address_takes_every_flow_answered_from_it(
    ns: Ns, path: str, version: int
) -> None:
    """The bridge driver's flush when an endpoint's ports are unpublished."""
    flows, other_family = table(version), table(10 - version)
    insert(ns, [*flows.values(), *other_family.values()])
    gone = {flow for name, flow in flows.items() if name != "reply_src"}
    flush_and_check(ns, path, {"reply_src": target(version)["reply_src"]}, gone, exact=version == 4)


def test_without_an_address_both_families_are_flushed(ns: Ns, path: str) -> None:
    v4, v6 = table(4), table(6)
    insert(ns, [*v4.values(), *v6.values()])
    gone = {f for f in (*v4.values(), *v6.values()) if f.proto == "udp" and f.dport == 5353}
    flush_and_check(ns, path, {"proto": "udp", "orig_dport": 5353}, gone, exact=True)


def test_sctp_ports_are_matched_exactly(ns: Ns, path: str) -> None:
    """The kernel's filter ignores ports on SCTP entries: such a flush must not take port 10."""
    flows = [
        Flow("sctp", ADDRESSES[v][0], ADDRESSES[v][1], 40000, port, ADDRESSES[v][3])
        for v in (4, 6)
        for port in (9, 10)
    ]
    insert(ns, flows)
    gone = {flow for flow in flows if flow.dport == 9}
    flush_and_check(ns, path, {"proto": "sctp", "orig_dport": 9}, gone, exact=False)


@pytest.mark.parametrize("version", [4, 6])
def test_entries_in_other_zones_are_flushed_too(ns: Ns, path: str, version: int) -> None:
    flows = table(version)
    insert(ns, [flows["base"], flows["reply_src"]], zone=5)
    assert "zone=5" in ns.run("conntrack", "-L", "-f", f"ipv{version}").stdout
    ct = NetlinkConntrack(ns.path)
    ct.flush(None, reply_src=target(version)["reply_src"])
    assert listed(ns) == {flows["reply_src"]}


def test_the_kernel_inverts_ipv6_address_filters(ns: Ns) -> None:
    """Why IPv6 addresses are matched here, not in the kernel (``!ipv6_addr_cmp`` in
    ctnetlink_filter_match_tuple): a filtered delete of the flows from one IPv6 address takes
    the others. If this fails, the kernel is fixed: let _Match.exact_in_kernel send IPv6
    addresses to kernels that have the fix."""
    flows = table(6)
    insert(ns, [flows["base"], flows["reply_src"]])
    body = ctnetlink.flush_matching(AF_INET6, reply_src=target(6)["reply_src"])
    with in_netns(ns.path):
        sock = RtnlSocket(ctnetlink.NETLINK_NETFILTER)
    try:
        sock.call(Request(ctnetlink.CT_DELETE, body))
    finally:
        sock.close()
    assert listed(ns) == {flows["base"]}


def test_a_flush_without_fields_empties_the_table(ns: Ns) -> None:
    insert(ns, [*table(4).values(), *table(6).values()])
    NetlinkConntrack(ns.path).flush(None)
    assert listed(ns) == set()


def test_flush_in_a_namespace_without_conntrack_finds_nothing() -> None:
    with namespace("btc") as ns:
        assert NetlinkConntrack(None).flush(ns.path, proto="udp") in (0, None)
        assert NetlinkConntrack(None).flush(ns.path, reply_src=ip_address("fd00::1")) == 0


def test_a_missing_namespace_is_a_kernel_error() -> None:
    with pytest.raises(KernelError, match="enter netns /run/netns/berth-none"):
        NetlinkConntrack(None).flush("/run/netns/berth-none", reply_src=ip_address("10.0.0.2"))
