"""Where the time goes when berth misses a target: py-spy sampling berthd (in its namespace)
while the suite's API client connects and disconnects, and cProfile around the library's own
connect/disconnect (with N sandboxes already attached, for the scale target) or a 1,000-port
publish. Only the profiles that explain a missed target are taken."""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.api import Api
from bench.lab import IMAGE
from bench.labs import Labs, lib_network
from bench.targets import evaluate
from bench.util import VENV_BIN, log

TOP = 15


def run(labs: Labs, results: dict[str, Any], out: Path) -> dict[str, Any]:
    kinds = {t.profile for t in evaluate(results) if t.met is False and t.profile}
    profiles: dict[str, Any] = {}
    out.mkdir(parents=True, exist_ok=True)
    if "api" in kinds:
        log("profile: py-spy on berthd during API connect/disconnect")
        profiles["api"] = _pyspy_berthd(labs, out / "profile-berthd.txt")
    if "library" in kinds:
        n = int(results["params"]["scale_sandboxes"])
        log(f"profile: cProfile of library connects with {n} sandboxes attached")
        profiles["library"] = _cprofile_library(labs, n)
    removal = (results.get("ports") or {}).get("remove_after_traffic_ms", {}).get("berth") or {}
    if (removal.get("median") or 0) > 1000:
        log("profile: py-spy on berthd removing a published container after a wrk run")
        profiles["removal"] = _pyspy_removal(labs, out / "profile-berthd-removal.txt", results)
    at_scale = (results.get("scale") or {}).get("berth API", {}).get("profile")
    if "api-scale" in kinds and at_scale:
        profiles["api at scale"] = at_scale
    if "ports" in kinds:
        log("profile: cProfile of a 1,000-port publish through the library")
        profiles["ports"] = _cprofile_ports(labs)
    return profiles


def _pyspy_berthd(labs: Labs, raw: Path, seconds: int = 8) -> dict[str, Any]:
    api = Api(labs.berthd.sock)
    api.create_network("bbprof", "10.104.0.0/24")
    api.run("bbprof1", IMAGE, ["sleep", "3600"])
    spy = _spy(labs.berthd.pid, raw, seconds)
    ops = 0
    deadline = time.monotonic() + seconds - 1
    while time.monotonic() < deadline:
        api.connect("bbprof", "bbprof1")
        api.disconnect("bbprof", "bbprof1")
        ops += 1
    _, err = spy.communicate(timeout=60)
    api.remove("bbprof1")
    api.remove_network("bbprof")
    return _summary(
        raw, err, f"py-spy (500 Hz) on berthd during {ops} API connect+disconnect pairs"
    )


def pyspy_api_at_scale(labs: Labs, api: Api, container: str, pairs: int = 40) -> dict[str, Any]:
    """py-spy on berthd while ``container`` is connected to and disconnected from a fresh network
    ``pairs`` times, with the scale suite's containers still attached (taken after the timed
    attaches, so it does not disturb them)."""
    raw = labs.base / "profile-berthd-scale.txt"
    api.create_network("bbscprof", "10.108.0.0/24")
    spy = _spy(labs.berthd.pid, raw, 120)
    started = time.monotonic()
    for _ in range(pairs):
        api.connect("bbscprof", container)
        api.disconnect("bbscprof", container)
    seconds = time.monotonic() - started
    spy.send_signal(2)  # SIGINT: py-spy writes what it has
    _, err = spy.communicate(timeout=60)
    api.remove_network("bbscprof")
    return _summary(
        raw,
        err,
        f"py-spy (500 Hz) on berthd during {pairs} API connect+disconnect pairs "
        f"({seconds:.1f} s) with the scale suite's containers attached",
    )


def _pyspy_removal(labs: Labs, raw: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Not a target, a finding: removing a container whose published ports just carried
    traffic takes seconds (the ports suite's remove_after_traffic_ms)."""
    from bench.ports import webs  # noqa: PLC0415
    from bench.traffic import wrk  # noqa: PLC0415

    api, ns = webs(labs)["berth"]
    wrk(ns, "http://127.0.0.1:8080/", int(results["params"]["wrk_seconds"]))
    conntrack = ns.run("conntrack", "-C", check=False).stdout.strip()
    spy = _spy(labs.berthd.pid, raw, 30)
    started = time.monotonic()
    api.remove("bbweb")
    seconds = time.monotonic() - started
    spy.send_signal(2)  # SIGINT: py-spy writes what it has
    _, err = spy.communicate(timeout=60)
    labs.extra.pop("web", None)
    return _summary(
        raw,
        err,
        f"py-spy (500 Hz) on berthd removing the web container ({seconds:.1f} s) right "
        f"after a wrk run through its published port ({conntrack} conntrack entries in the "
        "namespace)",
    )


def _spy(pid: int, raw: Path, seconds: int) -> subprocess.Popen[str]:
    spy = subprocess.Popen(
        [str(VENV_BIN / "py-spy"), "record", "-p", str(pid), "-r", "500", "-f", "raw",
         "-o", str(raw), "-d", str(seconds), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.5)
    return spy


def _summary(raw: Path, err: str, what: str) -> dict[str, Any]:
    if not raw.exists():
        return {"what": what, "error": err.strip()[-500:]}
    self_count, incl_count, total = _fold(raw.read_text())
    return {
        "what": f"{what}; {total} samples of busy threads",
        "file": raw.name,
        "top_self": [(f, round(100 * c / total, 1)) for f, c in self_count.most_common(TOP)],
        # berth's own frames only: the thread and event-loop plumbing is on every stack
        "top_inclusive": [
            (f, round(100 * c / total, 1))
            for f, c in incl_count.most_common()
            if "berth/" in f and "daemon/main.py" not in f
        ][:TOP],
    }


def _fold(text: str) -> tuple[Counter[str], Counter[str], int]:
    """py-spy's raw (collapsed) stacks -> samples per leaf frame and per frame anywhere."""
    self_count: Counter[str] = Counter()
    incl_count: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        total += count
        self_count[frames[-1]] += count
        for frame in set(frames):
            incl_count[frame] += count
    return self_count, incl_count, max(total, 1)


def _stats(profile: cProfile.Profile) -> dict[str, str]:
    out = {}
    for key in ("tottime", "cumulative"):
        buffer = io.StringIO()
        stats = pstats.Stats(profile, stream=buffer)
        stats.strip_dirs().sort_stats(key).print_stats(TOP)
        text = buffer.getvalue()
        out[key] = text[text.find("   ncalls") :].rstrip()
    return out


def _cprofile_library(labs: Labs, n: int, profiled: int = 100) -> dict[str, Any]:
    from berth import EndpointSpec, SandboxSpec  # noqa: PLC0415

    ctl = labs.lib
    lib_network(ctl, "bbprofl", "10.105.0.0/16")
    for i in range(n):
        ctl.create_sandbox(SandboxSpec(name=f"bbpl{i}"))
        ctl.connect("bbprofl", f"bbpl{i}", EndpointSpec())
    profile = cProfile.Profile()
    ctl.create_sandbox(SandboxSpec(name="bbplx"))
    profile.enable()
    for _ in range(profiled):
        ctl.connect("bbprofl", "bbplx", EndpointSpec())
        ctl.disconnect("bbprofl", "bbplx")
    profile.disable()
    for i in range(n):
        ctl.delete_sandbox(f"bbpl{i}")
    ctl.delete_sandbox("bbplx")
    ctl.delete_network("bbprofl")
    return {
        "what": f"cProfile of {profiled} library connect+disconnect pairs with {n} sandboxes "
        "already on the network",
        **_stats(profile),
    }


def _cprofile_ports(labs: Labs) -> dict[str, Any]:
    from berth import EndpointSpec, SandboxSpec, parse_port_spec  # noqa: PLC0415

    ctl = labs.lib
    lib_network(ctl, "bbprofp", "10.106.0.0/24")
    ctl.create_sandbox(SandboxSpec(name="bbpp"))
    spec = EndpointSpec(ports=tuple(parse_port_spec("20000-20999:20000-20999")))
    profile = cProfile.Profile()
    profile.enable()
    ctl.connect("bbprofp", "bbpp", spec)
    ctl.disconnect("bbprofp", "bbpp")
    profile.disable()
    ctl.delete_sandbox("bbpp")
    ctl.delete_network("bbprofp")
    what = "cProfile of one library connect+disconnect publishing 1,000 ports"
    return {"what": what, **_stats(profile)}
