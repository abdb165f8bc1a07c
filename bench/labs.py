"""Everything the suites share, made once per run: the tmp dir, berthd and dockerd in their own
namespaces (with the busybox image imported), a berth library controller against a third
namespace, and helpers to start in-namespace workers. ``Labs.open`` registers every removal on
the Cleanup stack, so a failure anywhere still leaves the machine as it was."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from bench.lab import BerthdLab, DockerLab, Netns, make_base, make_netns, python_in, unmount_under
from bench.util import Cleanup, log, rss_kb


class Worker:
    """A bench.workers process inside a namespace; requests are timed by the worker."""

    def __init__(self, argv: list[str], cleanup: Cleanup) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        cleanup.push("worker", self.stop)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if '"ready"' not in line:
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"worker {argv[-4:]} did not start: {err}")

    def request(self, op: str) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(op + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return float(reply["ms"])

    def scale(self, n: int, name_format: str) -> dict[str, list[float]]:
        """The floor worker's N-sandbox run (see workers.Floor.scale)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"scale {n} {name_format}\n")
        self.proc.stdin.flush()
        result: dict[str, list[float]] = json.loads(self.proc.stdout.readline())
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Labs:
    cleanup: Cleanup
    base: Path
    berthd: BerthdLab
    docker: DockerLab
    lib_ns: Netns
    lib: Any  # berth.NetworkController against lib_ns
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, cleanup: Cleanup) -> Labs:
        base = make_base(cleanup)
        berthd = BerthdLab(make_netns("berthd", cleanup), base / "berthd")
        berthd.base.mkdir()
        log("starting berthd in its namespace")
        berthd.start(cleanup)
        docker = DockerLab(make_netns("docker", cleanup), base / "docker")
        docker.base.mkdir()
        log("starting containerd and dockerd in their namespace")
        docker.start(cleanup)
        docker.import_busybox()
        lib_ns = make_netns("lib", cleanup)
        lib = open_library(lib_ns, base / "lib", cleanup)
        labs = cls(cleanup, base, berthd, docker, lib_ns, lib)
        time.sleep(2)  # let both daemons settle before the idle reading
        labs.extra["idle_rss_kb"] = {
            "berthd": rss_kb(berthd.pid),
            "dockerd": rss_kb(docker.pid),
            "containerd": rss_kb(docker.containerd_pid),
        }
        return labs

    def netns(self, role: str, host_addr: bool = False) -> Netns:
        return make_netns(role, self.cleanup, host_addr=host_addr)

    def worker(self, ns: Netns, *args: str) -> Worker:
        return Worker(python_in(ns, "bench.workers", *args), self.cleanup)


def open_library(ns: Netns, base: Path, cleanup: Cleanup) -> Any:
    from berth import open_controller  # noqa: PLC0415 - after the suite's own checks

    base.mkdir()
    ctl = open_controller(
        state_dir=str(base / "state"), exec_root=str(base / "run"), host_ns=ns.path,
        predefined=False,
    )  # fmt: skip

    def close() -> None:
        for sandbox in ctl.sandboxes():
            with contextlib.suppress(Exception):
                ctl.delete_sandbox(sandbox.id)
        ctl.close()
        unmount_under(base)

    cleanup.push("berth library", close)
    return ctl


def lib_network(ctl: Any, name: str, subnet: str) -> Any:
    from berth import IpamConfig, IpamPoolConfig, NetworkSpec  # noqa: PLC0415

    pool = IpamPoolConfig(subnet=ip_network(subnet))
    return ctl.create_network(NetworkSpec(name=name, ipam=IpamConfig(config=(pool,))))


def store_kb(root: Path, pattern: str) -> int:
    """Size of the network store files under ``root`` (berth: berth.db and its WAL; Docker:
    libnetwork's local-kv.db), in kB."""
    return sum(p.stat().st_size for p in root.rglob(pattern) if p.is_file()) // 1024


def nft_rule_count(ns: Netns) -> dict[str, int]:
    """Rules (statements in chains) and set/map elements in a namespace's whole ruleset; Docker's
    iptables-nft rules are nft rules too, so one count serves both."""
    text = ns.run("nft", "-a", "list", "ruleset").stdout
    rules = elements = 0
    in_elements = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("elements = {"):
            in_elements = True
            elements += line.count(",") + (0 if line.endswith(",") else 1)
            in_elements = not line.endswith("}")
            continue
        if in_elements:
            elements += line.count(",") + (0 if line.endswith(",") else 1)
            in_elements = not line.endswith("}")
            continue
        if "# handle" in line and line.split()[0] not in ("table", "chain", "set", "map"):
            rules += 1
    return {"rules": rules, "set_elements": elements}
