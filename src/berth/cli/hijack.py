"""Docker's stream protocols on the client side: the hijacked connection (attach, exec start)
and the multiplexed stdout/stderr framing.

A hijack is a POST with `Connection: Upgrade` and `Upgrade: tcp`; the daemon answers
`101 UPGRADED` (old daemons: 200) and from then on the socket carries raw bytes both ways:
stdin from us, the process's output from the daemon. http.client cannot hand over a socket
mid-response, so this module writes the request and parses the response head itself, keeping
any bytes that arrived after the head.

Without a tty the output is multiplexed: frames with an 8-byte header (stream type 0 stdin,
1 stdout, 2 stderr, 3 daemon error; three zero bytes; big-endian uint32 payload size).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Literal

from berth.cli.errors import StreamError

MAX_HEAD = 64 * 1024
STDOUT: Literal[1] = 1
STDERR: Literal[2] = 2
SYSERR = 3


def hijack_request(method: str, url: str, body: bytes, user_agent: str) -> bytes:
    """The request bytes that ask the daemon to hand over the connection."""
    lines = [
        f"{method} {url} HTTP/1.1",
        "Host: localhost",
        f"User-Agent: {user_agent}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: Upgrade",
        "Upgrade: tcp",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def until(self, marker: bytes, limit: int = MAX_HEAD) -> bytes:
        while marker not in self.buf:
            if len(self.buf) > limit or not self.fill():
                raise StreamError("the daemon closed the connection before answering")
        head, _, self.buf = self.buf.partition(marker)
        return head

    def exactly(self, size: int) -> bytes:
        while len(self.buf) < size:
            if not self.fill():
                break
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def rest(self) -> bytes:
        while self.fill():
            pass
        data, self.buf = self.buf, b""
        return data


def read_response_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes, bytes]:
    """(status, lower-cased headers, bytes after the head, error body when status >= 300)."""
    reader = _Reader(sock)
    head = reader.until(b"\r\n\r\n").decode("latin-1")
    status_line, *header_lines = head.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise StreamError(f"malformed response from daemon: {status_line[:80]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if status in (101, 200):
        return status, headers, reader.buf, b""
    return status, headers, b"", _error_body(reader, headers)


def _error_body(reader: _Reader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int(reader.until(b"\r\n").split(b";")[0] or b"0", 16)
            if size == 0:
                return body
            body += reader.exactly(size)
            reader.until(b"\r\n")
    if "content-length" in headers:
        return reader.exactly(int(headers["content-length"]))
    return reader.rest()


class Hijacked:
    """The upgraded connection: ``recv`` yields the leftover bytes first, then the socket's."""

    def __init__(self, sock: socket.socket, pending: bytes = b"") -> None:
        self.sock = sock
        self.pending = pending

    def recv(self, size: int = 65536) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        return self.sock.recv(size)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: the daemon sees end of stdin, output keeps flowing."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


Frame = tuple[Literal[1, 2], bytes]


class StreamDecoder:
    """Incremental decoder for Docker's multiplexed stream."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames: list[Frame] = []
        while len(self.buf) >= 8:
            kind = self.buf[0]
            if kind > SYSERR or any(self.buf[1:4]):
                raise StreamError(f"invalid multiplexed stream header {bytes(self.buf[:8])!r}")
            size = int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < 8 + size:
                break
            payload = bytes(self.buf[8 : 8 + size])
            del self.buf[: 8 + size]
            if kind == SYSERR:
                raise StreamError(
                    f"error from daemon in stream: {payload.decode(errors='replace')}"
                )
            frames.append((STDERR if kind == STDERR else STDOUT, payload))
        return frames

    def finish(self) -> None:
        """At end of stream: a partial frame left over means the stream was cut."""
        if self.buf:
            raise StreamError("unexpected end of multiplexed stream")


def encode_frame(stream: int, payload: bytes) -> bytes:
    """One frame (for tests and for servers written against this decoder)."""
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload
