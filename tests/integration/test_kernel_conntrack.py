"""NetlinkConntrack against the real kernel: a real UDP flow through a DNAT, then flushed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from ipaddress import ip_address

import pytest

from berth.kernel.conntrack import NetlinkConntrack
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


def test_flush_deletes_only_matching_flows(pair: tuple[Ns, Ns]) -> None:
    host, _server = pair
    assert call(host, PUBLISHED, 9999, proto="udp") == f"dns {HOST_IP}"
    assert call(host, SERVER_IP, 5353, proto="udp") == f"dns {HOST_IP}"
    assert len(entries(host)) == 2
    conntrack = NetlinkConntrack(host.path)
    assert conntrack.flush(None, proto="tcp", orig_dst=ip_address(PUBLISHED)) == 0
    assert conntrack.flush(None, orig_dst=ip_address("2001:db8::1")) == 0

    def flush_published() -> int:
        return conntrack.flush(
            None,
            proto="udp",
            orig_dst=ip_address(PUBLISHED),
            orig_dport=9999,
            reply_src=ip_address(SERVER_IP),
        )

    assert flush_published() == 1
    (left,) = entries(host)
    assert f"dst={SERVER_IP}" in left and "dport=5353" in left
    assert flush_published() == 0
    assert conntrack.flush(host.path) == 1
    assert entries(host) == []


def test_flush_in_a_namespace_without_conntrack_finds_nothing() -> None:
    with namespace("btc") as ns:
        assert NetlinkConntrack(None).flush(ns.path, proto="udp") == 0
