"""Every way a start can fail leaves nothing behind: no sandbox, endpoint, namespace file, shim
or container process; the container stays startable."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from berth.kernel.netns import LinuxNetns
from berth.model.errors import BerthError, InternalError, KernelError
from berth.runtime import networking, shimclient
from berth.runtime.api import ContainerConfig, EndpointSettings
from berth.runtime.errors import StartFailed
from berth.runtime.service import ContainerRuntime
from tests.integration.daemonenv import shim_pids
from tests.integration.runtimeenv import (  # noqa: F401
    Env,
    env_fixture,
    rt_fixture,
    sh,
    user_network,
)

pytestmark = pytest.mark.root

MARKER = "sleep 4242"


def marked_processes() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}/cmdline").read_bytes() == b"sleep\x004242\x00":
                    found.append(int(entry))
    return found


def assert_nothing_left(env: Env) -> None:
    assert env.controller.sandboxes() == []
    assert env.controller.endpoints() == []
    assert LinuxNetns().list(str(env.run / "netns")) == []
    # a shim that reported its container's exit may still be closing its connections
    deadline = time.monotonic() + 2
    while (shim_pids(env.run) or marked_processes()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shim_pids(env.run) == []
    assert marked_processes() == []


def config(**kwargs: Any) -> ContainerConfig:
    return ContainerConfig(cmd=("sleep", "4242"), **kwargs)


@contextlib.contextmanager
def failing(
    obj: Any, name: str, when: Callable[..., bool] = lambda *a, **k: True
) -> Iterator[None]:
    """Make ``obj.name`` raise (when ``when(*args)`` holds) for the duration of the block."""
    original = getattr(obj, name)

    def broken(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            raise KernelError(f"injected failure in {name}")
        return original(*args, **kwargs)

    setattr(obj, name, broken)
    try:
        yield
    finally:
        setattr(obj, name, original)


async def start_fails(rt: ContainerRuntime, ref: str, error: type[BaseException]) -> None:
    with pytest.raises(error):
        await rt.start(ref)


async def test_second_network_fails(env: Env, rt: ContainerRuntime) -> None:
    user_network(env.controller, "front", "10.84.0.0/24")
    user_network(env.controller, "back", "10.85.0.0/24")
    taken = EndpointSettings(ipv4=IPv4Address("10.85.0.7"))
    await rt.create(sh("sleep 60", name="holder", network_mode="back", networks={"back": taken}))
    await rt.start("holder")
    container = await rt.create(config(network_mode="front", networks={"back": taken}))
    await start_fails(rt, container.id, BerthError)  # the address is taken
    assert [s.name for s in env.controller.sandboxes()] == ["holder"]
    await rt.remove("holder", force=True)
    assert_nothing_left(env)
    assert rt.get(container.id).state.status == "created"


@pytest.mark.parametrize(
    "target",
    ["create_sandbox", "connect"],
)
async def test_controller_fails(env: Env, rt: ContainerRuntime, target: str) -> None:
    container = await rt.create(config())
    with failing(env.controller, target):
        await start_fails(rt, container.id, KernelError)
    assert_nothing_left(env)


async def test_writing_etc_files_fails(env: Env, rt: ContainerRuntime, monkeypatch: Any) -> None:
    container = await rt.create(config())

    def broken(path: str, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(networking, "write_in_place", broken)
    await start_fails(rt, container.id, OSError)
    monkeypatch.undo()
    assert_nothing_left(env)


async def test_shim_does_not_start(env: Env) -> None:
    runtime = env.runtime(shim_command=("/bin/false",))
    try:
        container = await runtime.create(config())
        await start_fails(runtime, container.id, InternalError)
        assert_nothing_left(env)
    finally:
        await runtime.shutdown()


async def test_process_setup_fails(env: Env, rt: ContainerRuntime) -> None:
    container = await rt.create(config(working_dir="/no/such/dir"))
    with pytest.raises(StartFailed, match="chdir"):
        await rt.start(container.id)
    assert_nothing_left(env)


async def test_exec_fails(env: Env, rt: ContainerRuntime) -> None:
    container = await rt.create(ContainerConfig(cmd=("/etc/hostname",)))
    with pytest.raises(StartFailed, match="permission denied") as failure:
        await rt.start(container.id)
    assert failure.value.exit_code == 126
    assert_nothing_left(env)


@pytest.mark.parametrize("op", ["watch", "start"])
async def test_talking_to_the_shim_fails(
    env: Env, rt: ContainerRuntime, monkeypatch: Any, op: str
) -> None:
    container = await rt.create(config())
    original_open = shimclient.ShimStream.open.__func__  # type: ignore[attr-defined]

    async def broken(cls: Any, path: str, request: dict[str, Any]) -> Any:
        if request.get("op") == op:
            raise shimclient.ShimGone("injected")
        return await original_open(cls, path, request)

    monkeypatch.setattr(shimclient.ShimStream, "open", classmethod(broken))
    await start_fails(rt, container.id, shimclient.ShimGone)
    monkeypatch.undo()
    assert_nothing_left(env)
    await rt.start(container.id)  # and it still starts afterwards
    assert rt.get(container.id).state.status == "running"
    await rt.remove(container.id, force=True)
    assert_nothing_left(env)


async def test_recording_the_start_fails(env: Env, rt: ContainerRuntime) -> None:
    container = await rt.create(config())
    records = rt._records
    with failing(records, "update", when=lambda cid, **changes: "sandbox_id" in changes):
        await start_fails(rt, container.id, KernelError)
    assert_nothing_left(env)
