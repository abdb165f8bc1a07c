"""Fixtures and helpers for the container runtime's integration tests (no tests here).

Test modules import ``env_fixture`` and ``rt_fixture`` (fixtures ``env`` and ``rt``) with
``# noqa: F401``: ``rt`` is a ContainerRuntime over a controller whose "host" is the throwaway
``host`` namespace, with state and run dirs in the test's tmp dir and the host's /etc/hosts and
resolv.conf replaced by test copies. Teardown kills every container and shim the test started,
even after a failure: first through the runtime, then by scanning /proc for shims whose command
line names the test's run dir (``daemonenv.kill_shims``; their container processes die with them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from berth.controller.controller import NetworkController
from berth.events import Event
from berth.local import open_controller
from berth.model.network import IpamConfig, IpamPoolConfig, NetworkSpec
from berth.runtime.api import ContainerConfig, LogEntry
from berth.runtime.networking import HostFiles
from berth.runtime.service import ContainerRuntime
from tests.integration.conftest import remove_sandbox_mounts
from tests.integration.daemonenv import kill_shims
from tests.integration.netenv import PYTHON, Ns

HOST_RESOLV = "nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.test\n"
HOST_HOSTS = "127.0.0.1\tlocalhost\n192.0.2.9\thostbox\n"


class Events:
    """An EventSink that keeps everything (thread-safe enough: list.append)."""

    def __init__(self) -> None:
        self.items: list[Event] = []

    def publish(self, event: Event) -> None:
        self.items.append(event)

    def actions(self, container_id: str) -> list[str]:
        return [e.action for e in self.items if e.actor_id == container_id]


@dataclass
class Env:
    host: Ns
    tmp: Path
    state: Path
    run: Path
    controller: NetworkController
    events: Events = field(default_factory=Events)
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4))

    def runtime(self, **kwargs: Any) -> ContainerRuntime:
        return ContainerRuntime(
            controller=self.controller,
            executor=self.executor,
            events=self.events,
            data_root=str(self.state),
            exec_root=str(self.run),
            host_files=HostFiles(
                hosts=str(self.tmp / "host-hosts"), resolv_conf=str(self.tmp / "host-resolv")
            ),
            stop_timeout=2.0,
            **kwargs,
        )


@pytest.fixture(name="env")
def env_fixture(host: Ns, tmp_path: Path) -> Iterator[Env]:
    state, run = tmp_path / "state", tmp_path / "run"
    (tmp_path / "host-resolv").write_text(HOST_RESOLV)
    (tmp_path / "host-hosts").write_text(HOST_HOSTS)
    ctl = open_controller(state_dir=str(state), exec_root=str(run), host_ns=host.path)
    environment = Env(host, tmp_path, state, run, ctl)
    try:
        yield environment
    finally:
        kill_shims(run)
        for sandbox in ctl.sandboxes():
            with contextlib.suppress(Exception):
                ctl.delete_sandbox(sandbox.id)
        ctl.close()
        environment.executor.shutdown(wait=True)
        remove_sandbox_mounts(run)


@pytest.fixture(name="rt")
async def rt_fixture(env: Env) -> AsyncIterator[ContainerRuntime]:
    runtime = env.runtime()
    try:
        yield runtime
    finally:
        await remove_all(runtime)
        await runtime.shutdown()


async def remove_all(runtime: ContainerRuntime) -> None:
    for container in runtime.list(all=True):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runtime.remove(container.id, force=True), 15)


def user_network(ctl: NetworkController, name: str, subnet: str) -> str:
    spec = NetworkSpec(name=name, ipam=IpamConfig(config=(IpamPoolConfig(subnet=_net(subnet)),)))
    return ctl.create_network(spec).id


def _net(text: str) -> Any:
    from ipaddress import ip_network

    return ip_network(text)


def sh(script: str, **kwargs: Any) -> ContainerConfig:
    return ContainerConfig(cmd=("sh", "-c", script), **kwargs)


def py(code: str, **kwargs: Any) -> ContainerConfig:
    return ContainerConfig(cmd=(PYTHON, "-c", code), **kwargs)


TCP_SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {port}))
s.listen(8)
print("listening", flush=True)
while True:
    c, a = s.accept()
    c.sendall(("{tag} " + a[0] + "\\n").encode())
    c.close()
"""


def server(port: int, tag: str, **kwargs: Any) -> ContainerConfig:
    return py(TCP_SERVER.format(port=port, tag=tag), **kwargs)


async def collect_logs(runtime: ContainerRuntime, ref: str, **kwargs: Any) -> list[LogEntry]:
    return [entry async for entry in runtime.logs(ref, **kwargs)]


async def output(runtime: ContainerRuntime, ref: str, stream: str = "stdout") -> str:
    entries = await collect_logs(runtime, ref)
    return "".join(e.data.decode() for e in entries if e.stream == stream)


async def wait_for_log(runtime: ContainerRuntime, ref: str, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in await output(runtime, ref):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{text!r} not in the logs of {ref}: {await output(runtime, ref)!r}")


async def run_to_exit(
    runtime: ContainerRuntime, config: ContainerConfig, timeout: float = 20
) -> tuple[str, int]:
    container = await runtime.create(config)
    await runtime.start(container.id)
    code = await asyncio.wait_for(runtime.wait(container.id), timeout)
    return container.id, code


def in_sandbox(runtime: ContainerRuntime, ref: str) -> Ns:
    """The container's network namespace, for the test's own checks (nsenter --net)."""
    container = runtime.get(ref)
    assert container.sandbox_id is not None
    sandbox = runtime._ctl.sandbox(container.sandbox_id)
    return Ns(name=container.name, path=sandbox.netns_path)
