"""berthd's API latency and footprint (issue 3's numbers; printed, never asserted).

Starts berthd inside a throwaway network namespace with its own data/exec roots and socket, then
measures, as medians over several rounds:
- GET /networks with N networks (default 500),
- POST /networks/{id}/connect and /disconnect of a running container,
- berthd's RSS idle, and with M endpoints (default 500 running containers on one network).
Writes a JSON summary next to the printout (bench/results/daemon_api.json). Everything it creates is
removed at the end, also after a failure. Run as root: .venv/bin/python bench/daemon_api.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


class Api:
    """One keep-alive HTTP/1.1 connection over the unix socket (like a client library)."""

    def __init__(self, sock: str) -> None:
        self.sock = sock
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("localhost", timeout=120)
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(self.sock)
        conn.sock = raw
        return conn

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data else {}
        self.conn.request(method, "/v1.47" + path, body=data, headers=headers)
        reply = self.conn.getresponse()
        raw = reply.read()
        if reply.status >= 300:
            raise RuntimeError(f"{method} {path}: {reply.status} {raw[:200]!r}")
        is_json = "json" in (reply.getheader("Content-Type") or "")
        return json.loads(raw) if raw and is_json else raw


def timed(fn: Callable[[], Any], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples), 3),
        "min_ms": round(min(samples), 3),
        "max_ms": round(max(samples), 3),
        "n": len(samples),
    }


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Lab:
    """A throwaway host namespace with berthd in it."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="bbench", dir="/tmp"))
        self.ns = f"bbench{os.getpid()}"
        self.sock = str(self.base / "berth.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        (self.base / "daemon.json").write_text("{}")
        log = open(self.base / "berthd.log", "wb")  # noqa: SIM115 - lives as long as berthd
        self.proc = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{self.ns}",
                "--",
                str(VENV_BIN / "berthd"),
                "-H",
                f"unix://{self.sock}",
                "--data-root",
                str(self.base / "data"),
                "--exec-root",
                str(self.base / "run"),
                "--pidfile",
                str(self.base / "berthd.pid"),
                "--config-file",
                str(self.base / "daemon.json"),
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                Api(self.sock).call("GET", "/_ping")
                return
            except (OSError, RuntimeError, json.JSONDecodeError):
                time.sleep(0.05)
        raise RuntimeError("berthd did not start:\n" + (self.base / "berthd.log").read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        marker = str(self.base / "run").encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        netns_dir = self.base / "run" / "netns"
        for path in netns_dir.iterdir() if netns_dir.is_dir() else []:
            subprocess.run(["umount", "-l", str(path)], check=False)
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        subprocess.run(["rm", "-rf", str(self.base)], check=False)


def run(lab: Lab, networks: int, endpoints: int, rounds: int) -> dict[str, Any]:
    api = Api(lab.sock)
    assert lab.proc is not None
    results: dict[str, Any] = {"idle_rss_kb": rss_kb(lab.proc.pid)}
    start = time.perf_counter()
    for i in range(networks):
        api.call(
            "POST",
            "/networks/create",
            {
                "Name": f"n{i}",
                "IPAM": {"Config": [{"Subnet": f"10.{100 + i // 250}.{i % 250}.0/24"}]},
            },
        )
    results["create_networks_s"] = round(time.perf_counter() - start, 2)
    results["networks"] = networks + 3
    results["list_networks"] = summary(timed(lambda: api.call("GET", "/networks"), rounds))
    results["rss_kb_with_networks"] = rss_kb(lab.proc.pid)
    api.call(
        "POST",
        "/containers/create?name=probe",
        {"Cmd": ["sleep", "3600"], "HostConfig": {"NetworkMode": "n0"}},
    )
    api.call("POST", "/containers/probe/start")
    connect, disconnect = [], []
    for _ in range(rounds):
        connect += timed(
            lambda: api.call("POST", "/networks/n1/connect", {"Container": "probe"}), 1
        )
        disconnect += timed(
            lambda: api.call("POST", "/networks/n1/disconnect", {"Container": "probe"}), 1
        )
    results["connect"], results["disconnect"] = summary(connect), summary(disconnect)
    api.call(
        "POST",
        "/networks/create",
        {"Name": "many", "IPAM": {"Config": [{"Subnet": "10.99.0.0/16"}]}},
    )
    start = time.perf_counter()
    for i in range(endpoints):
        api.call(
            "POST",
            f"/containers/create?name=c{i}",
            {"Cmd": ["sleep", "3600"], "HostConfig": {"NetworkMode": "many"}},
        )
        api.call("POST", f"/containers/c{i}/start")
    results["start_containers_s"] = round(time.perf_counter() - start, 2)
    results["endpoints"] = endpoints
    results["rss_kb_with_endpoints"] = rss_kb(lab.proc.pid)
    results["list_networks_with_endpoints"] = summary(
        timed(lambda: api.call("GET", "/networks"), rounds)
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="berthd API latency and footprint")
    parser.add_argument("--networks", type=int, default=500)
    parser.add_argument("--endpoints", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (namespaces, bridges, nftables)")
        return 1
    lab = Lab()
    try:
        lab.start()
        results = run(lab, args.networks, args.endpoints, args.rounds)
    finally:
        lab.stop()
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "daemon_api.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(
        f"\nGET /networks with {results['networks']} networks: "
        f"{results['list_networks']['median_ms']} ms median (target < 50 ms)"
    )
    print(
        f"connect {results['connect']['median_ms']} ms, disconnect "
        f"{results['disconnect']['median_ms']} ms median (target connect < 10 ms)"
    )
    print(
        f"berthd RSS idle {results['idle_rss_kb'] / 1024:.1f} MB (target < 60 MB), with "
        f"{results['endpoints']} endpoints {results['rss_kb_with_endpoints'] / 1024:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
