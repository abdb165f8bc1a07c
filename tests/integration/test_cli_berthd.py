"""The `berth` command against a real berthd: the daemon runs inside a throwaway host namespace
with its own data root, exec root, pid file and socket (tests/integration/daemonenv.py starts
it), and the CLI, as installed (the `berth` console script), drives it. Traffic checks
run inside that namespace only: 127.0.0.1:8080 is the host namespace's loopback."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.integration.daemonenv import Cli, berthd_in
from tests.integration.netenv import Ns, call, wait_for

pytestmark = pytest.mark.root

TCP_SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(8)
print("listening", flush=True)
while True:
    c, a = s.accept()
    c.sendall(("web " + a[0] + "\\n").encode())
    c.close()
"""
TCP_CLIENT = """
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=5)
print(s.recv(200).decode().strip())
"""


@pytest.fixture
def cli(host: Ns) -> Iterator[Cli]:
    with berthd_in(host) as daemon:
        daemon.start()
        berth = Cli(daemon)
        try:
            yield berth
        finally:
            leftover = berth("ps", "-aq", "--no-trunc", status=None).stdout.split()
            if leftover:
                berth("rm", "-f", *leftover, status=None)
            if daemon.proc is not None:
                daemon.stop()


def test_network_commands(cli: Cli, host: Ns) -> None:
    created = cli.out(
        "network", "create", "--subnet", "10.88.0.0/24", "--gateway", "10.88.0.1",
        "--ip-range", "10.88.0.128/25", "--aux-address", "router=10.88.0.5",
        "--label", "tier=front", "-o", "com.docker.network.bridge.name=brfront", "front",
    ).strip()  # fmt: skip
    assert len(created) == 64 and int(created, 16) >= 0
    assert host.ip("link", "show", "brfront").returncode == 0

    table = cli.out("network", "ls").splitlines()
    assert table[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert f"{created[:12]}   front     bridge    local" in table
    assert {line.split()[1] for line in table[1:]} == {"bridge", "front", "host", "none"}
    assert created in cli.out("network", "ls", "-q", "--no-trunc").split()
    assert cli.out("network", "ls", "-f", "label=tier=front", "--format", "{{.Name}}") == "front\n"
    rows = [json.loads(line) for line in cli.out("network", "ls", "--format", "json").splitlines()]
    assert {"Name": "front", "Driver": "bridge", "ID": created[:12]}.items() <= rows[1].items()

    fmt = (
        "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}} "
        '{{json .AuxiliaryAddresses}}{{end}} {{index .Options "com.docker.network.bridge.name"}} '
        "{{.Labels.tier}} {{.Internal}}"
    )
    assert cli.out("network", "inspect", "-f", fmt, "front") == (
        'front 10.88.0.0/24 10.88.0.1 10.88.0.128/25 {"router":"10.88.0.5"} brfront front false\n'
    )
    [inspected] = json.loads(cli.out("network", "inspect", created[:8]))
    assert inspected["Id"] == created and inspected["Name"] == "front"

    err = cli("network", "create", "front", status=1).stderr
    assert err == "Error response from daemon: network with name front already exists\n"
    assert "pre-defined network" in cli("network", "rm", "bridge", status=1).stderr
    missing = cli("network", "inspect", "nosuch", status=1)
    assert missing.stdout == "[]\n"
    assert missing.stderr.startswith("Error response from daemon: ") and "nosuch" in missing.stderr

    cli("network", "create", "--internal", "back")
    assert cli.out("network", "rm", "front", "back") == "front\nback\n"
    assert host.ip("link", "show", "brfront", check=False).returncode != 0
    assert cli.out("network", "rm", "-f", "front") == ""

    cli("network", "create", "--label", "old=1", "p1")
    cli("network", "create", "p2")
    out = cli.out("network", "prune", "--filter", "label=old", input="y\n")
    assert out.endswith("Deleted Networks:\np1\n\n")
    assert cli.out("network", "prune", "-f") == "Deleted Networks:\np2\n\n"
    assert cli.out("network", "ls", "--format", "{{.Name}}").split() == ["bridge", "host", "none"]


def ip_of(cli: Cli, container: str, network: str) -> str:
    fmt = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return cli.out("inspect", "-f", fmt, container).strip()


def test_published_web_server_exec_and_ps(cli: Cli, host: Ns) -> None:
    cli("network", "create", "--subnet", "10.89.0.0/24", "front")
    cid = cli.out(
        "run", "-d", "--name", "web", "--network", "front", "-p", "8080:80",
        "busybox", "python3", "-c", TCP_SERVER,
    ).strip()  # fmt: skip
    assert len(cid) == 64
    assert wait_for(lambda: "listening" in cli.out("logs", "web"), timeout=15)

    # from the test host's loopback, through the published port
    answer = call(host, "127.0.0.1", 8080, timeout=5)
    assert answer is not None and answer.startswith("web ")
    # from another container on the same network, by the container's address
    web_ip = ip_of(cli, "web", "front")
    assert web_ip.startswith("10.89.0.")
    other = cli.out(
        "run", "--rm", "--network", "front", "busybox", "python3", "-c", TCP_CLIENT, web_ip
    )
    assert other.startswith("web 10.89.0.")

    assert cli.out("ps", "-q") == cid[:12] + "\n"
    assert cli.out("ps", "-q", "--no-trunc") == cid + "\n"
    names_ports = cli.out("ps", "--format", "{{.Names}}|{{.Ports}}|{{.Networks}}|{{.State}}")
    assert names_ports.startswith("web|0.0.0.0:8080->80/tcp") and names_ports.endswith(
        "|front|running\n"
    )
    [row] = [json.loads(line) for line in cli.out("ps", "--format", "json").splitlines()]
    assert row["Names"] == "web" and row["ID"] == cid[:12] and row["Image"] == "busybox"
    table = cli.out("ps").splitlines()
    assert table[0].split() == [
        "CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
    ]  # fmt: skip
    assert table[1].startswith(f'{cid[:12]}   busybox   "python3 -c')
    assert "80/tcp -> 0.0.0.0:8080" in cli.out("port", "web")
    assert cli.out("port", "web", "80").splitlines()[0] == "0.0.0.0:8080"
    assert cli.out("inspect", "-f", "{{.State.Running}} {{.Name}}", "web") == "true /web\n"

    assert cli("exec", "web", "sh", "-c", "exit 7", status=7).stdout == ""
    assert cli.out("exec", "-e", "GREETING=hi", "web", "sh", "-c", "echo $GREETING") == "hi\n"
    assert cli.out("exec", "-i", "web", "cat", input="piped in\n") == "piped in\n"
    assert cli.out("exec", "-w", "/tmp", "web", "pwd") == "/tmp\n"

    assert cli.out("stop", "-t", "1", "web") == "web\n"
    assert cli.out("ps", "-a", "--format", "{{.Names}} {{.State}}") == "web exited\n"
    assert cli.out("ps", "--format", "{{.Names}}") == ""
    assert cli.out("rm", "web") == "web\n"
    assert "No such container" in cli("inspect", "--type", "container", "web", status=1).stderr


def test_exit_statuses_logs_and_stdin(cli: Cli) -> None:
    result = cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", status=3)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    assert cli.out("ps", "-aq") == ""  # --rm removed it

    cli("run", "--name", "talker", "busybox", "sh", "-c", "echo one; echo two; echo oops >&2")
    logs = cli("logs", "talker")
    assert (logs.stdout, logs.stderr) == ("one\ntwo\n", "oops\n")
    tail = cli("logs", "--tail", "2", "talker")  # the last lines of both streams together
    assert (tail.stdout, tail.stderr) == ("two\n", "oops\n")
    stamped = cli.out("logs", "-t", "talker").splitlines()
    assert stamped[0].endswith(" one") and stamped[0][:4].isdigit() and "T" in stamped[0]
    assert cli.out("logs", "--since", "1h", "talker") == "one\ntwo\n"
    assert cli.out("wait", "talker") == "0\n"

    assert (
        cli.out("run", "--rm", "-i", "busybox", "cat", input="hello\nworld\n") == "hello\nworld\n"
    )
    assert cli("run", "--rm", "busybox", "no-such-command-xyz", status=127).stderr.startswith(
        "Error response from daemon: "
    )
    err = cli("run", "--network", "nosuch", "busybox", "true", status=125).stderr
    assert err == "Error response from daemon: network nosuch not found\n"
    assert "Error:" in cli("run", "--bogus-flag", "busybox", status=125).stderr

    cli("run", "-d", "--name", "sleeper", "busybox", "sleep", "60")
    assert cli.out("kill", "sleeper") == "sleeper\n"
    assert cli.out("wait", "sleeper") == "137\n"
    assert cli.out("rename", "sleeper", "napper") == ""
    assert cli.out("rm", "napper", "talker") == "napper\ntalker\n"
    assert "No such container" in cli("rm", "talker", status=1).stderr


def test_events_and_version(cli: Cli) -> None:
    start = f"{time.time() - 1:.3f}"
    cli("network", "create", "evnet")
    cli("run", "--rm", "--network", "evnet", "busybox", "true")
    lines = cli.out(
        "events", "--since", start, "--until", f"{time.time() + 1:.3f}", "--filter", "type=network"
    ).splitlines()
    mine = [line for line in lines if "name=evnet" in line]  # not the predefined networks
    assert [line.split()[2] for line in mine] == ["create", "connect", "disconnect"]
    assert mine[0].endswith(" (name=evnet, type=bridge)")
    assert mine[0].split()[1] == "network" and mine[0][:4].isdigit()
    as_json = cli.out(
        "events", "--since", start, "--until", f"{time.time():.3f}", "--format", "json"
    )
    assert json.loads(as_json.splitlines()[0])["Type"] in ("network", "container")
    assert cli.out("version", "--format", "{{.Server.ApiVersion}}") == "1.47\n"
    assert "Containers: 0" in cli.out("info")


def run_in_pty(
    argv: list[str], send: bytes, after: bytes, timeout: float = 30
) -> tuple[int, bytes]:
    """Run ``argv`` on a new pseudo-terminal; type ``send`` once ``after`` was printed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI, with the pty as its terminal
        os.execv(argv[0], argv)
    output, sent = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if not sent and after in output:
                os.write(fd, send)
                sent = True
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output


@pytest.mark.skipif(not shutil.which("stty"), reason="needs stty")
def test_tty_run_and_exec_restore_the_terminal(cli: Cli) -> None:
    script = "tty; read line; echo got:$line; exit 4"
    inner = " ".join(
        f"'{a}'" for a in cli.argv("run", "--rm", "-it", "busybox", "sh", "-c", script)
    )
    # the CLI runs under sh on the pty; stty afterwards shows the terminal is cooked again
    code, output = run_in_pty(
        ["/bin/sh", "-c", f"{inner}; echo status=$?; stty -a"], b"typed\r", b"/dev/pts/"
    )
    text = output.decode(errors="replace")
    assert code == 0, text
    assert "got:typed" in text and "status=4" in text
    assert " icanon " in f" {text} " and " echo " in f" {text} "

    cli("run", "-d", "--name", "box", "busybox", "sleep", "60")
    code, output = run_in_pty(cli.argv("exec", "-it", "box", "sh", "-c", "tty; exit 5"), b"", b"")
    assert code == 5 and b"/dev/pts/" in output
