"""Attach (stdin, tty, before start, with log replay) and exec into running containers."""

from __future__ import annotations

import asyncio

import pytest

from berth.runtime.api import Attachment, ContainerConfig, ExecConfig
from berth.runtime.errors import StartFailed
from berth.runtime.service import ContainerRuntime
from tests.integration.runtimeenv import (  # noqa: F401
    Env,
    env_fixture,
    output,
    rt_fixture,
    sh,
    user_network,
)

pytestmark = pytest.mark.root


async def read_all(attachment: Attachment, timeout: float = 10) -> dict[str, bytes]:
    seen = {"stdout": b"", "stderr": b""}
    while True:
        chunk = await asyncio.wait_for(attachment.read(), timeout)
        if chunk is None:
            return seen
        stream, data = chunk
        seen[stream] += data


async def read_until(attachment: Attachment, text: bytes, timeout: float = 10) -> bytes:
    seen = b""
    while text not in seen:
        chunk = await asyncio.wait_for(attachment.read(), timeout)
        assert chunk is not None, f"stream ended before {text!r}: {seen!r}"
        seen += chunk[1]
    return seen


async def test_attach_stdin_to_cat(rt: ContainerRuntime) -> None:
    config = ContainerConfig(cmd=("cat",), name="cat", open_stdin=True, stdin_once=True)
    await rt.create(config)
    await rt.start("cat")
    attachment = await rt.attach("cat", stdin=True, stdout=True, stderr=True)
    await attachment.write(b"hello\n")
    assert await read_until(attachment, b"hello\n") == b"hello\n"
    await attachment.write(b"world\n")
    await attachment.close_stdin()  # StdinOnce: cat gets EOF and exits
    assert (await read_all(attachment))["stdout"] == b"world\n"
    assert await asyncio.wait_for(rt.wait("cat"), 10) == 0
    assert await output(rt, "cat") == "hello\nworld\n"


async def test_attach_before_start_misses_nothing(rt: ContainerRuntime) -> None:
    config = ContainerConfig(cmd=("sh", "-c", "echo first; read x; echo got $x; exit 4"))
    container = await rt.create(replace_stdin(config))
    attachment = await rt.attach(container.id, stdin=True, stdout=True, stderr=True)
    await attachment.write(b"early\n")  # before the process exists: delivered at start
    await rt.start(container.id)
    seen = await read_all(attachment)
    assert seen["stdout"] == b"first\ngot early\n"
    assert await asyncio.wait_for(rt.wait(container.id), 10) == 4


def replace_stdin(config: ContainerConfig) -> ContainerConfig:
    from dataclasses import replace

    return replace(config, open_stdin=True, stdin_once=True)


async def test_tty_mode(rt: ContainerRuntime) -> None:
    config = ContainerConfig(
        cmd=("sh", "-c", 'tty; stty size; echo $TERM; read line; echo "<$line>"'),
        tty=True,
        open_stdin=True,
        name="tty",
    )
    await rt.create(config)
    attachment = await rt.attach("tty", stdin=True, stdout=True, stderr=True)
    assert attachment.tty
    await rt.start("tty")
    await rt.resize("tty", 40, 120)
    await attachment.write(b"typed\r")
    seen = (await read_all(attachment))["stdout"]
    assert b"/dev/pts/" in seen
    assert b"xterm" in seen
    assert b"<typed>" in seen
    assert await asyncio.wait_for(rt.wait("tty"), 10) == 0


async def test_attach_with_log_replay(rt: ContainerRuntime) -> None:
    container = await rt.create(sh("echo before; sleep 0.5; echo after"))
    await rt.start(container.id)
    await asyncio.sleep(0.2)
    attachment = await rt.attach(container.id, stdin=False, stdout=True, stderr=True, logs=True)
    assert (await read_all(attachment))["stdout"] == b"before\nafter\n"


async def test_exec_runs_in_the_container(env: Env, rt: ContainerRuntime) -> None:
    user_network(env.controller, "front", "10.79.0.0/24")
    await rt.create(
        sh(
            "sleep 60",
            name="box",
            hostname="boxhost",
            network_mode="front",
            env=("FROM_CONTAINER=1",),
        )
    )
    await rt.start("box")
    script = (
        "hostname; echo $FROM_CONTAINER $FROM_EXEC; echo pid=$$; "
        "ip -o -4 addr show eth0 | awk '{print $4}'; pwd; exit 5"
    )
    instance = await rt.exec_create(
        "box", ExecConfig(cmd=("sh", "-c", script), env=("FROM_EXEC=2",), working_dir="/tmp")
    )
    assert env.events.actions(instance.container_id)[-1].startswith("exec_create: sh -c")
    attachment = await rt.exec_start(instance.id)
    assert attachment is not None
    seen = await read_all(attachment)
    hostname, variables, pid, address, cwd = seen["stdout"].decode().splitlines()
    assert hostname == "boxhost"
    assert variables == "1 2"
    assert int(pid.removeprefix("pid=")) > 1  # inside the container's PID namespace: small pids
    assert int(pid.removeprefix("pid=")) < 50
    assert address.startswith("10.79.0.")
    assert cwd == "/tmp"
    inspected = rt.exec_inspect(instance.id)
    assert inspected.exit_code == 5 and not inspected.running
    await asyncio.sleep(0.1)
    assert "exec_die" in env.events.actions(instance.container_id)


async def test_exec_sees_the_container_processes(rt: ContainerRuntime) -> None:
    await rt.create(sh("sleep 60", name="procs"))
    await rt.start("procs")
    instance = await rt.exec_create("procs", ExecConfig(cmd=("sh", "-c", "cat /proc/1/cmdline")))
    attachment = await rt.exec_start(instance.id)
    assert attachment is not None
    assert (await read_all(attachment))["stdout"] == b"sh\x00-c\x00sleep 60\x00"


async def test_exec_tty_and_stdin(rt: ContainerRuntime) -> None:
    await rt.create(sh("sleep 60", name="ttyexec"))
    await rt.start("ttyexec")
    config = ExecConfig(cmd=("sh", "-c", "tty; read x; echo got:$x"), tty=True, attach_stdin=True)
    instance = await rt.exec_create("ttyexec", config)
    attachment = await rt.exec_start(instance.id)
    assert attachment is not None and attachment.tty
    await rt.exec_resize(instance.id, 30, 100)
    await attachment.write(b"abc\r")
    seen = (await read_all(attachment))["stdout"]
    assert b"/dev/pts/" in seen and b"got:abc" in seen
    assert rt.exec_inspect(instance.id).exit_code == 0


async def test_exec_missing_command_and_detached_exec(rt: ContainerRuntime) -> None:
    await rt.create(sh("sleep 60", name="ex"))
    await rt.start("ex")
    missing = await rt.exec_create("ex", ExecConfig(cmd=("no-such-tool",)))
    with pytest.raises(StartFailed, match="executable file not found") as failure:
        await rt.exec_start(missing.id)
    assert failure.value.exit_code == 127
    assert rt.exec_inspect(missing.id).exit_code == 127
    detached = await rt.exec_create("ex", ExecConfig(cmd=("sh", "-c", "exit 7")))
    assert await rt.exec_start(detached.id, detach=True) is None
    for _ in range(200):
        if rt.exec_inspect(detached.id).exit_code is not None:
            break
        await asyncio.sleep(0.02)
    assert rt.exec_inspect(detached.id).exit_code == 7


async def test_waiting_attachment_ends_when_the_container_is_removed(rt: ContainerRuntime) -> None:
    container = await rt.create(sh("true"))
    attachment = await rt.attach(container.id, stdin=False, stdout=True, stderr=True)
    reader = asyncio.ensure_future(attachment.read())
    await asyncio.sleep(0.05)
    assert not reader.done()  # waits for a start
    await rt.remove(container.id)
    assert await asyncio.wait_for(reader, 5) is None
