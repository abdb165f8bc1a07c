"""DNS helpers for integration tests (no tests here): a stub upstream resolver the test runs
itself, and a query tool to run inside containers.

``StubResolver`` answers from a small zone of its own with dnslib, in a thread of the test
process, on sockets created inside a test namespace (``in_netns`` for ``socket()`` only), so the
embedded server's forwarding never reaches a real resolver. It can be stopped (its port then
answers "unreachable") or made silent (it reads and drops), and it counts what it was asked.

``dnsq.py`` (next to this file) is what containers run: one query to 127.0.0.11 (or
``--server``), printed as JSON. ``ask_in`` asks the same from the test process itself, on a
socket created in a container's namespace (no ``exec``: for tests that ask many times).

``Dns`` (fixture ``dns``, imported by test modules with ``# noqa: F401``) is the real berthd in
the test's host namespace whose host resolv.conf names only a stub on 127.0.0.53, with the
berth CLI and helpers to run containers and ask questions from inside them.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import selectors
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from berth.kernel.netns import in_netns
from tests.integration.daemonenv import Berthd, Cli, berthd_in
from tests.integration.netenv import PYTHON, Ns

DNSQ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dnsq.py")
STUB_ADDRESS = "127.0.0.53"
ZONE = {"outside.test": ["198.51.100.7"], "only-the-stub-knows": ["198.51.100.8"]}


@dataclass
class StubResolver:
    """``zone``: name (lowercase, no trailing dot) -> A addresses; "big.test" answers so many
    records that a UDP answer must be truncated; everything else is NXDOMAIN. ``silent``: read
    and drop every question; ``refuse``: answer every one with REFUSED."""

    netns: str
    address: str = STUB_ADDRESS
    port: int = 53
    zone: dict[str, list[str]] = field(default_factory=dict)
    silent: bool = False
    refuse: bool = False
    asked: list[tuple[str, str, str]] = field(default_factory=list)  # name, udp/tcp, source
    _socks: list[socket.socket] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> StubResolver:
        with in_netns(self.netns):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp.bind((self.address, self.port))
        tcp.bind((self.address, self.port))
        tcp.listen(16)
        self._socks = [udp, tcp]
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="stub-resolver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sock in self._socks:
            sock.close()
        self._socks = []

    def _serve(self) -> None:
        udp, tcp = self._socks
        with selectors.DefaultSelector() as sel:
            sel.register(udp, selectors.EVENT_READ)
            sel.register(tcp, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(0.05):
                    if key.fileobj is udp:
                        data, peer = udp.recvfrom(65535)
                        answer = self._answer(data, "udp", peer[0])
                        if answer is not None:
                            udp.sendto(answer, peer)
                    else:
                        conn, peer = tcp.accept()
                        with conn, contextlib.suppress(OSError, struct.error):
                            conn.settimeout(2)
                            (length,) = struct.unpack("!H", conn.recv(2))
                            answer = self._answer(_recv(conn, length), "tcp", peer[0])
                            if answer is not None:
                                conn.sendall(struct.pack("!H", len(answer)) + answer)

    def names(self) -> list[str]:
        return [name for name, _proto, _source in self.asked]

    def _answer(self, data: bytes, proto: str, source: str) -> bytes | None:
        query = DNSRecord.parse(data)
        name = str(query.q.qname).rstrip(".").lower()
        self.asked.append((name, proto, source))
        if self.silent:
            return None
        reply = query.reply(aa=0)
        if self.refuse:
            reply.header.rcode = RCODE.REFUSED
        elif name == "big.test":
            for i in range(100):
                reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(f"10.99.{i // 250}.{i % 250}")))
            if proto == "udp":
                reply.rr, reply.header.tc = [], 1
        elif name in self.zone:
            if query.q.qtype == QTYPE.A:
                for address in self.zone[name]:
                    reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(address), ttl=60))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        for rr in query.ar:  # keep EDNS, as a real resolver would
            if rr.rtype == QTYPE.OPT:
                reply.add_ar(rr)
        return bytes(reply.pack())


def _recv(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


@contextlib.contextmanager
def stub_resolver(netns: str, **kwargs: object) -> Iterator[StubResolver]:
    stub = StubResolver(netns, **kwargs).start()  # type: ignore[arg-type]
    try:
        yield stub
    finally:
        stub.stop()


def parse_dnsq(output: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(output)
    return result


def local_addresses(host: Ns, *addresses: str) -> None:
    """Give ``host`` more addresses of its own (on its lo, as /32), for more stub resolvers
    that containers reach through their gateway, as they would reach a resolver on the LAN."""
    for address in addresses:
        host.ip("addr", "add", f"{address}/32", "dev", "lo")


def ask_in(netns: str, name: str, qtype: str = "A", timeout: float = 5.0) -> DNSRecord:
    """One UDP question to 127.0.0.11:53 from a socket created in ``netns`` (as if from a
    process of that container)."""
    query = DNSRecord.question(name, qtype)
    query.header.id = random.getrandbits(16)
    with in_netns(netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(timeout)
        sock.sendto(bytes(query.pack()), ("127.0.0.11", 53))
        reply = DNSRecord.parse(sock.recv(65535))
    assert reply.header.id == query.header.id
    return reply


def rdata(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr]


@dataclass
class Dns:
    cli: Cli
    daemon: Berthd
    stub: StubResolver
    host: Ns

    def sleeper(self, name: str, *args: str) -> str:
        """A container that stays up (for exec'd queries); its id."""
        return self.cli.out("run", "-d", "--name", name, *args, "busybox", "sleep", "600").strip()

    def ask(self, container: str, *questions: list[str]) -> list[dict[str, Any]]:
        """dnsq.py --batch inside a running container."""
        out = self.cli.out("exec", container, PYTHON, DNSQ, "--batch", json.dumps(questions))
        result: list[dict[str, Any]] = json.loads(out)
        return result

    def one(self, container: str, *question: str) -> dict[str, Any]:
        return self.ask(container, list(question))[0]

    def ip(self, container: str, network: str, field: str = "IPAddress") -> str:
        """The container's address on ``network`` (``field``: GlobalIPv6Address, Gateway...)."""
        template = f'{{{{(index .NetworkSettings.Networks "{network}").{field}}}}}'
        return self.cli.out("inspect", "-f", template, container).strip()

    def netns(self, container: str) -> str:
        return self.cli.out("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", container).strip()

    def file(self, container: str, path: str) -> str:
        return self.cli.out("exec", container, "cat", path)

    def counters(self) -> dict[str, str]:
        """The embedded DNS server's counters, as ``berth info`` shows them."""
        rows = json.loads(self.cli.out("info", "--format", "{{json .DriverStatus}}"))
        return {key: value for key, value in rows if key.startswith("Embedded DNS")}


@pytest.fixture(name="dns")
def dns_fixture(host: Ns) -> Iterator[Dns]:
    with stub_resolver(host.path, zone=dict(ZONE)) as stub, berthd_in(host) as daemon:
        daemon.host_resolv_conf.write_text(f"nameserver {STUB_ADDRESS}\nsearch corp.test\n")
        daemon.start()
        yield Dns(Cli(daemon), daemon, stub, host)
