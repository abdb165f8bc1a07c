"""End to end, as a user runs berth: the real ``berthd`` inside a throwaway host namespace (own
data root, exec root, pid file and socket; daemonenv.py), driven by the installed ``berth``
command, with real traffic. 127.0.0.1:8080 is the host namespace's loopback, so "reached from the
host" means from the namespace berthd treats as the machine.

What it shows (issue 3, "How it is shown"): a published server reached from the host and from
another container; the container keeps running and answering while berthd is stopped by SIGTERM
or killed with -9, and the restarted berthd takes it back (ps, exec, logs, stop, rm); a
``--restart always`` container whose process died while berthd was down comes back when berthd
starts; nothing berth made is left once the containers and the network are removed; container,
host and none network modes; exit codes, both log streams and ``berth exec``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import signal
from collections.abc import Iterator

import pytest

from berth.kernel.netns import LinuxNetns
from tests.integration.daemonenv import Berthd, Cli, alive, berthd_in
from tests.integration.netenv import PEER, PYTHON, Ns, call, serve, wait_for

pytestmark = pytest.mark.root

SUBNET = "10.95.0.0/24"
COUNTER = re.compile(r"counter packets \d+ bytes \d+")


@pytest.fixture
def cli(host: Ns) -> Iterator[Cli]:
    """A started berthd and the CLI for it. Teardown (daemonenv) kills the daemon and every
    shim and container it started, and unmounts their namespaces."""
    with berthd_in(host) as daemon:
        daemon.start()
        yield Cli(daemon)


def serve_web(cli: Cli, name: str, port: int) -> str:
    """``run -d`` a peer.py TCP server on :80 published on ``port``; its id, once it listens."""
    cid = cli.out(
        "run", "-d", "--name", name, "--network", "front", "-p", f"{port}:80",
        "busybox", PYTHON, PEER, "serve", "--port", "80", "--tag", name, "--lifetime", "600",
    ).strip()  # fmt: skip
    assert len(cid) == 64
    assert wait_for(lambda: "ready" in cli.out("logs", name), timeout=15), cli.out("logs", name)
    return cid


def from_host(host: Ns, port: int) -> str | None:
    return call(host, "127.0.0.1", port, timeout=2)


def from_container(cli: Cli, address: str, network: str = "front") -> str:
    """Connect to ``address``:80 from a new container on ``network``; the server's answer."""
    return cli.out(
        "run", "--rm", "--network", network, "busybox",
        PYTHON, PEER, "call", "--host", address, "--port", "80", "--timeout", "5",
    ).strip()  # fmt: skip


def inspect(cli: Cli, name: str, template: str) -> str:
    return cli.out("inspect", "-f", template, name).strip()


def pid_of(cli: Cli, name: str) -> int:
    return int(inspect(cli, name, "{{.State.Pid}}"))


def ip_of(cli: Cli, name: str) -> str:
    return inspect(cli, name, '{{(index .NetworkSettings.Networks "front").IPAddress}}')


def kernel_state(host: Ns, daemon: Berthd) -> list[str]:
    """What berth made in the host namespace, one line per thing: links, sandbox namespace
    files, and its nft table (chains, rules, sets and their elements; counters removed)."""
    links = json.loads(host.ip("-j", "link", "show").stdout)
    table = host.run("nft", "list", "table", "inet", "berth").stdout
    return [
        *(f"link {link['ifname']}" for link in sorted(links, key=lambda x: x["ifname"])),
        *(f"netns {path}" for path in LinuxNetns().list(str(daemon.run_dir / "netns"))),
        *(f"nft {COUNTER.sub('counter', line.strip())}" for line in table.splitlines()),
    ]


def same(before: list[str], after: list[str]) -> bool:
    """Equal, or fail with the difference."""
    assert after == before, "\n".join(difflib.unified_diff(before, after, lineterm=""))
    return True


def test_a_published_server_keeps_serving_across_a_sigterm_of_berthd(cli: Cli, host: Ns) -> None:
    cli("network", "create", "front", "--subnet", SUBNET)
    cid = serve_web(cli, "web", 8080)
    web_ip = ip_of(cli, "web")
    assert web_ip.startswith("10.95.0.")
    assert (from_host(host, 8080) or "").startswith("web ")
    assert from_container(cli, web_ip).startswith("web 10.95.0.")
    pid = pid_of(cli, "web")

    daemon = cli.daemon
    assert daemon.stop(signal.SIGTERM) == 0  # a systemctl stop
    assert alive(pid)
    assert (from_host(host, 8080) or "").startswith("web ")

    daemon.start()
    assert "container web: re-attached to its running shim" in daemon.log()
    assert cli.out("ps", "--format", "{{.Names}} {{.Status}}").startswith("web Up ")
    assert pid_of(cli, "web") == pid
    assert cli.out("exec", "web", "hostname") == cid[:12] + "\n"
    assert from_container(cli, web_ip).startswith("web 10.95.0.")
    assert cli.out("stop", "-t", "1", "web") == "web\n"
    assert not alive(pid)
    assert from_host(host, 8080) is None
    assert cli.out("ps", "-a", "--format", "{{.Names}} {{.State}}") == "web exited\n"


def test_kill_9_of_berthd_leaves_containers_running_and_rm_leaves_nothing(
    cli: Cli, host: Ns
) -> None:
    before = kernel_state(host, cli.daemon)
    cli("network", "create", "front", "--subnet", SUBNET)
    serve_web(cli, "web2", 8080)
    pid = pid_of(cli, "web2")
    assert (from_host(host, 8080) or "").startswith("web2 ")

    daemon = cli.daemon
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    assert alive(pid)
    assert (from_host(host, 8080) or "").startswith("web2 ")

    daemon.start()
    assert "container web2: re-attached to its running shim" in daemon.log()
    assert inspect(cli, "web2", "{{.State.Status}} {{.State.Pid}}") == f"running {pid}"
    assert (from_host(host, 8080) or "").startswith("web2 ")
    assert from_container(cli, ip_of(cli, "web2")).startswith("web2 10.95.0.")
    assert cli.out("logs", "web2") == "ready\n"
    assert cli.out("stop", "-t", "1", "web2") == "web2\n"
    assert not alive(pid) and from_host(host, 8080) is None
    assert cli.out("rm", "web2") == "web2\n"
    assert cli.out("network", "rm", "front") == "front\n"
    assert same(before, kernel_state(host, daemon))


def test_restart_always_brings_back_a_container_that_died_while_berthd_was_down(
    cli: Cli,
) -> None:
    cli("run", "-d", "--name", "keeper", "--restart", "always", "busybox", "sleep", "600")
    pid = pid_of(cli, "keeper")
    daemon = cli.daemon
    assert daemon.stop(signal.SIGTERM) == 0
    assert alive(pid)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not alive(pid), 5)

    daemon.start()

    def back() -> bool:
        state = inspect(cli, "keeper", "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}")
        status, new_pid, count = state.split()
        return status == "running" and int(new_pid) not in (0, pid) and count == "1"

    assert wait_for(back, 10), inspect(cli, "keeper", "{{json .State}}")
    assert alive(pid_of(cli, "keeper"))


def test_network_modes_exit_codes_logs_and_exec(cli: Cli, host: Ns) -> None:
    cli("network", "create", "front", "--subnet", SUBNET)
    serve_web(cli, "web", 8080)
    # container mode: the other container's sandbox, so its loopback
    shared = cli.out(
        "run", "--rm", "--network", "container:web", "busybox",
        PYTHON, PEER, "call", "--host", "127.0.0.1", "--port", "80",
    )  # fmt: skip
    assert shared == "web 127.0.0.1\n"
    # host: the daemon's host namespace itself
    own = host.run("readlink", "/proc/self/ns/net").stdout
    assert (
        cli.out("run", "--rm", "--network", "host", "busybox", "readlink", "/proc/self/ns/net")
        == own
    )
    listener = serve(host, 9090, tag="hostpeer")
    try:
        answer = cli.out(
            "run", "--rm", "--network", "host", "busybox",
            PYTHON, PEER, "call", "--host", "127.0.0.1", "--port", "9090",
        )  # fmt: skip
        assert answer == "hostpeer 127.0.0.1\n"
    finally:
        listener.kill()
        listener.wait(5)
    # none: loopback only
    names = "import socket; print(sorted(n for _, n in socket.if_nameindex()))"
    assert cli.out("run", "--rm", "--network", "none", "busybox", PYTHON, "-c", names) == (
        "['lo']\n"
    )

    assert cli("run", "--rm", "busybox", "sh", "-c", "exit 3", status=3).stdout == ""
    cli("run", "--name", "talker", "busybox", "sh", "-c", "echo out; echo err >&2; exit 0")
    logs = cli("logs", "talker")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
    assert cli("exec", "web", "sh", "-c", "echo in-web; exit 5", status=5).stdout == "in-web\n"
    assert cli.out("exec", "web", "hostname") == inspect(cli, "web", "{{.Config.Hostname}}") + "\n"
