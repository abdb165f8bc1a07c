"""The real ``berthd`` for integration tests (helpers and one fixture, no tests here).

A ``Berthd`` runs ``python -m berth.daemon.main`` inside a throwaway host namespace with its own
data root, exec root, pid file and socket under a short temporary directory. Its ``cleanup``
kills the daemon and then every fork server, shim and container it started (found by their
command line, which names the daemon's exec root), unmounts the namespace files and removes the
directory, so a failing test leaves no process or mount behind.

The daemon is launched as it is installed: nothing stands in for a part that fails to import,
so such a failure shows up as a daemon that does not start, with its log in the assertion.

Test modules import ``berthd_fixture`` (fixture ``berthd``) with ``# noqa: F401``, or use
``berthd_in(host)`` directly; ``Cli`` runs the installed ``berth`` command against a Berthd.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from berth.runtime.forkserver import SHIM_PROCESS_NAME
from tests.integration.conftest import remove_sandbox_mounts
from tests.integration.netenv import Ns

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SCRIPT = Path(PYTHON).with_name("berth")
BERTH = [str(SCRIPT)] if SCRIPT.exists() else [PYTHON, "-m", "berth.cli.main"]

# --- talking to the daemon --------------------------------------------------------------------


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 10.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def api(sock: str, method: str, path: str, body: Any = None) -> Reply:
    conn = UnixConnection(sock)
    try:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        parsed = (
            json.loads(raw) if raw and "json" in (response.getheader("Content-Type") or "") else raw
        )
        return Reply(response.status, dict(response.getheaders()), parsed)
    finally:
        conn.close()


def pings(sock: str) -> bool:
    try:
        return api(sock, "HEAD", "/_ping").status == 200
    except OSError:
        return False


def network_names(sock: str) -> set[str]:
    reply = api(sock, "GET", "/networks")
    assert reply.status == 200, reply.body
    return {n["Name"] for n in reply.body}


def nft_tables(host: Ns) -> str:
    return host.run("nft", "list", "tables").stdout


def link_json(host: Ns, name: str) -> dict[str, Any] | None:
    result = host.ip("-j", "-d", "addr", "show", "dev", name, check=False)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


# --- the processes a daemon leaves running ----------------------------------------------------


def runtime_pids(run_dir: Path) -> list[int]:
    """The fork servers and shims started under ``run_dir``: their command line (a shim's is the
    fork server's) names it."""
    marker = str(run_dir).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            if b"berth.runtime.forkserver" in cmdline and marker in cmdline:
                found.append(int(entry))
    return found


def shim_pids(run_dir: Path) -> list[int]:
    found = []
    for pid in runtime_pids(run_dir):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == SHIM_PROCESS_NAME:
                found.append(pid)
    return found


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def kill_shims(run_dir: Path) -> None:
    """SIGKILL every fork server and shim under ``run_dir``; containers die with their shim."""
    for pid in runtime_pids(run_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while runtime_pids(run_dir) and time.monotonic() < deadline:
        time.sleep(0.02)


# --- one daemon -------------------------------------------------------------------------------


@dataclass
class Berthd:
    """berthd's paths under a short temporary directory (unix socket paths are limited to 107
    bytes, pytest's tmp_path can be longer), run inside ``host``."""

    host: Ns
    base: Path
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    @property
    def sock(self) -> str:
        return str(self.base / "berth.sock")

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "berthd.pid"

    @property
    def host_resolv_conf(self) -> Path:
        """The "host's" resolv.conf berthd reads (upstream DNS, the default bridge's copy): it
        lists no nameserver unless a test puts its own stub resolver there."""
        return self.base / "host-resolv.conf"

    def args(self, *extra: str, sock: str | None = None, data: Path | None = None) -> list[str]:
        return [
            "-H", f"unix://{sock or self.sock}",
            "--data-root", str(data or self.data),
            "--exec-root", str(self.run_dir),
            "--pidfile", str(self.pidfile),
            "--config-file", str(self.base / "daemon.json"),
            "--host-resolv-conf", str(self.host_resolv_conf),
            *extra,
        ]  # fmt: skip

    def spawn(self, *argv: str) -> tuple[subprocess.Popen[bytes], Path]:
        """berthd with ``argv``, its output in a new log file (berthd-<n>.log)."""
        log = self.base / f"berthd-{len(self.logs)}.log"
        self.logs.append(log)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["nsenter", f"--net={self.host.path}", "--",
                 PYTHON, "-m", "berth.daemon.main", *argv],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        return proc, log

    def start(self, *extra: str, timeout: float = 30.0) -> float:
        """Start and wait for HEAD /_ping; returns the seconds it took."""
        started = time.monotonic()
        self.proc, log = self.spawn(*self.args(*extra))
        while not pings(self.sock):
            if self.proc.poll() is not None:
                raise AssertionError(f"berthd exited {self.proc.returncode}:\n{log.read_text()}")
            if time.monotonic() - started > timeout:
                raise AssertionError(f"berthd did not answer in {timeout}s:\n{log.read_text()}")
            time.sleep(0.02)
        return time.monotonic() - started

    def send(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def log(self) -> str:
        return self.logs[-1].read_text() if self.logs else ""

    def all_logs(self) -> str:
        """Every run's log, oldest first."""
        return "".join(path.read_text() for path in self.logs if path.exists())

    def rss_kb(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cleanup(self) -> None:
        """Kill the daemon, then whatever it started (fork servers, shims, their containers),
        then unmount its namespace files and remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        kill_shims(self.run_dir)
        remove_sandbox_mounts(self.run_dir)
        shutil.rmtree(self.base, ignore_errors=True)


# --- the berth command ------------------------------------------------------------------------


@dataclass
class Cli:
    """The installed ``berth`` command, talking to ``daemon`` by -H (BERTH_* variables of the
    test's environment removed)."""

    daemon: Berthd

    def argv(self, *args: str) -> list[str]:
        return [*BERTH, "-H", f"unix://{self.daemon.sock}", *args]

    def __call__(
        self, *args: str, status: int | None = 0, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run berth; check its exit status unless ``status`` is None."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        result = subprocess.run(
            self.argv(*args),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        assert status is None or result.returncode == status, (
            f"berth {' '.join(args)} exited {result.returncode}, not {status}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}\n"
            f"daemon log (end):\n{self.daemon.log()[-3000:]}"
        )
        return result

    def out(self, *args: str, **kwargs: object) -> str:
        return self(*args, **kwargs).stdout  # type: ignore[arg-type]


@contextmanager
def berthd_in(host: Ns) -> Iterator[Berthd]:
    """A Berthd (not started) whose files and processes are removed at the end."""
    daemon = Berthd(host, Path(tempfile.mkdtemp(prefix="bd", dir="/tmp")))
    (daemon.base / "daemon.json").write_text("{}")
    daemon.host_resolv_conf.write_text("# no nameserver: tests never reach a real resolver\n")
    try:
        yield daemon
    finally:
        daemon.cleanup()


@pytest.fixture(name="berthd")
def berthd_fixture(host: Ns) -> Iterator[Berthd]:
    with berthd_in(host) as daemon:
        yield daemon
