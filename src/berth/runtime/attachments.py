"""``Attachment`` implementations: live stdio relayed through a shim, an attachment waiting for
its container to start, and log replay in front of either."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Literal

from berth.runtime.api import Attachment, LogEntry
from berth.runtime.protocol import CONTROL, STDERR, STDIN, STDIN_EOF, STDOUT, parse_control
from berth.runtime.shimclient import ShimGone, ShimStream

Output = tuple[Literal["stdout", "stderr"], bytes]
MAX_EARLY_INPUT = 1 << 20


class ShimAttachment:
    """Relays one shim stream (container attach or exec). ``on_exit`` gets the exit code the
    shim reports at the end of the stream."""

    def __init__(
        self,
        stream: ShimStream,
        *,
        tty: bool,
        stdin: bool,
        stdout: bool = True,
        stderr: bool = True,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.tty = tty
        self.exit_code: int | None = None
        self._stream = stream
        self._stdin = stdin
        self._wanted = {STDOUT: stdout, STDERR: stderr}
        self._on_exit = on_exit

    async def read(self) -> Output | None:
        while True:
            frame = await self._stream.next()
            if frame is None:
                return None
            kind, payload = frame
            if kind == STDOUT and self._wanted[STDOUT]:
                return "stdout", payload
            if kind == STDERR and self._wanted[STDERR]:
                return "stderr", payload
            if kind == CONTROL:
                message = parse_control(payload)
                if message.get("event") == "exit":
                    self.exit_code = int(message["exit_code"])
                    if self._on_exit is not None:
                        self._on_exit(self.exit_code)
                    return None

    async def write(self, data: bytes) -> None:
        if self._stdin and data:
            await self._send(STDIN, data)

    async def close_stdin(self) -> None:
        if self._stdin:
            self._stdin = False
            await self._send(STDIN_EOF, b"")

    async def _send(self, kind: int, data: bytes) -> None:
        try:
            await self._stream.send(kind, data)
        except ShimGone:
            self._stdin = False  # the process is gone; what it would have read no longer matters

    async def close(self) -> None:
        self._stream.close()


class DeferredAttachment:
    """An attachment to a container that is not running yet. The runtime binds it while
    starting the container, before the process runs, so it misses no output; input written
    before that is kept and delivered first."""

    def __init__(self, *, tty: bool, stdin: bool, stdout: bool, stderr: bool) -> None:
        self.tty = tty
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self._inner: ShimAttachment | None = None
        self._bound = asyncio.Event()
        self._early: list[bytes] = []
        self._early_size = 0
        self._stdin_closed = False
        self.closed = False

    async def bind(self, stream: ShimStream) -> None:
        self._inner = ShimAttachment(
            stream, tty=self.tty, stdin=self.stdin, stdout=self.stdout, stderr=self.stderr
        )
        for data in self._early:
            await self._inner.write(data)
        if self._stdin_closed:
            await self._inner.close_stdin()
        self._early.clear()
        self._bound.set()

    async def read(self) -> Output | None:
        await self._bound.wait()
        return None if self._inner is None else await self._inner.read()

    async def write(self, data: bytes) -> None:
        if self._inner is not None:
            await self._inner.write(data)
        elif self.stdin and self._early_size + len(data) <= MAX_EARLY_INPUT:
            self._early.append(data)
            self._early_size += len(data)

    async def close_stdin(self) -> None:
        if self._inner is not None:
            await self._inner.close_stdin()
        self._stdin_closed = True

    async def close(self) -> None:
        self.closed = True
        self._bound.set()
        if self._inner is not None:
            await self._inner.close()


class ReplayAttachment:
    """The container's logged output first (attach with ``logs``), then the live stream."""

    def __init__(self, entries: list[LogEntry], live: Attachment | None, *, tty: bool) -> None:
        self.tty = tty
        self._entries = deque(entries)
        self._live = live

    async def read(self) -> Output | None:
        if self._entries:
            entry = self._entries.popleft()
            return entry.stream, entry.data
        return None if self._live is None else await self._live.read()

    async def write(self, data: bytes) -> None:
        if self._live is not None:
            await self._live.write(data)

    async def close_stdin(self) -> None:
        if self._live is not None:
            await self._live.close_stdin()

    async def close(self) -> None:
        if self._live is not None:
            await self._live.close()
