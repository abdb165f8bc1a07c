"""berth's benchmark suite: `python -m bench [--quick] [--only SUITE ...]` (as root, after
bench/setup.sh; `bash bench/run.sh` does both).

Runs every comparison side by side in one run, writes bench/results/results.json and
bench/results/report.md (+ PNG plots), and removes everything it created, also after a failure or
a signal. `python -m bench --sweep` removes what a killed run (SIGKILL) may have left.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import attach, datapath, dns, footprint, ports, profiles, report, scale, sweep
from bench.labs import Labs
from bench.util import ROOT, Cleanup, Interrupted, log, sh, signals_raise

RESULTS = ROOT / "bench" / "results"

# rounds and sizes per mode: full ~15 min on 2 cores, quick ~3 min
MODES: dict[str, dict[str, Any]] = {
    "full": {
        "attach_rounds": 7, "attach_per_round": 12,
        "scale_sandboxes": 500, "scale_networks": 100, "docker_containers": 200,
        "publish_sizes": [1, 10, 1000], "publish_rounds": 3, "docker_publish_max": 1000,
        "wrk_seconds": 3, "wrk_rounds": 5, "iperf_seconds": 3, "path_rounds": 3,
        "dns_rounds": 5, "dns_queries": 2000, "cli_rounds": 15,
    },
    "quick": {
        "attach_rounds": 3, "attach_per_round": 6,
        "scale_sandboxes": 100, "scale_networks": 20, "docker_containers": 100,
        "publish_sizes": [1, 10, 1000], "publish_rounds": 1, "docker_publish_max": 100,
        "wrk_seconds": 2, "wrk_rounds": 2, "iperf_seconds": 2, "path_rounds": 1,
        "dns_rounds": 2, "dns_queries": 500, "cli_rounds": 5,
    },
}  # fmt: skip

SUITES: dict[str, Callable[[Labs, dict[str, Any]], dict[str, Any]]] = {
    "attach": attach.run,
    "scale": scale.run,
    "ports": ports.run,
    "datapath": datapath.run,
    "dns": dns.run,
    "footprint": footprint.run,
}


def environment() -> dict[str, Any]:
    def version(*cmd: str) -> str:
        result = sh(*cmd, check=False)
        return (result.stdout or result.stderr).strip().splitlines()[0] if result else ""

    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "dockerd": version("dockerd", "--version"),
        "containerd": version("containerd", "--version"),
        "cni_plugins": version("dpkg-query", "-W", "-f=${Version}", "containernetworking-plugins"),
        "wrk": version("dpkg-query", "-W", "-f=${Version}", "wrk"),
        "iperf3": version("iperf3", "--version"),
        "berth_tree": version("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
        + (" +uncommitted changes" if sh("git", "-C", str(ROOT), "status", "--porcelain",
                                         "src", check=False).stdout.strip() else ""),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes (~3 min)")
    parser.add_argument("--only", nargs="*", choices=sorted(SUITES), help="run only these")
    parser.add_argument("--no-profile", action="store_true", help="skip profiling misses")
    parser.add_argument("--sweep", action="store_true", help="remove a killed run's leftovers")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("python -m bench: needs root (namespaces, bridges, nftables, dockerd)")
        return 1
    sweep.sweep()
    if args.sweep:
        return 0
    mode = "quick" if args.quick else "full"
    results: dict[str, Any] = {"mode": mode, "params": MODES[mode], "env": environment()}
    started = time.monotonic()
    cleanup = Cleanup()
    failed = False
    with signals_raise():
        try:
            labs = Labs.open(cleanup)
            for name in args.only or list(SUITES):
                log(f"suite {name}")
                try:
                    results[name] = SUITES[name](labs, MODES[mode])
                except Interrupted:
                    raise
                except Exception:  # one suite's failure is reported, not fatal
                    failed = True
                    results[name] = {"error": traceback.format_exc()}
                    log(f"suite {name} failed:\n{results[name]['error']}")
            if not args.no_profile:
                results["profiles"] = profiles.run(labs, results, RESULTS)
        except Interrupted as err:
            log(f"interrupted ({err}); cleaning up")
            results["error"] = f"interrupted ({err})"
            failed = True
        except Exception:
            results["error"] = traceback.format_exc()
            log(f"failed:\n{results['error']}")
            failed = True
        finally:
            log("cleaning up")
            cleanup.run()
    sweep.check_clean()
    results["seconds"] = round(time.monotonic() - started, 1)
    results["env"]["loadavg_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, RESULTS)
    log(f"done in {results['seconds']} s: {RESULTS / 'report.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
