"""Load generators and servers for the data-path suites: the bench HTTP server and iperf3's
server started inside a namespace (a container's, by its pid, or a lab's), wrk and iperf3 clients
run inside the lab namespace, and the conntrack setting that keeps back-to-back connection-rate
rounds independent. Traffic goes only to 127.0.0.0/8, the lab's 192.0.2.1 and container
addresses inside the lab."""

from __future__ import annotations

import json
import re
import subprocess
import time
from typing import Any

from bench.lab import Netns
from bench.util import PYTHON, Cleanup, sh


def ns_of_pid(pid: int) -> list[str]:
    return ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]


def short_time_wait(enter: list[str]) -> None:
    """conntrack forgets closed connections after 1 s (not 120 s) in this namespace, so that
    hundreds of thousands of short connections never fill the table between rounds."""
    sh(*enter, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_time_wait=1", check=False)


def start_httpd(enter: list[str], cleanup: Cleanup, port: int = 80, bind: str = "0.0.0.0") -> None:
    proc = subprocess.Popen(
        [*enter, PYTHON, "-m", "bench.httpd", "--port", str(port), "--bind", bind],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    cleanup.push("httpd", lambda: _stop(proc))
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"httpd did not start: {proc.stderr.read() if proc.stderr else ''}")


def start_iperf3(enter: list[str], cleanup: Cleanup, port: int = 5201) -> None:
    proc = subprocess.Popen(
        [*enter, "iperf3", "-s", "-p", str(port)], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cleanup.push("iperf3 server", lambda: _stop(proc))
    time.sleep(0.3)


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wrk(ns: Netns, url: str, seconds: int, conns: int = 32) -> dict[str, Any]:
    """New connections per second (every request on its own connection)."""
    out = ns.run(
        "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-H", "Connection: close", url, check=False
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rate": float(found.group(1)) if found else 0.0,
        "errors": errors.group(1).strip() if errors else "",
    }


def iperf3(ns: Netns, host: str, port: int, seconds: int) -> float:
    """Received throughput in Gbit/s (one TCP stream)."""
    out = ns.run("iperf3", "-c", host, "-p", str(port), "-t", str(seconds), "-J", check=False)
    try:
        data = json.loads(out.stdout)
        return round(float(data["end"]["sum_received"]["bits_per_second"]) / 1e9, 3)
    except (ValueError, KeyError):
        return 0.0
