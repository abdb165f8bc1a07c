"""Comparison 5: the embedded DNS resolver at 127.0.0.11, from a container on a user network
asking for another container's name: latency (sequential queries) and answers per second (32
outstanding). Docker always has one; berth's (issue 4) is measured when a berth container's
127.0.0.11 answers, and reported as not available otherwise. Rounds alternate the systems."""

from __future__ import annotations

import json
from typing import Any

from bench.api import Api
from bench.lab import IMAGE
from bench.labs import Labs
from bench.traffic import ns_of_pid
from bench.util import PYTHON, log, sh, summary


def _client(pid: int, *args: str) -> dict[str, Any]:
    out = sh(*ns_of_pid(pid), PYTHON, "-m", "bench.dnsclient", *args, timeout=300)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def run(labs: Labs, mode: dict[str, Any]) -> dict[str, Any]:
    clients: dict[str, int] = {}
    out: dict[str, Any] = {}
    for label, lab in (("berth", labs.berthd), ("docker", labs.docker)):
        api = Api(lab.sock)
        api.create_network("bbdns", "10.103.0.0/24")
        api.run("bbdns-server", IMAGE, ["sleep", "3600"], network="bbdns")
        api.run("bbdns-client", IMAGE, ["sleep", "3600"], network="bbdns")
        pid = api.pid("bbdns-client")
        probe = _client(pid, "probe", "bbdns-server")
        if probe.get("available"):
            clients[label] = pid
        else:
            out[label] = {
                "available": False,
                "note": f"{label}: nothing answers on 127.0.0.11:53 in a container "
                f"({probe.get('error', 'no answer')}): not available",
            }
    latency: dict[str, list[float]] = {k: [] for k in clients}
    rates: dict[str, list[float]] = {k: [] for k in clients}
    failures: dict[str, int] = dict.fromkeys(clients, 0)
    n = mode["dns_queries"]
    for r in range(mode["dns_rounds"]):
        log(f"dns round {r + 1}/{mode['dns_rounds']}: {', '.join(clients) or 'nothing to measure'}")
        for label, pid in clients.items():
            result = _client(pid, "latency", "bbdns-server", str(n // 4))
            latency[label] += result["ms"]
            failures[label] += result["failures"]
            rates[label].append(_client(pid, "rate", "bbdns-server", str(n), "32")["per_s"])
    for label in clients:
        out[label] = {
            "available": True,
            "latency_ms": summary(latency[label]),
            "answers_per_s": summary(rates[label], 1),
            "failures": failures[label],
        }
    return out
