"""The targets of issue 5, evaluated from a results dict: each with what was measured, the ratio
and whether it is met (None: not measured). Reported, never asserted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Target:
    key: str
    text: str
    measured: str
    ratio: float | None
    met: bool | None
    profile: str  # which profile explains a miss: "api", "library", "ports", "" (none applies)


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _r(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 2)


def evaluate(results: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    api = _get(results, "attach", "berth API", "attach", "median")
    floor = _get(results, "attach", "floor (pyroute2)", "attach", "median")
    docker = _get(results, "attach", "docker API", "attach", "median")
    r = _r(api, floor)
    out.append(
        Target(
            "attach-floor",
            "attach through the API at most 3x the floor",
            f"berth API {api} ms, floor {floor} ms",
            r,
            None if r is None else r <= 3,
            "api",
        )
    )
    r = _r(docker, api)
    out.append(
        Target(
            "attach-docker",
            "attach at least 5x faster than Docker's connect (API)",
            f"docker API {docker} ms, berth API {api} ms",
            r,
            None if r is None else r >= 5,
            "api",
        )
    )
    d_api = _get(results, "attach", "berth API", "detach", "median")
    d_docker = _get(results, "attach", "docker API", "detach", "median")
    r = _r(d_docker, d_api)
    out.append(
        Target(
            "detach-docker",
            "detach at least 5x faster than Docker's (API)",
            f"docker API {d_docker} ms, berth API {d_api} ms",
            r,
            None if r is None else r >= 5,
            "api",
        )
    )
    for system in ("berth API", "berth library"):
        n = _get(results, "scale", system, "containers") or _get(
            results, "scale", system, "sandboxes"
        )
        first = _get(results, "scale", system, "attach", "first10_median_ms")
        last = _get(results, "scale", system, "attach", "last10_median_ms")
        r = _r(last, first)
        out.append(
            Target(
                f"scale-{system}",
                f"per-attach time flat over {n} attaches, last 10% "
                f"within 15% of the first ({system})",
                f"first 10% {first} ms, last 10% {last} ms",
                r,
                None if r is None else r <= 1.15,
                "api-scale" if system == "berth API" else "library",
            )
        )
    big = _get(results, "ports", "publish", "berth API", "1000")
    procs = None if not big or big.get("skipped") else big["procs_added"]
    out.append(
        Target(
            "ports-procs",
            "1,000 published ports: zero extra processes",
            f"{procs} processes added (docker: "
            f"{_get(results, 'ports', 'publish', 'docker API', '1000', 'procs_added')})",
            None,
            None if procs is None else procs == 0,
            "",
        )
    )
    start = None if not big or big.get("skipped") else big["start_ms"]["median"]
    publish = None if not big or big.get("skipped") else big["publish_ms"]["median"]
    out.append(
        Target(
            "ports-time",
            "1,000 published ports: under 1 s to publish",
            f"container start with 1,000 ports {start} ms (publishing: {publish} ms)",
            _r(start, 1000.0),
            None if start is None else start < 1000,
            "ports",
        )
    )
    zero = _get(results, "ports", "conn_rate", "berth", "0 other ports", "median")
    many = _get(results, "ports", "conn_rate", "berth", "1000 other ports", "median")
    r = _r(many, zero)
    out.append(
        Target(
            "ports-rate",
            "new-connection rate with 1,000 other ports within 10% of the rate with none",
            f"{many}/s vs {zero}/s",
            r,
            None if r is None else r >= 0.9,
            "",
        )
    )
    via = _get(results, "datapath", "berth via 127.0.0.1:published", "gbit_per_s", "median")
    direct = _get(results, "datapath", "berth direct to container", "gbit_per_s", "median")
    dock = _get(results, "datapath", "docker via 127.0.0.1:published", "throughput_vs_direct")
    r = _r(via, direct)
    out.append(
        Target(
            "datapath",
            "published-port throughput via 127.0.0.1 at least 0.9x the direct path",
            f"{via} vs {direct} Gbit/s (docker-proxy: {dock}x)",
            r,
            None if r is None else r >= 0.9,
            "",
        )
    )
    idle_b = _get(results, "footprint", "idle_rss_kb", "berthd")
    idle_d = _get(results, "footprint", "idle_rss_kb", "dockerd")
    r = _r(idle_b, idle_d)
    out.append(
        Target(
            "rss-idle",
            "berthd RSS below dockerd's idle RSS",
            f"berthd {idle_b} kB, dockerd {idle_d} kB",
            r,
            None if r is None else r < 1,
            "",
        )
    )
    per = _get(results, "footprint", "rss_kb_per_endpoint", "berthd")
    out.append(
        Target(
            "rss-endpoint",
            "berthd under 20 kB per additional endpoint",
            f"{per} kB per endpoint (dockerd: "
            f"{_get(results, 'footprint', 'rss_kb_per_endpoint', 'dockerd')} kB)",
            _r(per, 20.0),
            None if per is None else per < 20,
            "",
        )
    )
    b_dns = _get(results, "dns", "berth", "answers_per_s", "median")
    d_dns = _get(results, "dns", "docker", "answers_per_s", "median")
    r = _r(b_dns, d_dns)
    out.append(
        Target(
            "dns",
            "embedded DNS answers/s at least Docker's",
            f"berth {b_dns if b_dns is not None else 'not available'}, docker {d_dns}",
            r,
            None if r is None else r >= 1,
            "",
        )
    )
    return out
