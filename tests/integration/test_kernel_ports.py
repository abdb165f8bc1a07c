"""SocketPorts against the real kernel: the bind probe agrees with the kernel's conflict rules."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from ipaddress import ip_address

import pytest

from berth.kernel.netns import in_netns
from berth.kernel.ports import SocketPorts
from berth.model.errors import KernelError
from tests.integration.netenv import Ns, namespace, serve, unique

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (sockets in a namespace)"),
]

ANY4, ANY6, LO4, LO6 = (ip_address(a) for a in ("0.0.0.0", "::", "127.0.0.1", "::1"))
OTHER = ip_address("10.213.10.1")


@pytest.fixture
def host() -> Iterator[Ns]:
    with namespace("btp") as ns:
        link = unique("vp")
        ns.ip("link", "add", link, "type", "veth", "peer", "name", unique("pe"))
        ns.ip("addr", "add", f"{OTHER}/24", "dev", link)
        yield ns


def test_a_tcp_listener_on_one_address(host: Ns) -> None:
    ports = SocketPorts(host.path)
    assert not ports.in_use(None, "tcp", LO4, 8080)
    serve(host, 8080, bind=str(LO4), lifetime=30)
    assert ports.in_use(None, "tcp", LO4, 8080)
    assert ports.in_use(None, "tcp", ANY4, 8080)  # a wildcard conflicts with any v4 address
    assert not ports.in_use(None, "tcp", OTHER, 8080)
    assert not ports.in_use(None, "udp", LO4, 8080)
    assert not ports.in_use(None, "tcp", ANY6, 8080)


def test_a_wildcard_listener_holds_every_address(host: Ns) -> None:
    ports = SocketPorts(host.path)
    serve(host, 8081, bind="0.0.0.0", lifetime=30)
    assert ports.in_use(None, "tcp", OTHER, 8081)
    assert ports.in_use(None, "tcp", LO4, 8081)


def test_udp_and_ipv6(host: Ns) -> None:
    ports = SocketPorts(host.path)
    serve(host, 5353, proto="udp", bind=str(LO6), lifetime=30)
    assert ports.in_use(None, "udp", LO6, 5353)
    assert ports.in_use(None, "udp", ANY6, 5353)
    assert not ports.in_use(None, "udp", ANY4, 5353)  # the probe is v6-only, so is the holder
    serve(host, 8082, bind="::", lifetime=30)  # dual-stack: also holds IPv4
    assert ports.in_use(None, "tcp", ANY6, 8082)
    assert ports.in_use(None, "tcp", LO4, 8082)


def test_time_wait_does_not_count(host: Ns) -> None:
    with in_netns(host.path):
        listener = socket.socket()
        client = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((str(LO4), 8083))
    listener.listen()
    client.connect((str(LO4), 8083))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end of port 8083 enters TIME_WAIT
    client.close()
    listener.close()
    assert "127.0.0.1:8083" in host.run("ss", "-tan", "state", "time-wait").stdout
    with in_netns(host.path):
        plain = socket.socket()
    with plain, pytest.raises(OSError) as excinfo:  # without SO_REUSEADDR it would "conflict"
        plain.bind((str(LO4), 8083))
    assert excinfo.value.errno == errno.EADDRINUSE
    assert not SocketPorts(host.path).in_use(None, "tcp", LO4, 8083)


def test_errors_and_sctp(host: Ns) -> None:
    ports = SocketPorts(host.path)
    with pytest.raises(KernelError) as excinfo:
        ports.in_use(None, "tcp", ip_address("192.0.2.1"), 80)
    assert excinfo.value.errno == errno.EADDRNOTAVAIL
    assert not ports.in_use(None, "sctp", LO4, 80)  # free, or no SCTP in this kernel
    with namespace("btp") as other:
        serve(other, 8084, bind=str(LO4), lifetime=30)
        assert ports.in_use(other.path, "tcp", LO4, 8084)
        assert not ports.in_use(None, "tcp", LO4, 8084)
