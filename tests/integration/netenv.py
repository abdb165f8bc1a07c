"""Throwaway network namespaces for integration tests (the netavark pattern).

Every test gets its own "host" namespace: berth runs against it as if it were the machine, so
nothing a test builds can reach the real network. Helpers here use iproute2 and nsenter as test
oracles; berth itself never execs them.

Names are unique per process and counter (``bt<pid>x<n>``) and everything is removed on exit,
also when the test fails.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

_counter = itertools.count()


def unique(prefix: str) -> str:
    """A name unique on this machine for this test run, short enough for interface names."""
    return f"{prefix}{os.getpid() % 100000:x}x{next(_counter)}"


def sh(
    *cmd: str, check: bool = True, input: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd), check=check, capture_output=True, text=True, input=input, timeout=timeout
    )


@dataclass
class Ns:
    """A namespace file (made by a test with ``ip netns add``, or a sandbox berth made), with
    helpers to run things inside it through ``nsenter --net=<path>``."""

    name: str
    path: str = ""
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.path:
            self.path = f"/run/netns/{self.name}"

    def _enter(self) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--"]

    def run(
        self, *cmd: str, check: bool = True, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return sh(*self._enter(), *cmd, check=check, input=input, timeout=timeout)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("ip", *args, check=check)

    def spawn(self, *cmd: str) -> subprocess.Popen[str]:
        """A background process in this namespace, killed when the namespace is removed."""
        proc = subprocess.Popen(
            [*self._enter(), *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.procs.append(proc)
        return proc

    def nft(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("nft", "-f", "-", input=script, check=check)


def _kill_ns_processes(name: str) -> None:
    pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def remove_ns(ns: Ns) -> None:
    for proc in ns.procs:
        if proc.poll() is None:
            proc.kill()
        with suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=5)
    _kill_ns_processes(ns.name)
    sh("ip", "netns", "del", ns.name, check=False)


@contextmanager
def namespace(prefix: str = "bt") -> Iterator[Ns]:
    """A fresh namespace with ``lo`` up; removed (with its processes and links) on exit."""
    ns = Ns(unique(prefix))
    sh("ip", "netns", "add", ns.name)
    try:
        ns.ip("link", "set", "lo", "up")
        yield ns
    finally:
        remove_ns(ns)


@contextmanager
def outside_world(
    host: Ns, *, host_addr: str = "198.51.100.1/24", outside_addr: str = "198.51.100.2/24"
) -> Iterator[Ns]:
    """A namespace playing "another machine / the internet", linked to ``host`` by a veth.

    The host end gets ``host_addr`` (the host's "public" address); the outside end gets
    ``outside_addr`` and no default route, so it can answer only the host's own subnet, which is
    exactly what masquerade makes the sandboxes look like.
    """
    with namespace("bto") as out:
        link = unique("vo")
        host.ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", out.path)
        host.ip("addr", "add", host_addr, "dev", link)
        host.ip("link", "set", link, "up")
        out.ip("addr", "add", outside_addr, "dev", "eth0")
        out.ip("link", "set", "eth0", "up")
        yield out


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def ping(ns: Ns, address: str, count: int = 1, timeout: int = 2) -> bool:
    return (
        ns.run(
            "ping", "-c", str(count), "-W", str(timeout), "-n", "-q", address, check=False
        ).returncode
        == 0
    )


def links(ns: Ns) -> Sequence[str]:
    out = ns.ip("-o", "link", "show").stdout
    return sorted(line.split(": ")[1].split("@")[0] for line in out.splitlines())


PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer.py")
PYTHON = os.environ.get("BERTH_TEST_PYTHON") or __import__("sys").executable


def serve(
    ns: Ns,
    port: int,
    *,
    proto: str = "tcp",
    tag: str = "peer",
    bind: str = "0.0.0.0",
    lifetime: float = 60.0,
) -> subprocess.Popen[str]:
    """Start peer.py's server in ``ns`` and wait until it is listening."""
    proc = ns.spawn(
        PYTHON,
        PEER,
        "serve",
        "--proto",
        proto,
        "--port",
        str(port),
        "--tag",
        tag,
        "--bind",
        bind,
        "--lifetime",
        str(lifetime),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        _out, err = proc.communicate(timeout=5)
        raise RuntimeError(f"test server did not start in {ns.name}: {err}")
    return proc


def call(ns: Ns, host: str, port: int, *, proto: str = "tcp", timeout: float = 2.0) -> str | None:
    """Connect from ``ns``; the server's answer ("<tag> <seen source ip>") or None."""
    result = ns.run(
        PYTHON,
        PEER,
        "call",
        "--proto",
        proto,
        "--host",
        host,
        "--port",
        str(port),
        "--timeout",
        str(timeout),
        check=False,
        timeout=timeout + 10,
    )
    return result.stdout.strip() if result.returncode == 0 else None
