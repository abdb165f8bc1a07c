"""The real ``berthd`` process, run inside a throwaway host namespace with its own data root,
exec root, pid file and socket: it serves, claims its resources, refuses a second instance,
stops cleanly, reloads, and its networking flags take effect in the kernel.

Helpers here (``Berthd``, ``api``) are shared with test_daemon_restart.py. The container
runtime and the API are built by other parts of berth; until they exist, the launcher puts small
stand-ins in their place, so these tests exercise the daemon core either way.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import stat
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

from tests.integration.conftest import remove_sandbox_mounts
from tests.integration.netenv import Ns, wait_for

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# The launcher runs berthd's real main(). While the container runtime (built in parallel) does not
# import, it stands in one with no containers, which records restore/shutdown in
# $BERTH_TEST_MARKS. Kept in a string so the measured daemon imports nothing of pytest's.
LAUNCH = """
import importlib, os, sys
from berth.daemon import wiring

class StandInRuntime:
    def _mark(self, what):
        if os.environ.get("BERTH_TEST_MARKS"):
            with open(os.environ["BERTH_TEST_MARKS"], "a") as f:
                f.write(what + "\\n")
    async def restore(self):
        self._mark("restore")
    async def shutdown(self):
        self._mark("shutdown")
    def list(self, all=False):
        return []
    def get(self, ref):
        from berth.model.errors import ContainerNotFound
        raise ContainerNotFound(ref)
    def endpoints(self, ref):
        return {}

try:
    importlib.import_module("berth.runtime.service")
except Exception:  # missing, or half-written while it is being built
    wiring.make_runtime = lambda *args, **kwargs: StandInRuntime()
from berth.daemon.main import main
sys.exit(main(sys.argv[1:]))
"""


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
    def marks(self) -> Path:
        return self.base / "marks"

    def args(self, *extra: str, sock: str | None = None, data: Path | None = None) -> list[str]:
        return [
            "-H", f"unix://{sock or self.sock}",
            "--data-root", str(data or self.data),
            "--exec-root", str(self.run_dir),
            "--pidfile", str(self.pidfile),
            "--config-file", str(self.base / "daemon.json"),
            *extra,
        ]  # fmt: skip

    def spawn(self, *argv: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.base / f"berthd-{len(self.logs)}.log"
        self.logs.append(log)
        env = {**os.environ, "BERTH_TEST_MARKS": str(self.marks), "PYTHONPATH": str(ROOT)}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["nsenter", f"--net={self.host.path}", "--", PYTHON, "-c", LAUNCH, *argv],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
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

    def rss_kb(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        remove_sandbox_mounts(self.run_dir)
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def berthd_in(host: Ns) -> Iterator[Berthd]:
    """A Berthd (not started) whose files and processes are removed at the end."""
    daemon = Berthd(host, Path(tempfile.mkdtemp(prefix="bd", dir="/tmp")))
    (daemon.base / "daemon.json").write_text("{}")
    try:
        yield daemon
    finally:
        daemon.cleanup()


@pytest.fixture
def berthd(host: Ns) -> Iterator[Berthd]:
    with berthd_in(host) as daemon:
        yield daemon


def network_names(sock: str) -> set[str]:
    reply = api(sock, "GET", "/networks")
    assert reply.status == 200, reply.body
    return {n["Name"] for n in reply.body}


def nft_tables(host: Ns) -> str:
    return host.run("nft", "list", "tables").stdout


def link_json(host: Ns, name: str) -> dict[str, Any] | None:
    result = host.ip("-j", "-d", "addr", "show", "dev", name, check=False)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


# --- tests ------------------------------------------------------------------------------------


def test_serves_on_its_socket_with_predefined_networks(berthd: Berthd, host: Ns) -> None:
    seconds = berthd.start()
    reply = api(berthd.sock, "HEAD", "/_ping")
    assert reply.status == 200 and reply.headers.get("Api-Version")
    mode = os.stat(berthd.sock)
    assert stat.S_ISSOCK(mode.st_mode) and stat.S_IMODE(mode.st_mode) == 0o660
    assert mode.st_uid == 0
    assert berthd.pidfile.read_text().strip() == str(berthd.proc.pid)  # type: ignore[union-attr]
    assert network_names(berthd.sock) >= {"bridge", "host", "none"}
    bridge = link_json(host, "berth0")
    assert bridge is not None and bridge["ifalias"].startswith("berth:")
    assert "table inet berth" in nft_tables(host)
    lines = berthd.log().splitlines()
    serving = [line for line in lines if "berthd is serving" in line]
    assert serving and serving[0].startswith("time=") and " level=info " in serving[0]
    time.sleep(1.0)  # idle
    print(f"\nberthd start-up to first ping: {seconds * 1000:.0f} ms; idle RSS "
          f"{berthd.rss_kb() / 1024:.1f} MB")  # fmt: skip
    assert berthd.stop() == 0


def test_a_second_berthd_on_the_same_socket_or_data_root_refuses(berthd: Berthd, host: Ns) -> None:
    berthd.start()
    other = berthd.base / "other"
    same_socket, log1 = berthd.spawn(
        *berthd.args(data=other / "data", sock=berthd.sock)[:-2],
        "--pidfile", str(other / "pid"), "--exec-root", str(other / "run"),
    )  # fmt: skip
    assert same_socket.wait(30) == 1
    assert f"another berthd is listening on {berthd.sock}" in log1.read_text()
    same_root, log2 = berthd.spawn(*berthd.args(sock=str(other / "b.sock")))
    assert same_root.wait(30) == 1
    text = log2.read_text()
    assert f"is using the data root {berthd.data}" in text
    assert f"pid {berthd.proc.pid}" in text  # type: ignore[union-attr]
    assert not os.path.exists(other / "b.sock")
    assert pings(berthd.sock)  # the first one is untouched
    assert berthd.pidfile.read_text().strip() == str(berthd.proc.pid)  # type: ignore[union-attr]
    assert berthd.stop() == 0


def test_sigterm_exits_0_removes_socket_and_pidfile_and_leaves_networking(
    berthd: Berthd, host: Ns
) -> None:
    berthd.start()
    created = api(berthd.sock, "POST", "/networks/create", {"Name": "front"})
    assert created.status == 201, created.body
    bridge = f"br-{created.body['Id'][:12]}"
    assert berthd.stop(signal.SIGTERM) == 0
    assert not os.path.exists(berthd.sock) and not berthd.pidfile.exists()
    assert link_json(host, bridge) is not None and link_json(host, "berth0") is not None
    assert "table inet berth" in nft_tables(host)
    if berthd.marks.exists():  # the stand-in runtime records the calls
        assert berthd.marks.read_text().split() == ["restore", "shutdown"]
    assert "berthd stopped" in berthd.log()
    berthd.start()  # a clean restart repairs nothing
    assert "front" in network_names(berthd.sock)
    assert "repairs=0 errors=0" in berthd.log()
    assert berthd.stop(signal.SIGINT) == 0


def test_sighup_reloads_what_can_change_live(berthd: Berthd, host: Ns) -> None:
    config = berthd.base / "daemon.json"
    config.write_text(json.dumps({"log-level": "info"}))
    berthd.start()
    api(berthd.sock, "GET", "/networks")
    assert "logger=aiohttp.access" not in berthd.log()  # at info, requests are not logged
    config.write_text(json.dumps({"log-level": "debug", "labels": ["zone=a"], "mtu": 1400}))
    berthd.send(signal.SIGHUP)
    assert wait_for(lambda: "configuration reloaded" in berthd.log(), 10)
    line = next(x for x in berthd.log().splitlines() if "configuration reloaded" in x)
    assert "applied=labels,log-level" in line and "needs_restart=mtu" in line
    assert "zone=a" in api(berthd.sock, "GET", "/info").body["Labels"]
    api(berthd.sock, "GET", "/networks")  # at debug, requests are logged
    assert wait_for(lambda: "logger=aiohttp.access" in berthd.log(), 5)
    config.write_text("{not json")
    berthd.send(signal.SIGHUP)
    assert wait_for(lambda: "configuration not reloaded" in berthd.log(), 10)
    assert pings(berthd.sock)
    assert berthd.stop() == 0


def test_bridge_none_gives_no_default_network(berthd: Berthd, host: Ns) -> None:
    berthd.start("-b", "none")
    names = network_names(berthd.sock)
    assert "bridge" not in names and {"host", "none"} <= names
    assert link_json(host, "berth0") is None
    assert berthd.stop() == 0


def test_networking_flags_take_effect_in_the_kernel(berthd: Berthd, host: Ns) -> None:
    berthd.start("--bip", "10.123.0.1/24", "--fixed-cidr", "10.123.0.128/25", "--mtu", "1400",
                 "--icc=false", "--ip-masq=false")  # fmt: skip
    bridge = link_json(host, "berth0")
    assert bridge is not None and bridge["mtu"] == 1400
    assert [(a["local"], a["prefixlen"]) for a in bridge["addr_info"] if a["family"] == "inet"] == [
        ("10.123.0.1", 24)
    ]
    inspect = api(berthd.sock, "GET", "/networks/bridge").body
    assert inspect["IPAM"]["Config"][0]["IPRange"] == "10.123.0.128/25"
    assert inspect["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    masq = host.run("nft", "list", "set", "inet", "berth", "masq4").stdout
    assert "10.123.0.0/24" not in masq  # --ip-masq=false
    intra = host.run("nft", "list", "set", "inet", "berth", "intra").stdout
    assert '"berth0" . "berth0"' not in intra  # --icc=false
    assert host.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert berthd.stop() == 0


def test_firewall_and_forwarding_off(berthd: Berthd, host: Ns) -> None:
    berthd.start("--iptables=false", "--ip-forward=false")
    assert link_json(host, "berth0") is not None
    assert "inet berth" not in nft_tables(host)
    assert host.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "0"
    assert berthd.stop() == 0


def test_a_bad_configuration_is_one_clear_line_and_exit_1(berthd: Berthd) -> None:
    (berthd.base / "daemon.json").write_text(json.dumps({"mtu": 1400, "bogus": 1}))
    proc, log = berthd.spawn(*berthd.args("--mtu", "1500"))
    assert proc.wait(30) == 1
    assert log.read_text().strip().splitlines() == [
        f"berthd: unable to configure berthd with file {berthd.base / 'daemon.json'}: the "
        "following directives don't match any configuration option: bogus"
    ]
    assert not os.path.exists(berthd.sock)


def test_dash_b_uses_an_existing_bridge_and_never_takes_it_over(berthd: Berthd, host: Ns) -> None:
    proc, log = berthd.spawn(*berthd.args("-b", "brmissing"))
    assert proc.wait(30) == 1
    assert "bridge brmissing (-b) does not exist" in log.read_text()
    host.ip("link", "add", "bruser", "type", "bridge")
    host.ip("link", "set", "bruser", "alias", "the admin's")
    host.ip("addr", "add", "10.77.0.1/24", "dev", "bruser")
    berthd.start("-b", "bruser")
    ipam = api(berthd.sock, "GET", "/networks/bridge").body["IPAM"]["Config"][0]
    assert (ipam["Subnet"], ipam["Gateway"]) == ("10.77.0.0/24", "10.77.0.1")
    assert link_json(host, "berth0") is None
    assert berthd.stop() == 0
    berthd.start()  # without -b: the default network moves to berth0, bruser stays as it was
    assert link_json(host, "berth0") is not None
    user = link_json(host, "bruser")
    assert user is not None and user["ifalias"] == "the admin's"
    assert [a["local"] for a in user["addr_info"] if a["family"] == "inet"] == ["10.77.0.1"]
    assert berthd.stop() == 0
