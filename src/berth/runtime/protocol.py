"""The wire protocol between berthd and a container's shim, over ``<dir>/attach.sock``.

Every message is a frame: an 8-byte header (kind byte, three zero bytes, big-endian length, like
Docker's stdio multiplexing) and a payload. The client's first frame is a CONTROL request (JSON);
the shim answers with a CONTROL reply, then, depending on the request:

- ``{"op": "watch"}``: the shim pushes CONTROL events: {"event": "start", "pid", "started_at"},
  {"event": "exec_exit", "id", "exit_code"} and last {"event": "exit", "exit_code", ...}.
- ``{"op": "attach", "stdin", "stdout", "stderr"}`` and ``{"op": "exec", ...}``: STDOUT/STDERR
  frames flow to the client, STDIN frames and one STDIN_EOF to the shim; a CONTROL
  {"event": "exit", "exit_code"} ends the stream.
- one-shot requests (start, signal, resize, state): the reply is the whole conversation.

Used by the shim (blocking sockets) and by the daemon (asyncio streams); standard library only.
"""

from __future__ import annotations

import json
import struct
from typing import Any

STDIN, STDOUT, STDERR, CONTROL, STDIN_EOF = 0, 1, 2, 3, 4
KINDS = (STDIN, STDOUT, STDERR, CONTROL, STDIN_EOF)
HEADER = struct.Struct(">B3xI")
MAX_FRAME = 1 << 20
SOCKET_NAME = "attach.sock"
STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr"}


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def frame(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def control(message: dict[str, Any]) -> bytes:
    return frame(CONTROL, json.dumps(message, separators=(",", ":")).encode())


def parse_header(header: bytes) -> tuple[int, int]:
    kind, length = HEADER.unpack(header)
    if kind not in KINDS or length > MAX_FRAME:
        raise ProtocolError(f"bad frame header {header.hex()}")
    return kind, length


def parse_control(payload: bytes) -> dict[str, Any]:
    try:
        message = json.loads(payload)
    except ValueError as err:
        raise ProtocolError(f"bad control message: {err}") from err
    if not isinstance(message, dict):
        raise ProtocolError("a control message must be a JSON object")
    return message


class FrameBuffer:
    """Accumulates bytes and yields complete frames (for the shim's non-blocking sockets)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames: list[tuple[int, bytes]] = []
        while len(self._buf) >= HEADER.size:
            kind, length = parse_header(bytes(self._buf[: HEADER.size]))
            end = HEADER.size + length
            if len(self._buf) < end:
                break
            frames.append((kind, bytes(self._buf[HEADER.size : end])))
            del self._buf[:end]
        return frames
