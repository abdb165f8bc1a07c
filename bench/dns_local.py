"""The embedded DNS server's local answers, measured from inside a sandbox (printed, never
asserted): median and p99 latency, and sequential answers per second, of a container name asked
again and again over UDP at 127.0.0.11:53, (a) the same question each time (answered from the
cache of packed answers) and (b) a new spelling each time (a long alias in random letter case,
so every query misses the cache and goes through dnslib), plus berthd's RSS idle and with N
sandboxes in DNS.

berth's side only; ``measure_in(netns_path, name)`` is the client, reusable for Docker's embedded
DNS (a Docker container's namespace is /proc/<pid>/ns/net). Everything runs in a throwaway
namespace with berthd's own roots; the host resolv.conf it is given lists no nameserver, so
nothing can be forwarded anywhere. Run as root:

    .venv/bin/python bench/dns_local.py [--queries 20000] [--rounds 5] [--sandboxes 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
BERTH = str(VENV_BIN / "berth")
# an alias with 2^25 spellings: asked in random letter case, every query misses the cache
UNCACHED = "uncached-answers-every-time"

CLIENT = r"""
import json, random, socket, struct, sys, time
name, count, vary = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def question(text):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in text.split("."))
    return b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"
def spell(text):
    return "".join(c.upper() if random.random() < 0.5 else c for c in text)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.connect(("127.0.0.11", 53))
sock.settimeout(2)
fixed = question(name)
bodies = [question(spell(name)) if vary else fixed for _ in range(count)]
for i in range(200):  # warm-up
    sock.send(struct.pack("!H", i) + fixed); sock.recv(4096)
samples = []
perf = time.perf_counter
started = perf()
for i, body in enumerate(bodies):
    ident = struct.pack("!H", i & 0xFFFF)
    t = perf()
    sock.send(ident + body)
    answer = sock.recv(4096)
    samples.append(perf() - t)
    if answer[:2] != ident or answer[3] & 0x0F:
        raise SystemExit(f"bad answer {answer!r}")
elapsed = perf() - started
samples.sort()
print(json.dumps({"median_ms": samples[len(samples) // 2] * 1e3,
                  "p99_ms": samples[int(len(samples) * 0.99)] * 1e3,
                  "qps": count / elapsed}))
"""


def measure_in(netns: str, name: str, *, queries: int, rounds: int, vary: bool) -> dict[str, Any]:
    """Sequential queries for ``name`` from a client inside ``netns``; medians over rounds."""
    results = []
    for _ in range(rounds):
        out = subprocess.run(
            ["nsenter", f"--net={netns}", "--", sys.executable, "-c", CLIENT,
             name, str(queries), "1" if vary else "0"],
            capture_output=True, text=True, check=True, timeout=300,
        ).stdout  # fmt: skip
        results.append(json.loads(out))
    return {
        key: round(statistics.median(r[key] for r in results), 4 if key != "qps" else 0)
        for key in ("median_ms", "p99_ms", "qps")
    } | {"rounds": rounds, "queries": queries}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def helper_rss_kb(parent: int) -> int:
    """The RSS of berthd's nftables helper process (berth.dns.nfthelper), 0 if none runs."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and b"berth.dns.nfthelper" in cmdline:
            return rss_kb(int(pid))
    return 0


class Lab:
    """berthd in a throwaway namespace, driven by the berth CLI."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="bbdns", dir="/tmp"))
        self.ns = f"bbdns{os.getpid()}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        (self.base / "daemon.json").write_text("{}")
        (self.base / "host-resolv.conf").write_text("# no upstream: local names only\n")
        with open(self.base / "berthd.log", "wb") as log:
            self.proc = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self.ns}", "--", str(VENV_BIN / "berthd"),
                 "-H", f"unix://{self.base / 'berth.sock'}",
                 "--data-root", str(self.base / "data"), "--exec-root", str(self.base / "run"),
                 "--pidfile", str(self.base / "berthd.pid"),
                 "--config-file", str(self.base / "daemon.json"),
                 "--host-resolv-conf", str(self.base / "host-resolv.conf"),
                 "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while subprocess.run([*self.cli(), "version"], capture_output=True, check=False).returncode:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError((self.base / "berthd.log").read_text())
            time.sleep(0.1)

    def cli(self) -> list[str]:
        return [BERTH, "-H", f"unix://{self.base / 'berth.sock'}"]

    def berth(self, *args: str) -> str:
        result = subprocess.run([*self.cli(), *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = (self.base / "berthd.log").read_text()[-3000:]
            raise RuntimeError(f"berth {' '.join(args)}: {result.stderr}\nberthd log:\n{log}")
        return result.stdout.strip()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        run_dir = str(self.base / "run").encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if run_dir in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)
        netns_dir = self.base / "run" / "netns"
        for path in netns_dir.iterdir() if netns_dir.is_dir() else ():
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sandboxes", type=int, default=100)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/dns_local.py: run as root", file=sys.stderr)
        return 1
    lab = Lab()
    try:
        lab.start()
        assert lab.proc is not None
        rss_idle = rss_kb(lab.proc.pid)
        lab.berth("network", "create", "bench", "--subnet", "10.123.0.0/16")
        lab.berth(
            "run", "-d", "--name", "target", "--network", "bench",
            "--network-alias", UNCACHED, "busybox", "sleep", "3600",
        )  # fmt: skip
        lab.berth("run", "-d", "--name", "client", "--network", "bench", "busybox", "sleep", "3600")
        netns = lab.berth("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "client")
        cached = measure_in(netns, "target", queries=args.queries, rounds=args.rounds, vary=False)
        print(f"berth, cached answer:   {cached}", flush=True)
        cold = measure_in(netns, UNCACHED, queries=args.queries, rounds=args.rounds, vary=True)
        print(f"berth, uncached answer: {cold}", flush=True)
        for i in range(args.sandboxes - 2):
            lab.berth(
                "run", "-d", "--name", f"s{i}", "--network", "bench", "busybox", "sleep", "3600"
            )
        time.sleep(1)
        rss_loaded = rss_kb(lab.proc.pid)
        helper = helper_rss_kb(lab.proc.pid)
        print(
            f"berthd RSS: {rss_idle} kB idle, {rss_loaded} kB with {args.sandboxes} sandboxes; "
            f"its nftables helper process: {helper} kB"
        )
        busy = measure_in(netns, "s0", queries=args.queries, rounds=args.rounds, vary=False)
        print(f"berth, cached answer with {args.sandboxes} sandboxes: {busy}")
        summary = {
            "cached": cached,
            "uncached": cold,
            "cached_loaded": busy,
            "rss_kb": {
                "idle": rss_idle,
                "sandboxes": args.sandboxes,
                "loaded": rss_loaded,
                "nft_helper": helper,
            },
        }
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / "dns_local.json").write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
