"""Containers for real: network modes, names and /etc files, PID namespaces, exit codes, logs."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from berth.model.errors import Conflict
from berth.model.ports import parse_port_spec
from berth.runtime.api import ContainerConfig, ExecConfig
from berth.runtime.errors import StartFailed
from berth.runtime.etcfiles import ResolvConf
from berth.runtime.service import ContainerRuntime
from tests.integration.netenv import PEER, PYTHON, call
from tests.integration.runtimeenv import (  # noqa: F401
    TCP_SERVER,
    Env,
    collect_logs,
    env_fixture,
    output,
    py,
    rt_fixture,
    run_to_exit,
    server,
    sh,
    user_network,
    wait_for_log,
)

pytestmark = pytest.mark.root


async def test_exit_codes_and_both_streams(rt: ContainerRuntime) -> None:
    cid, code = await run_to_exit(rt, sh("echo out; echo err >&2; exit 3", name="codes"))
    assert code == 3
    container = rt.get("codes")
    assert container.state.status == "exited" and container.state.exit_code == 3
    assert await output(rt, cid) == "out\n"
    assert await output(rt, cid, "stderr") == "err\n"
    _, code = await run_to_exit(rt, sh("true"))
    assert code == 0


async def test_missing_command_is_127_with_the_message_in_the_logs(rt: ContainerRuntime) -> None:
    container = await rt.create(ContainerConfig(cmd=("no-such-command-xyz",), name="nocmd"))
    with pytest.raises(StartFailed) as failure:
        await rt.start("nocmd")
    assert failure.value.exit_code == 127
    assert "executable file not found" in str(failure.value)
    state = rt.get("nocmd").state
    assert state.exit_code == 127 and state.status == "created"
    assert "no-such-command-xyz" in await output(rt, container.id, "stderr")
    assert rt._ctl.sandboxes() == []


async def test_sigkill_gives_137(rt: ContainerRuntime) -> None:
    container = await rt.create(sh("sleep 60"))
    await rt.start(container.id)
    await rt.kill(container.id)
    assert await asyncio.wait_for(rt.wait(container.id), 10) == 137
    assert rt.get(container.id).state.exit_code == 137


async def test_own_pid_namespace(rt: ContainerRuntime) -> None:
    cid, code = await run_to_exit(rt, sh("echo pid=$$; ls /proc | grep -c '^[0-9]'"))
    assert code == 0
    pid_line, count = (await output(rt, cid)).split()
    assert pid_line == "pid=1"
    assert int(count) <= 3  # sh, ls, grep


async def test_hostname_hosts_and_resolv_conf(env: Env, rt: ContainerRuntime) -> None:
    user_network(env.controller, "front", "10.77.0.0/24")
    config = sh(
        "hostname; echo ---; cat /etc/hostname; echo ---; cat /etc/hosts; echo ---; "
        "cat /etc/resolv.conf",
        name="named",
        hostname="web1",
        domainname="example.test",
        network_mode="front",
        extra_hosts=("db:10.9.9.9", "gw:host-gateway"),
        dns_options=("ndots:2",),
    )
    cid, code = await run_to_exit(rt, config)
    assert code == 0, await output(rt, cid, "stderr")
    hostname, hostname_file, hosts, resolv = (await output(rt, cid)).split("---\n")
    assert hostname == "web1\n" and hostname_file == "web1\n"
    assert "127.0.0.1\tlocalhost\n" in hosts
    assert "10.9.9.9\tdb\n" in hosts and "10.77.0.1\tgw\n" in hosts
    assert "10.77.0.2\tweb1.example.test web1\n" in hosts
    # a user-defined network: the embedded DNS server, the host's servers as its upstreams
    assert "nameserver 127.0.0.11\n" in resolv and "search example.test\n" in resolv
    assert "# ExtServers: [host(127.0.0.53) host(192.0.2.53)]\n" in resolv
    assert "options ndots:2\n" in resolv and "ndots:0" not in resolv


async def test_default_hostname_is_the_short_id(rt: ContainerRuntime) -> None:
    cid, _code = await run_to_exit(rt, sh("hostname; grep -c $(hostname) /etc/hosts"))
    assert (await output(rt, cid)).split() == [cid[:12], "1"]


async def test_bridge_container_serves_the_host_and_other_containers(
    env: Env, rt: ContainerRuntime
) -> None:
    user_network(env.controller, "front", "10.78.0.0/24")
    web = await rt.create(
        server(
            80, "web", name="web", network_mode="front", port_bindings=parse_port_spec("8080:80")
        )
    )
    await rt.start("web")
    await wait_for_log(rt, "web", "listening")
    address = next(iter(rt.endpoints("web").values())).ipv4
    assert address is not None
    ip = str(address.ip)
    assert (call(env.host, ip, 80) or "").startswith("web ")
    assert (call(env.host, "127.0.0.1", 8080) or "").startswith("web ")
    client = sh(f"{PYTHON} {PEER} call --host {ip} --port 80", network_mode="front")
    cid, code = await run_to_exit(rt, client)
    assert code == 0 and (await output(rt, cid)).startswith("web 10.78.0.")
    # the default bridge network too
    cid, code = await run_to_exit(rt, sh("ls /sys/class/net | sort | tr '\\n' ' '"))
    assert code == 0 and (await output(rt, cid)) == "eth0 lo "
    await rt.stop("web", timeout=1)
    assert rt.endpoints("web") == {}
    assert [s.id for s in env.controller.sandboxes()] == []
    assert rt.get(web.id).state.status == "exited"


async def test_host_network(env: Env, rt: ContainerRuntime) -> None:
    await rt.create(server(7001, "onhost", name="hostnet", network_mode="host"))
    await rt.start("hostnet")
    await wait_for_log(rt, "hostnet", "listening")
    assert (call(env.host, "127.0.0.1", 7001) or "").startswith("onhost ")
    cid, code = await run_to_exit(
        rt, sh("hostname; cat /etc/resolv.conf; grep hostbox /etc/hosts", network_mode="host")
    )
    text = await output(rt, cid)
    assert code == 0
    assert text.splitlines()[0] == socket.gethostname()
    assert "nameserver 127.0.0.53" in text  # host mode keeps the host's own resolvers
    assert "hostbox" in text


async def test_none_network_has_only_loopback(rt: ContainerRuntime) -> None:
    cid, code = await run_to_exit(rt, sh("ls /sys/class/net", network_mode="none"))
    assert code == 0
    assert (await output(rt, cid)).split() == ["lo"]


async def test_container_mode_shares_ip_and_loopback(rt: ContainerRuntime) -> None:
    PEER_LOCAL = TCP_SERVER.replace('"0.0.0.0"', '"127.0.0.1"')
    await rt.create(py(PEER_LOCAL.format(port=9000, tag="first"), name="first"))
    await rt.start("first")
    await wait_for_log(rt, "first", "listening")
    first_ip = str(next(iter(rt.endpoints("first").values())).ipv4.ip)  # type: ignore[union-attr]
    script = f"{PYTHON} {PEER} call --host 127.0.0.1 --port 9000; ip -o -4 addr show eth0"
    cid, code = await run_to_exit(rt, sh(script, network_mode="container:first"))
    text = await output(rt, cid)
    assert code == 0, await output(rt, cid, "stderr")
    assert text.startswith("first 127.0.0.1")
    assert f"inet {first_ip}/" in text
    assert rt.endpoints(cid) == {}
    # a stopped target cannot be joined
    await rt.stop("first", timeout=0)
    late = await rt.create(sh("true", network_mode="container:first"))
    with pytest.raises(Conflict, match="non running container"):
        await rt.start(late.id)


async def test_logs_tail_since_until(rt: ContainerRuntime) -> None:
    cid, _ = await run_to_exit(rt, sh("for i in 1 2 3 4 5; do echo line$i; sleep 0.05; done"))
    entries = await collect_logs(rt, cid)
    assert [e.data for e in entries] == [f"line{i}\n".encode() for i in range(1, 6)]
    tail = await collect_logs(rt, cid, tail=2)
    assert [e.data for e in tail] == [b"line4\n", b"line5\n"]
    since = await collect_logs(rt, cid, since_ns=entries[2].time_ns)
    assert [e.data for e in since] == [b"line3\n", b"line4\n", b"line5\n"]
    until = await collect_logs(rt, cid, until_ns=entries[1].time_ns)
    assert [e.data for e in until] == [b"line1\n"]
    assert await collect_logs(rt, cid, stdout=False) == []


async def test_logs_follow_ends_when_the_container_stops(rt: ContainerRuntime) -> None:
    container = await rt.create(sh("echo a; sleep 0.3; echo b; sleep 0.3; echo c"))
    await rt.start(container.id)
    started = time.monotonic()
    seen = [e.data async for e in rt.logs(container.id, follow=True)]
    assert seen == [b"a\n", b"b\n", b"c\n"]
    assert time.monotonic() - started >= 0.5


async def test_start_latency_is_measured(
    rt: ContainerRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    """Printed, not asserted: how long start() takes (sandbox, bridge endpoint, /etc files,
    shim, exec), median of several runs, per network mode."""
    results = {}
    for mode in ("bridge", "none", "host"):
        durations = []
        for _ in range(7):
            container = await rt.create(sh("sleep 30", network_mode=mode))
            began = time.perf_counter()
            await rt.start(container.id)
            durations.append(time.perf_counter() - began)
            await rt.remove(container.id, force=True)
        results[mode] = statistics.median(durations) * 1000
    with capsys.disabled():
        summary = ", ".join(f"{mode} {ms:.1f} ms" for mode, ms in results.items())
        print(f"\ncontainer start latency (median of 7): {summary}")


def minimal_rootfs(root: Path) -> Path:
    """/bin/sh with its libraries, and the directories a container needs."""
    for directory in ("bin", "proc", "sys", "etc", "work", "lib/x86_64-linux-gnu", "lib64"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for path in ("/bin/sh", *shared_libraries("/bin/sh")):
        shutil.copy2(os.path.realpath(path), root / path.lstrip("/"))
    (root / "work" / "marker").write_text("inside\n")
    return root


def shared_libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return [part for line in out.splitlines() for part in line.split() if part.startswith("/")]


async def test_optional_root_directory(rt: ContainerRuntime, tmp_path: Path) -> None:
    root = minimal_rootfs(tmp_path / "rootfs")
    config = ContainerConfig(
        cmd=("/bin/sh", "-c", "read m < marker; echo $m $(pwd); read h < /etc/hostname; echo $h"),
        rootfs=str(root),
        working_dir="/work",
        hostname="jailed",
    )
    cid, code = await run_to_exit(rt, config)
    assert code == 0, await output(rt, cid, "stderr")
    assert await output(rt, cid) == "inside /work\njailed\n"
    assert (root / "etc" / "hosts").exists()  # created as a mount point for the container's own


async def test_exec_in_a_root_directory(rt: ContainerRuntime, tmp_path: Path) -> None:
    root = minimal_rootfs(tmp_path / "rootfs")
    config = ContainerConfig(cmd=("/bin/sh", "-c", "read x"), rootfs=str(root), open_stdin=True)
    container = await rt.create(config)
    await rt.start(container.id)
    instance = await rt.exec_create(
        container.id,
        ExecConfig(cmd=("/bin/sh", "-c", "read m < marker; echo $m"), working_dir="/work"),
    )
    attachment = await rt.exec_start(instance.id)
    assert attachment is not None
    chunk = await asyncio.wait_for(attachment.read(), 10)
    assert chunk == ("stdout", b"inside\n")
    await rt.kill(container.id)


async def test_daemon_dns_defaults_and_reload(rt: ContainerRuntime) -> None:
    rt.set_dns(ResolvConf(nameservers=("192.0.2.99",), search=("corp.test",)))
    cid, _ = await run_to_exit(rt, sh("cat /etc/resolv.conf", dns_search=("own.test",)))
    text = await output(rt, cid)
    assert "nameserver 192.0.2.99\n" in text and "192.0.2.53" not in text
    assert "search own.test\n" in text  # the container's own setting wins
