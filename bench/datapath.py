"""Comparison 4: the data path to a container's published port. iperf3 throughput (one TCP
stream) and wrk new-connection rate, for berth and Docker, through 127.0.0.1:published (berth:
kernel DNAT; Docker: docker-proxy), through the host address 192.0.2.1:published (both kernel DNAT),
directly to the container's address, and host loopback (server and client in one namespace) as
the ceiling. Every (system, path) pair runs once per round, in turn."""

from __future__ import annotations

from typing import Any

from bench.lab import HOST_ADDR
from bench.labs import Labs
from bench.ports import webs
from bench.traffic import iperf3, ns_of_pid, short_time_wait, start_httpd, start_iperf3, wrk
from bench.util import log, ratio, summary


def run(labs: Labs, mode: dict[str, Any]) -> dict[str, Any]:
    targets: list[tuple[str, Any, str, int, int]] = []  # (label, client ns, host, http, iperf)
    for label, (api, ns) in webs(labs).items():
        pid = api.pid("bbweb")
        if not labs.extra.get(f"iperf-{label}"):
            start_iperf3(ns_of_pid(pid), labs.cleanup)
            labs.extra[f"iperf-{label}"] = True
        address = api.address("bbweb", "bridge")
        targets += [
            (f"{label} via 127.0.0.1:published", ns, "127.0.0.1", 8080, 5201),
            (f"{label} via host address:published", ns, HOST_ADDR, 8080, 5201),
            (f"{label} direct to container", ns, address, 80, 5201),
        ]
    loop = labs.netns("loop")
    short_time_wait(loop.enter())
    start_httpd(loop.enter(), labs.cleanup, port=8081, bind="127.0.0.1")
    start_iperf3(loop.enter(), labs.cleanup, port=5202)
    targets.append(("host loopback (ceiling)", loop, "127.0.0.1", 8081, 5202))
    rates: dict[str, list[float]] = {t[0]: [] for t in targets}
    gbits: dict[str, list[float]] = {t[0]: [] for t in targets}
    errors: dict[str, list[str]] = {t[0]: [] for t in targets}
    for r in range(mode["path_rounds"]):
        log(f"data path round {r + 1}/{mode['path_rounds']}")
        for name, ns, host, http_port, iperf_port in targets:
            result = wrk(ns, f"http://{host}:{http_port}/", mode["wrk_seconds"])
            rates[name].append(result["rate"])
            if result["errors"]:
                errors[name].append(result["errors"])
            gbits[name].append(iperf3(ns, host, iperf_port, mode["iperf_seconds"]))
    out: dict[str, Any] = {
        name: {
            "conn_per_s": summary(rates[name], 1),
            "gbit_per_s": summary(gbits[name]),
            "wrk_errors": errors[name],
        }
        for name, *_ in targets
    }
    for label in ("berth", "docker"):
        direct = out[f"{label} direct to container"]
        for path in ("127.0.0.1:published", "host address:published"):
            row = out[f"{label} via {path}"]
            row["throughput_vs_direct"] = ratio(
                row["gbit_per_s"]["median"], direct["gbit_per_s"]["median"]
            )
            row["conn_rate_vs_direct"] = ratio(
                row["conn_per_s"]["median"], direct["conn_per_s"]["median"]
            )
    return out
