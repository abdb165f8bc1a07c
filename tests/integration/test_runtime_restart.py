"""Restart policies, the daemon going away and coming back (shims keep containers running),
forced removal, --rm, rename, and network connect/disconnect on live and stopped containers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from berth.controller.transaction import Transaction
from berth.model.errors import InvalidParameter
from berth.model.ports import parse_port_spec
from berth.runtime.api import EndpointSettings, RestartPolicy
from berth.runtime.errors import ContainerNameInUse, ContainerRunning
from berth.runtime.service import ContainerRuntime
from tests.integration.daemonenv import alive, shim_pids
from tests.integration.netenv import call
from tests.integration.runtimeenv import (  # noqa: F401
    Env,
    env_fixture,
    output,
    remove_all,
    rt_fixture,
    server,
    sh,
    user_network,
    wait_for_log,
)

pytestmark = pytest.mark.root


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_on_failure_restarts_exactly_max_times(env: Env, rt: ContainerRuntime) -> None:
    policy = RestartPolicy("on-failure", 2)
    container = await rt.create(sh("echo run; exit 1", restart_policy=policy))
    await rt.start(container.id)
    await until(lambda: rt.get(container.id).state.status == "exited")
    await asyncio.sleep(0.5)  # no further restart comes
    state = rt.get(container.id).state
    assert state.status == "exited" and state.restart_count == 2 and state.exit_code == 1
    assert (await output(rt, container.id)).count("run\n") == 3
    assert env.events.actions(container.id).count("die") == 3
    assert env.controller.sandboxes() == []


async def test_always_restarts_after_a_crash_but_not_after_stop(rt: ContainerRuntime) -> None:
    policy = RestartPolicy("always")
    container = await rt.create(sh("echo run; sleep 0.2; exit 1", restart_policy=policy))
    await rt.start(container.id)
    await until(lambda: rt.get(container.id).state.restart_count >= 2)
    await until(lambda: rt.get(container.id).state.status == "running")
    await rt.stop(container.id, timeout=1)
    await asyncio.sleep(0.6)
    state = rt.get(container.id).state
    assert state.status == "exited" and not state.running
    on_failure = await rt.create(sh("exit 0", restart_policy=RestartPolicy("on-failure")))
    await rt.start(on_failure.id)
    assert await asyncio.wait_for(rt.wait(on_failure.id), 10) == 0
    await asyncio.sleep(0.3)
    assert rt.get(on_failure.id).state.restart_count == 0


async def test_daemon_restart_keeps_containers_running(env: Env) -> None:
    user_network(env.controller, "front", "10.81.0.0/24")
    first = env.runtime()
    try:
        web = await first.create(
            server(80, "web", network_mode="front", port_bindings=parse_port_spec("8081:80"))
        )
        await first.start(web.id)
        await wait_for_log(first, web.id, "listening")
        pid = first.get(web.id).state.pid
    finally:
        await first.shutdown()  # the daemon stops: containers must not
    assert alive(pid)
    assert (call(env.host, "127.0.0.1", 8081) or "").startswith("web ")
    second = env.runtime()
    try:
        await second.restore()
        assert second.get(web.id).state.status == "running"
        assert len(second.endpoints(web.id)) == 1
        assert (call(env.host, "127.0.0.1", 8081) or "").startswith("web ")
        await second.stop(web.id, timeout=0)
        assert not alive(pid)
        assert second.get(web.id).state.exit_code == 137
        assert env.controller.sandboxes() == []
    finally:
        await remove_all(second)
        await second.shutdown()


async def test_exit_while_the_daemon_is_down(env: Env) -> None:
    first = env.runtime()
    try:
        quiet = await first.create(sh("sleep 60"))
        again = await first.create(sh("sleep 60", restart_policy=RestartPolicy("always")))
        for container in (quiet, again):
            await first.start(container.id)
        pids = [first.get(c.id).state.pid for c in (quiet, again)]
    finally:
        await first.shutdown()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    await until(lambda: not any(alive(p) for p in pids))
    await until(lambda: len(shim_pids(env.run)) == 0)
    second = env.runtime()
    try:
        await second.restore()
        state = second.get(quiet.id).state
        assert state.status == "exited" and state.exit_code == 137
        await until(lambda: second.get(again.id).state.status == "running")
        assert [s.id for s in env.controller.sandboxes()] == [again.id]
    finally:
        await remove_all(second)
        await second.shutdown()


DAEMON = textwrap.dedent(
    """
    import asyncio, sys, time
    from concurrent.futures import ThreadPoolExecutor
    from berth.events import NullSink
    from berth.local import open_controller
    from berth.runtime.api import ContainerConfig
    from berth.runtime.service import ContainerRuntime

    state, run, host = sys.argv[1:4]

    async def main():
        ctl = open_controller(state_dir=state, exec_root=run, host_ns=host)
        rt = ContainerRuntime(controller=ctl, executor=ThreadPoolExecutor(2), events=NullSink(),
                              data_root=state, exec_root=run)
        c = await rt.create(ContainerConfig(cmd=("sleep", "300"), name="survivor"))
        await rt.start(c.id)
        print(c.id, rt.get(c.id).state.pid, flush=True)
        await asyncio.sleep(300)

    asyncio.run(main())
    """
)


async def test_shim_survives_kill_9_of_the_daemon(env: Env) -> None:
    daemon = subprocess.Popen(
        [sys.executable, "-c", DAEMON, str(env.state), str(env.run), env.host.path],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        container_id, pid = daemon.stdout.readline().split()
    finally:
        daemon.kill()
        daemon.wait()
    assert alive(int(pid)) and len(shim_pids(env.run)) == 1
    runtime = env.runtime()
    try:
        await runtime.restore()
        assert runtime.get("survivor").state.status == "running"
        await runtime.stop("survivor", timeout=0)
        assert not alive(int(pid))
        assert runtime.get(container_id).state.status == "exited"
    finally:
        await remove_all(runtime)
        await runtime.shutdown()


async def test_remove_refuses_a_running_container_unless_forced(
    env: Env, rt: ContainerRuntime
) -> None:
    container = await rt.create(sh("sleep 60", name="victim"))
    await rt.start("victim")
    pid = rt.get("victim").state.pid
    with pytest.raises(ContainerRunning, match="You cannot remove a running container"):
        await rt.remove("victim")
    await rt.remove("victim", force=True)
    assert not alive(pid)
    assert rt.list(all=True) == []
    assert env.controller.sandboxes() == []
    assert not os.path.exists(container.path)
    assert env.events.actions(container.id)[-1] == "destroy"


async def test_auto_remove(rt: ContainerRuntime) -> None:
    container = await rt.create(sh("exit 2", auto_remove=True))
    waiter = asyncio.ensure_future(rt.wait(container.id, "removed"))
    await rt.start(container.id)
    assert await asyncio.wait_for(waiter, 10) == 2
    assert rt.list(all=True) == []


async def test_rename(env: Env, rt: ContainerRuntime) -> None:
    first = await rt.create(sh("true", name="old"))
    await rt.create(sh("true", name="taken"))
    with pytest.raises(ContainerNameInUse, match='"/taken" is already in use'):
        await rt.rename("old", "taken")
    await rt.rename("/old", "new")
    assert rt.get("new").id == first.id and rt.get(first.id).name == "new"
    assert env.events.items[-1].attributes["oldName"] == "/old"
    with pytest.raises(InvalidParameter):
        await rt.rename("new", "x")  # names have at least two characters


async def test_connect_and_disconnect(env: Env, rt: ContainerRuntime) -> None:
    user_network(env.controller, "front", "10.82.0.0/24")
    user_network(env.controller, "back", "10.83.0.0/24")
    await rt.create(sh("sleep 60", name="multi", network_mode="front"))
    stopped = await rt.create(sh("ls /sys/class/net | sort | tr '\\n' ' '", name="later"))
    await rt.start("multi")
    endpoint = await rt.connect("multi", "back", EndpointSettings(aliases=("api",)))
    assert endpoint is not None and str(endpoint.ipv4).startswith("10.83.0.")
    hosts = Path(rt.get("multi").path, "hosts").read_text()
    assert str(endpoint.ipv4.ip) in hosts  # type: ignore[union-attr]
    assert len(rt.endpoints("multi")) == 2
    await rt.disconnect("multi", "front")
    assert [e.network_id for e in rt.endpoints("multi").values()] == [
        env.controller.network("back").id
    ]
    assert "10.82.0." not in Path(rt.get("multi").path, "hosts").read_text()
    assert list(rt.get("multi").config.networks) == ["back"]
    # a stopped container keeps the network for its next start
    assert await rt.connect("later", "back", EndpointSettings()) is None
    await rt.start(stopped.id)
    assert await asyncio.wait_for(rt.wait(stopped.id), 10) == 0
    assert await output(rt, stopped.id) == "eth0 eth1 lo "
    shared = await rt.create(sh("sleep 60", network_mode="container:multi"))
    with pytest.raises(InvalidParameter, match="sharing network namespace"):
        await rt.connect(shared.id, "front", EndpointSettings())


async def test_daemon_start_brings_back_always_but_not_stopped_unless_stopped(env: Env) -> None:
    first = env.runtime()
    try:
        always = await first.create(sh("sleep 60", restart_policy=RestartPolicy("always")))
        unless = await first.create(sh("sleep 60", restart_policy=RestartPolicy("unless-stopped")))
        for container in (always, unless):
            await first.start(container.id)
            await first.stop(container.id, timeout=0)  # by hand
    finally:
        await first.shutdown()
    second = env.runtime()
    try:
        await second.restore()
        await until(lambda: second.get(always.id).state.status == "running")
        await asyncio.sleep(0.3)
        assert second.get(unless.id).state.status == "exited"
        await second.restart(always.id, timeout=0)
        assert second.get(always.id).state.status == "running"
        assert env.events.actions(always.id)[-1] == "restart"
    finally:
        await remove_all(second)
        await second.shutdown()


async def test_restore_cleans_up_a_start_the_daemon_did_not_finish(env: Env) -> None:
    """As if berthd died between starting the shim and recording the start."""
    first = env.runtime()
    try:
        container = await first.create(sh("sleep 60"))
        net = await asyncio.to_thread(first._net.setup, container, Transaction())
        ready = await asyncio.to_thread(
            first._spawn_shim, container, first._launch_spec(container, net)
        )
    finally:
        await first.shutdown()
    assert alive(ready["pid"]) and len(env.controller.sandboxes()) == 1
    second = env.runtime()
    try:
        await second.restore()
        await until(lambda: not alive(ready["pid"]) and not shim_pids(env.run))
        assert env.controller.sandboxes() == []
        assert second.get(container.id).state.status == "created"
        await second.start(container.id)  # and it starts normally afterwards
        assert second.get(container.id).state.status == "running"
    finally:
        await remove_all(second)
        await second.shutdown()
