"""Forwarding what the name table does not answer: the upstream servers, raced.

Each try sends the query to every upstream at once, on a fresh connected UDP socket per upstream
(a random source port and a random query id each, and ICMP "port unreachable" ends a try at once
instead of after the timeout). The first usable answer wins: NOERROR or NXDOMAIN; SERVFAIL and
REFUSED from one upstream leave the others racing. A truncated UDP answer is asked again over
TCP. A try lasts ``TRY_TIMEOUT_S``; a second try follows only when an upstream stayed silent.
Docker asks its upstreams one after another with 4 s each, longer than a client's own timeout
when the first is dead (moby#20335); this keeps the worst case under two seconds.

Sockets for an upstream are created in its namespace (``Upstream.netns``): the sandbox's for
``--dns`` and the daemon's ``dns`` servers, berthd's own (the host's) for the host's resolv.conf,
so a loopback stub such as 127.0.0.53 works. Only ``socket()`` runs in the other namespace.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from berth.dns.wire import answers, rcode_of, truncated, with_id
from berth.kernel.netns import in_netns
from berth.model.errors import KernelError

IPAddress = IPv4Address | IPv6Address

TRY_TIMEOUT_S = 0.8
TRIES = 2
MAX_UPSTREAMS = 3  # like Docker (and glibc's MAXNS)
SERVFAIL, REFUSED = 2, 5
_LENGTH = struct.Struct("!H")


@dataclass(frozen=True)
class Upstream:
    address: IPAddress
    netns: str | None = None  # None: berthd's own namespace
    port: int = 53

    def __str__(self) -> str:
        """Docker's ExtServers notation: host(addr) for servers reached from the host."""
        return f"host({self.address})" if self.netns is None else str(self.address)

    @property
    def sockaddr(self) -> tuple[str, int]:
        return str(self.address), self.port


class Silent(Exception):
    """No usable answer from one upstream in this try (timeout, error, or a reply that does
    not answer the query)."""


class Forwarder:
    def __init__(self, *, timeout: float = TRY_TIMEOUT_S, tries: int = TRIES) -> None:
        self.timeout = timeout
        self.tries = tries

    async def forward(self, query: bytes, upstreams: Sequence[Upstream], *, tcp: bool) -> bytes:
        """The first usable answer (with the client's id), or ``Silent`` if there is none."""
        for _attempt in range(self.tries):
            try:
                return with_id(await self._race(query, upstreams, tcp), query[:2])
            except _Refused:  # every upstream answered and refused: asking again will not help
                raise Silent("each answered SERVFAIL or REFUSED") from None
            except Silent:
                continue
        raise Silent(f"no usable answer in {self.tries} tries of {self.timeout:g} s")

    async def _race(self, query: bytes, upstreams: Sequence[Upstream], tcp: bool) -> bytes:
        if len(upstreams) == 1:
            return self._usable(await self._exchange(query, upstreams[0], tcp))
        tasks = [asyncio.ensure_future(self._exchange(query, u, tcp)) for u in upstreams]
        silent = False
        try:
            for next_done in asyncio.as_completed(tasks):
                try:
                    return self._usable(await next_done)
                except _Refused:
                    continue
                except Silent:
                    silent = True
        finally:
            for task in tasks:
                task.cancel()
        raise Silent("no upstream answered") if silent else _Refused()

    @staticmethod
    def _usable(response: bytes) -> bytes:
        if rcode_of(response) in (SERVFAIL, REFUSED):
            raise _Refused()
        return response

    async def _exchange(self, query: bytes, upstream: Upstream, tcp: bool) -> bytes:
        message = with_id(query, random.getrandbits(16))
        try:
            async with asyncio.timeout(self.timeout):
                if not tcp:
                    response = await self._udp(message, upstream)
                    if not truncated(response):
                        return response
                return await self._tcp(message, upstream)
        except (OSError, KernelError, TimeoutError, asyncio.IncompleteReadError) as err:
            raise Silent(f"{upstream}: {err!r}") from None

    async def _udp(self, message: bytes, upstream: Upstream) -> bytes:
        loop = asyncio.get_running_loop()
        with _open(upstream, socket.SOCK_DGRAM) as sock:
            sock.connect(upstream.sockaddr)  # UDP: no packet, just the kernel's filter
            sock.send(message)
            while True:
                response = await loop.sock_recv(sock, 65535)
                if answers(message, response):
                    return response

    async def _tcp(self, message: bytes, upstream: Upstream) -> bytes:
        loop = asyncio.get_running_loop()
        with _open(upstream, socket.SOCK_STREAM) as sock:
            await loop.sock_connect(sock, upstream.sockaddr)
            await loop.sock_sendall(sock, _LENGTH.pack(len(message)) + message)
            (length,) = _LENGTH.unpack(await recv_exactly(loop, sock, 2))
            response = await recv_exactly(loop, sock, length)
            if not answers(message, response):
                raise Silent(f"{upstream}: the TCP answer does not match the query")
            return response


class _Refused(Exception):
    """Every upstream asked in this try answered SERVFAIL or REFUSED."""


def _open(upstream: Upstream, kind: int) -> socket.socket:
    family = socket.AF_INET if upstream.address.version == 4 else socket.AF_INET6
    with in_netns(upstream.netns):
        return socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)


async def recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int) -> bytes:
    """``size`` bytes from a stream socket, or IncompleteReadError at its end."""
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise asyncio.IncompleteReadError(data, size)
        data += chunk
    return data


def choose_upstreams(
    *,
    own: Sequence[IPAddress],
    daemon: Sequence[IPAddress],
    host: Sequence[IPAddress],
    netns: str,
    external: bool,
) -> tuple[Upstream, ...]:
    """Docker's order: the container's ``--dns``, else the daemon's ``dns`` (both reached from
    the sandbox's namespace), else the host's resolv.conf (from the host's), which a sandbox on
    internal networks only does not use."""
    if own or daemon:
        return tuple(Upstream(a, netns) for a in (own or daemon)[:MAX_UPSTREAMS])
    if not external:
        return ()
    return tuple(Upstream(a) for a in host[:MAX_UPSTREAMS])
