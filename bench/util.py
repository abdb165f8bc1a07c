"""Small helpers every benchmark module shares: commands, timing, statistics, /proc readings, and
the cleanup stack that undoes everything the suite created (also after a failure or a signal).

Nothing here creates kernel objects; lab.py does, and registers how to remove each one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
VENV_BIN = Path(PYTHON).parent
RUN_ID = f"{os.getpid() % 0x10000:x}"
BASE_PREFIX = "/tmp/bbench-"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def sh(
    *cmd: str, check: bool = True, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(cmd), capture_output=True, text=True, input=input, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {result.returncode}: {result.stderr.strip()[-2000:]}"
        )
    return result


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1e3


def timed_ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return ms_since(start)


def summary(samples: list[float], digits: int = 3) -> dict[str, Any]:
    """Median and min-max of ``samples`` (the unit is the caller's)."""
    if not samples:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(samples), digits),
        "min": round(min(samples), digits),
        "max": round(max(samples), digits),
        "n": len(samples),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


# --- /proc ------------------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (one docker-proxy binary mapped 2,000 times) counted
    once across the processes that share them, unlike RSS."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def netns_inode(path: str) -> int:
    return os.stat(path).st_ino


def pids_in_netns(inode: int) -> list[int]:
    """Every process whose network namespace is ``inode`` (the namespace is the suite's own)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                    found.append(int(entry))
    return found


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def pids_with_marker(marker: str) -> list[int]:
    """Processes whose command line names ``marker`` (a path under the suite's own tmp dir)."""
    found, needle = [], marker.encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
    return found


def kill_pids(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# --- cleanup ----------------------------------------------------------------------------------


class Cleanup:
    """A stack of undo steps, run newest first; every step runs even when an earlier one fails
    (teardown keeps going), and failures are printed, not raised."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Any]]] = []

    def push(self, what: str, step: Callable[[], Any]) -> None:
        self._steps.append((what, step))

    def run(self) -> None:
        while self._steps:
            what, step = self._steps.pop()
            try:
                step()
            except Exception as err:
                log(f"cleanup: {what}: {err}")


class Interrupted(BaseException):
    """A signal asked the suite to stop; raised so ``finally`` blocks clean up."""


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    def handler(signum: int, _frame: object) -> None:
        raise Interrupted(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
