"""Helpers for API unit tests: the app over a real NetworkController (fake kernel, memory
store) with the fakes of apifakes, served by aiohttp's test server; and raw sockets for the
hijacked routes, which aiohttp's client cannot speak."""

from __future__ import annotations

import asyncio
import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from berth.api.app import make_app
from berth.api.context import ApiContext, DaemonInfo
from berth.controller.controller import NetworkController
from berth.kernel.fake import FakeKernel, fake_kernel
from tests.unit.apifakes import FakeContainers, FakeEvents
from tests.unit.test_controller import make


@dataclass
class Env:
    ctl: NetworkController
    fake: FakeKernel
    events: FakeEvents
    containers: FakeContainers
    ctx: ApiContext
    app: web.Application
    client: TestClient = field(init=False)

    def state(self) -> tuple[Any, Any]:
        """Everything a bad request must leave unchanged: the store and the fake kernel."""
        store = self.ctl._store
        return copy.deepcopy(store._data), self.fake.snapshot(include_nft=True)  # type: ignore[attr-defined]


INFO = DaemonInfo(
    version="0.1.0",
    name="unit-host",
    data_root="/fake/state",
    exec_root="/fake/run",
    firewall_backend="nftables",
    default_address_pools=({"Base": "172.17.0.0/16", "Size": 16},),
)


async def start_env(max_body: int = 1 << 20) -> Env:
    kernel, fake = fake_kernel()
    events = FakeEvents(asyncio.get_running_loop())
    ctl = make(kernel)
    ctl.events = events
    ctl.ensure_predefined_networks()
    containers = FakeContainers(ctl, events)
    ctx = ApiContext(
        controller=ctl,
        containers=containers,  # type: ignore[arg-type]  # a structural fake
        events=events,
        executor=ThreadPoolExecutor(2),
        info=INFO,
        max_body=max_body,
    )
    app = make_app(ctx)
    env = Env(ctl, fake, events, containers, ctx, app)
    env.client = TestClient(TestServer(app))
    await env.client.start_server()
    return env


async def stop_env(env: Env) -> None:
    await env.client.close()
    env.ctx.executor.shutdown(wait=True)  # type: ignore[attr-defined]


@dataclass
class RawStream:
    """A hijacked connection as a client sees it."""

    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def frames(self) -> list[tuple[int, bytes]]:
        """Read Docker stdcopy frames until the server closes the connection."""
        found = []
        while header := await self.reader.read(8):
            size = int.from_bytes(header[4:8], "big")
            found.append((header[0], await self.reader.readexactly(size)))
        return found

    async def frame(self) -> tuple[int, bytes]:
        header = await self.reader.readexactly(8)
        return header[0], await self.reader.readexactly(int.from_bytes(header[4:8], "big"))


async def raw_request(
    env: Env, path: str, body: bytes = b"", *, upgrade: bool = True, method: str = "POST"
) -> RawStream:
    """Send a request on a plain socket (aiohttp's client cannot be hijacked)."""
    reader, writer = await asyncio.open_connection(env.client.host, env.client.port)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: {len(body)}\r\n"
        "Content-Type: application/json\r\n"
    )
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        key, _, value = line.decode().partition(":")
        headers[key.strip()] = value.strip()
    return RawStream(status, headers, reader, writer)
