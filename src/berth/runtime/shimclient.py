"""The daemon's side of a shim: starting one, and talking to it over its socket (asyncio).

The socket is reached through ``/proc/self/fd/<dir fd>/attach.sock`` because a container dir
under a long exec root (pytest's tmp dirs) exceeds the 108 bytes of a unix socket path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any

from berth.model.errors import InternalError
from berth.runtime.errors import StartFailed
from berth.runtime.launch import SHIM_LOG_NAME
from berth.runtime.protocol import (
    CONTROL,
    HEADER,
    SOCKET_NAME,
    frame,
    parse_control,
    parse_header,
)

SPAWN_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 30.0
# exit codes of setup failures that are the user's doing (missing executable, bad cwd)
_USER_ERRORS = (126, 127, 128)


class ShimGone(Exception):
    """The shim's socket is gone or closed mid-conversation (the container has exited)."""


class ShimLauncher:
    """Starts shims through the fork server (``forkserver``), started on first use and again
    if it died. Blocking and thread-safe: the daemon calls it from its executor."""

    def __init__(self, command: Sequence[str]) -> None:
        self._command = list(command)
        self._server: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def spawn(self, path: str) -> dict[str, Any]:
        """Start the shim for the container dir ``path`` and wait until its process is set up
        and held before exec. Returns the shim's ready message."""
        with self._lock:
            line = self._ask(path)
        if not line:
            raise InternalError(f"the container shim did not start: {_shim_log_tail(path)}")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            code = int(reply.get("exit_code", 255))
            message = f"failed to start container process: {reply.get('error')}"
            if code in _USER_ERRORS:
                raise StartFailed(message, code)
            raise InternalError(f"{message} ({_shim_log_tail(path)})")
        return reply

    def _ask(self, path: str) -> bytes:
        server = self._server
        if server is None or server.poll() is not None:
            server = self._server = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
            )
        assert server.stdin is not None and server.stdout is not None
        try:
            server.stdin.write(path.encode() + b"\n")
            server.stdin.flush()
            ready, _, _ = select.select([server.stdout], [], [], SPAWN_TIMEOUT_S)
            line = server.stdout.readline() if ready else b""
        except OSError:
            line = b""
        if not line:
            self._stop()  # dead or stuck: the next spawn starts a fresh one
        return line

    def _stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        for pipe in (server.stdin, server.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            server.wait(timeout=2)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    def close(self) -> None:
        """Let the fork server go (it exits when its stdin closes); shims keep running."""
        with self._lock:
            self._stop()


def _shim_log_tail(path: str) -> str:
    try:
        with open(os.path.join(path, SHIM_LOG_NAME), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 2000))
            return f.read().decode(errors="replace").strip().splitlines()[-1]
    except (OSError, IndexError):
        return "no diagnostics"


def kill_shim(shim_pid: int, container_pid: int, timeout: float = 5.0) -> None:
    """SIGKILL the shim (its container process dies with it: PDEATHSIG), then wait until the
    container process is gone. Blocking."""
    for pid in (shim_pid, container_pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(container_pid):
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


async def _open(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError as err:
        raise ShimGone(f"no container directory {path}") from err
    try:
        return await asyncio.open_unix_connection(f"/proc/self/fd/{fd}/{SOCKET_NAME}")
    except (FileNotFoundError, ConnectionRefusedError) as err:
        raise ShimGone(f"no shim listening in {path}") from err
    finally:
        os.close(fd)


class ShimStream:
    """One connection to a shim: a request, its reply, then frames until either side closes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, path: str, request: dict[str, Any]) -> tuple[ShimStream, dict[str, Any]]:
        reader, writer = await _open(path)
        stream = cls(reader, writer)
        try:
            await stream.send(CONTROL, json.dumps(request).encode())
            first = await asyncio.wait_for(stream.next(), REQUEST_TIMEOUT_S)
            if first is None or first[0] != CONTROL:
                raise ShimGone(f"the shim in {path} closed the connection")
            return stream, parse_control(first[1])
        except BaseException:
            stream.close()
            raise

    async def next(self) -> tuple[int, bytes] | None:
        """The next frame, or None once the shim has closed the connection."""
        try:
            header = await self._reader.readexactly(HEADER.size)
            kind, length = parse_header(header)
            return kind, await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def send(self, kind: int, payload: bytes) -> None:
        try:
            self._writer.write(frame(kind, payload))
            await self._writer.drain()
        except ConnectionError as err:
            raise ShimGone("the shim closed the connection") from err

    def close(self) -> None:
        self._writer.close()


async def request(path: str, message: dict[str, Any]) -> dict[str, Any]:
    """A one-shot request (start, signal, resize, state)."""
    stream, reply = await ShimStream.open(path, message)
    stream.close()
    return reply
