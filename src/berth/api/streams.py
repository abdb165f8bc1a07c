"""Streaming: Docker's hijacked connections (attach, exec start), its multiplexed stdout/stderr
framing, and long-lived responses (logs --follow, events) that end when the client goes away.

Hijacking: dockerd answers ``Upgrade: tcp`` requests with ``101 UPGRADED`` and then treats the
socket as a raw bidirectional pipe (``200 OK`` with a raw-stream body when the client did not ask
for an upgrade). Here the response head is written by aiohttp (so the standard headers are
added), and the transport's protocol is swapped for one that hands incoming bytes to the route:
aiohttp's own protocol would close the socket when the client half-closes (the docker CLI does
that when stdin ends) and the rest of the output would be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeVar

from aiohttp import web

from berth.api.base import STREAM_STARTED, at_least
from berth.runtime.api import Attachment

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
_STREAM_IDS = {"stdin": 0, "stdout": 1, "stderr": 2}
POLL_SECONDS = 1.0

T = TypeVar("T")
log = logging.getLogger(__name__)


def frame(stream: Literal["stdout", "stderr"], data: bytes) -> bytes:
    """Docker's stdcopy header: stream id, three zero bytes, big-endian payload length."""
    return struct.pack(">BxxxI", _STREAM_IDS[stream], len(data)) + data


def stream_content_type(request: web.Request, multiplexed: bool) -> str:
    return MULTIPLEXED_STREAM if multiplexed and at_least(request, "1.42") else RAW_STREAM


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class _RawResponse(web.StreamResponse):
    """A response whose body is whatever bytes follow the head: no length, no chunking."""

    _length_check = False


class Hijacked:
    """The client's side of a hijacked connection."""

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response
        self.lost = asyncio.Event()
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()

    def feed(self, data: bytes | None) -> None:
        self._incoming.put_nowait(data)

    async def read(self) -> bytes | None:
        """Next bytes from the client; None once it closed its sending side."""
        return await self._incoming.get()

    async def write(self, data: bytes) -> None:
        await self.response.write(data)


class _HijackProtocol(asyncio.Protocol):
    def __init__(self, original: Any, sink: Hijacked) -> None:
        self._original = original
        self._sink = sink

    def data_received(self, data: bytes) -> None:
        self._sink.feed(data)

    def eof_received(self) -> bool:
        self._sink.feed(None)
        return True  # half-closed: keep sending the output

    def connection_lost(self, exc: Exception | None) -> None:
        self._sink.feed(None)
        self._sink.lost.set()
        self._original.connection_lost(exc)

    def pause_writing(self) -> None:
        self._original.pause_writing()

    def resume_writing(self) -> None:
        self._original.resume_writing()


async def hijack(request: web.Request, *, multiplexed: bool) -> Hijacked:
    if "Upgrade" in request.headers:
        response: web.StreamResponse = _RawResponse(
            status=101,
            reason="UPGRADED",
            headers={
                "Content-Type": stream_content_type(request, multiplexed),
                "Connection": "Upgrade",
                "Upgrade": "tcp",
            },
        )
    else:
        response = _RawResponse(status=200, headers={"Content-Type": RAW_STREAM})
    response.force_close()
    hijacked = Hijacked(response)
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client went away before the stream started")
    transport.set_protocol(_HijackProtocol(request.protocol, hijacked))
    request[STREAM_STARTED] = True
    await response.prepare(request)
    return hijacked


async def relay(hijacked: Hijacked, attachment: Attachment, *, stdin: bool) -> None:
    """Client bytes -> the process's stdin; its output -> the client (framed unless tty),
    until the output ends or the client goes away."""
    multiplexed = not attachment.tty

    async def upstream() -> None:
        while (data := await hijacked.read()) is not None:
            if stdin:
                await attachment.write(data)
        if stdin:
            await attachment.close_stdin()

    async def downstream() -> None:
        while (chunk := await attachment.read()) is not None:
            stream, data = chunk
            await hijacked.write(frame(stream, data) if multiplexed else data)

    tasks = [
        asyncio.create_task(upstream()),
        down := asyncio.create_task(downstream()),
        lost := asyncio.create_task(hijacked.lost.wait()),
    ]
    try:
        await asyncio.wait({down, lost}, return_when=asyncio.FIRST_COMPLETED)
        if down.done() and not down.cancelled():
            with contextlib.suppress(ConnectionError):
                down.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await attachment.close()


async def end_stream(response: web.StreamResponse) -> web.StreamResponse:
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


async def start_stream(request: web.Request, content_type: str) -> web.StreamResponse:
    """A 200 whose headers go out at once (clients wait for them before reading)."""
    response = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    request[STREAM_STARTED] = True
    await response.prepare(request)
    return response


async def forward(
    request: web.Request,
    source: AsyncIterator[T],
    emit: Callable[[T], Awaitable[bool]],
    *,
    deadline: float | None = None,
) -> None:
    """Feed items to ``emit`` (which returns False to stop) until the source ends, the client
    goes away (polled, since a quiet stream never notices otherwise), or ``deadline`` (loop
    time) passes; what the source already buffered by then is still delivered."""
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=1024)
    loop = asyncio.get_running_loop()

    async def produce() -> None:
        try:
            async for item in source:
                await queue.put((True, item))
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait((False, None))

    producer = asyncio.create_task(produce())
    try:
        while True:
            timeout = POLL_SECONDS
            if deadline is not None:
                timeout = max(0.05, min(timeout, deadline - loop.time()))
            try:
                more, item = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                if client_gone(request) or (deadline is not None and loop.time() >= deadline):
                    return
                continue
            try:
                if not more or not await emit(item):
                    return
            except ConnectionError:  # the client went away mid-write
                return
    finally:
        producer.cancel()
        (outcome,) = await asyncio.gather(producer, return_exceptions=True)
        if isinstance(outcome, Exception):  # the stream already started: log and end it
            log.warning("stream %s %s: source failed: %s", request.method, request.path, outcome)
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
