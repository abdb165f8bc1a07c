"""Leftovers: ``sweep`` removes what a run killed with SIGKILL (no chance to clean up) left behind,
identified by the run's tmp dir /tmp/bbench-<id> whose owner.pid is no longer alive: its processes
(command lines naming the dir, the dockerd cgroup's members), mounts, cgroups and namespaces
``bbn-*-<id>``. ``check_clean`` says whether this run left anything."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from bench.lab import CGROUP_ROOT, unmount_under
from bench.util import BASE_PREFIX, RUN_ID, kill_pids, log, pids_with_marker, sh


def _alive(pid: int) -> bool:
    """``pid`` is a live (not zombie) benchmark run: pids are reused, and a killed run's
    process can linger as a zombie when nobody reaps it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and b"bench" in cmdline


def _remove_run(run_id: str, base: Path) -> None:
    for directory in CGROUP_ROOT.glob(f"*/bbdocker-{run_id}"):
        for sub in [*sorted(directory.rglob("*/"), key=lambda p: -len(p.parts)), directory]:
            with contextlib.suppress(OSError):
                kill_pids([int(x) for x in (sub / "cgroup.procs").read_text().split()])
    kill_pids(pids_with_marker(str(base)))
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith("bbn-") and name.endswith(f"-{run_id}"):
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            kill_pids([int(p) for p in pids])
            sh("ip", "netns", "del", name, check=False)
    unmount_under(base)
    for directory in CGROUP_ROOT.glob(f"*/bbdocker-{run_id}"):
        for sub in [*sorted(directory.rglob("*/"), key=lambda p: -len(p.parts)), directory]:
            with contextlib.suppress(OSError):
                sub.rmdir()
    shutil.rmtree(base, ignore_errors=True)


def sweep() -> None:
    for base in Path("/tmp").glob(Path(BASE_PREFIX).name + "*"):
        run_id = base.name[len(Path(BASE_PREFIX).name) :]
        try:
            owner = int((base / "owner.pid").read_text())
        except (OSError, ValueError):
            owner = 0
        if owner and _alive(owner) and owner != os.getpid():
            continue  # another run in progress
        log(f"sweep: removing the leftovers of run {run_id}")
        _remove_run(run_id, base)


def leftovers(run_id: str = RUN_ID) -> list[str]:
    base = f"{BASE_PREFIX}{run_id}"
    found = []
    if os.path.exists(base):
        found.append(base)
    found += [f"netns {n}" for n in os.listdir("/run/netns") if n.endswith(f"-{run_id}")]
    found += [f"process {p}" for p in pids_with_marker(base)]
    found += [str(p) for p in CGROUP_ROOT.glob(f"*/bbdocker-{run_id}")]
    with open("/proc/mounts") as f:
        found += [f"mount {line.split()[1]}" for line in f if base in line]
    return found


def check_clean() -> None:
    left = leftovers()
    if left:
        log(f"WARNING: left behind, removing now: {left}")
        _remove_run(RUN_ID, Path(f"{BASE_PREFIX}{RUN_ID}"))
        left = leftovers()
        if left:
            log(f"WARNING: could not remove: {left}")
    else:
        log("clean: no namespace, process, mount, cgroup or file of this run is left")
