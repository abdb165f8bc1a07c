"""DNS helpers for integration tests (no tests here): a stub upstream resolver the test runs
itself, and a query tool to run inside containers.

``StubResolver`` answers from a small zone of its own with dnslib, in a thread of the test
process, on sockets created inside a test namespace (``in_netns`` for ``socket()`` only), so the
embedded server's forwarding never reaches a real resolver. It can be stopped (its port then
answers "unreachable") or made silent (it reads and drops), and it counts what it was asked.

``dnsq.py`` (next to this file) is what containers run: one query to 127.0.0.11 (or
``--server``), printed as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from berth.kernel.netns import in_netns

DNSQ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dnsq.py")
STUB_ADDRESS = "127.0.0.53"


@dataclass
class StubResolver:
    """``zone``: name (lowercase, no trailing dot) -> A addresses; "big.test" answers so many
    records that a UDP answer must be truncated; everything else is NXDOMAIN."""

    netns: str
    address: str = STUB_ADDRESS
    port: int = 53
    zone: dict[str, list[str]] = field(default_factory=dict)
    silent: bool = False
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
        if name == "big.test":
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
