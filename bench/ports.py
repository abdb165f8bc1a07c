"""Comparison 3: published ports.

- Time to publish 1, 10, 1000 ports (a range) on one container: container start with k ports
  minus start with none (berth API, docker API, same client), and the library's connect with k
  ports minus without. Removal times likewise.
- What each published port adds: processes and RSS in the daemon's namespace (compared with the
  same container publishing nothing: docker-proxy runs there), and the nft rule count.
- wrk new-connection rate to a published port (127.0.0.1:8080 -> a container's :80) with no other
  and with 1000 other ports published, alternating A B A B per round.
Docker with 1000 ports (2000 docker-proxy processes; minutes to start and remove) runs in the
first round only, and its rate with 1,000 other ports is measured while that container is up.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.api import Api
from bench.lab import IMAGE
from bench.labs import Labs, lib_network, nft_rule_count
from bench.traffic import ns_of_pid, short_time_wait, start_httpd, wrk
from bench.util import log, ms_since, pss_kb, rss_kb, summary, timed_ms

BASE_PORT = 20000


def _ports(k: int) -> dict[str, str]:
    return {f"{BASE_PORT + i}/tcp": str(BASE_PORT + i) for i in range(k)}


def _footprint(pids: list[int]) -> tuple[int, int, int]:
    return len(pids), sum(rss_kb(p) for p in pids), sum(pss_kb(p) for p in pids)


def _api_publish(
    api: Api, ns: Any, k: int, during: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Start a container with no ports and one with k, run ``during`` while both are up, remove
    both. Times in ms."""
    procs_none, rss_none, pss_none = _footprint(ns.pids())
    start0 = timed_ms(lambda: api.run("bbpub0", IMAGE, ["sleep", "3600"]))
    procs0, rss0, pss0 = _footprint(ns.pids())
    startk = timed_ms(lambda: api.run("bbpubk", IMAGE, ["sleep", "3600"], ports=_ports(k)))
    procsk, rssk, pssk = _footprint(ns.pids())
    rules = nft_rule_count(ns)
    if during is not None:
        during()
    removek = timed_ms(lambda: api.remove("bbpubk"))
    remove0 = timed_ms(lambda: api.remove("bbpub0"))
    return {
        "start_ms": startk,
        "start_without_ms": start0,
        "publish_ms": startk - start0,
        "unpublish_ms": removek - remove0,
        # the k-port container brings what the 0-port one brought (its shim): the rest is ports
        "procs_added": (procsk - procs0) - (procs0 - procs_none),
        "rss_kb_added": (rssk - rss0) - (rss0 - rss_none),
        "pss_kb_added": (pssk - pss0) - (pss0 - pss_none),
        "rules": rules,
    }


def _lib_publish(labs: Labs, k: int) -> dict[str, Any]:
    from berth import EndpointSpec, SandboxSpec, parse_port_spec  # noqa: PLC0415

    ctl = labs.lib
    last = BASE_PORT + k - 1
    text = f"{BASE_PORT}-{last}:{BASE_PORT}-{last}" if k > 1 else f"{BASE_PORT}:{BASE_PORT}"
    spec = EndpointSpec(ports=tuple(parse_port_spec(text)))
    ctl.create_sandbox(SandboxSpec(name="bbpubsb"))
    attach0 = timed_ms(lambda: ctl.connect("bbpub", "bbpubsb", EndpointSpec()))
    detach0 = timed_ms(lambda: ctl.disconnect("bbpub", "bbpubsb"))
    attachk = timed_ms(lambda: ctl.connect("bbpub", "bbpubsb", spec))
    rules = nft_rule_count(labs.lib_ns)
    detachk = timed_ms(lambda: ctl.disconnect("bbpub", "bbpubsb"))
    ctl.delete_sandbox("bbpubsb")
    return {
        "start_ms": attachk,
        "start_without_ms": attach0,
        "publish_ms": attachk - attach0,
        "unpublish_ms": detachk - detach0,
        "procs_added": 0,
        "rss_kb_added": 0,
        "pss_kb_added": 0,
        "rules": rules,
    }


def _web(labs: Labs, label: str) -> tuple[Api, Any]:
    lab = labs.berthd if label == "berth" else labs.docker
    api = Api(lab.sock)
    api.run("bbweb", IMAGE, ["sleep", "3600"], ports={"80/tcp": "8080", "5201/tcp": "5201"})
    enter = ns_of_pid(api.pid("bbweb"))
    short_time_wait(enter)
    short_time_wait(lab.ns.enter())
    start_httpd(enter, labs.cleanup)
    return api, lab.ns


def webs(labs: Labs) -> dict[str, tuple[Api, Any]]:
    """berth's and docker's "bbweb" container (HTTP on :80 published as 8080, :5201 as 5201),
    made once per run; the data-path suite uses them too."""
    if "web" not in labs.extra:
        labs.extra["web"] = {label: _web(labs, label) for label in ("berth", "docker")}
    return labs.extra["web"]  # type: ignore[no-any-return]


def run(labs: Labs, mode: dict[str, Any]) -> dict[str, Any]:
    lib_network(labs.lib, "bbpub", "10.102.0.0/24")
    webs_ = webs(labs)
    systems = ("berth library", "berth API", "docker API")
    publish: dict[str, dict[int, list[dict[str, Any]]]] = {
        s: {k: [] for k in mode["publish_sizes"]} for s in systems
    }
    rates: dict[str, dict[str, list[float]]] = {
        s: {"0 other ports": [], "1000 other ports": []} for s in ("berth", "docker")
    }
    removal: dict[str, list[float]] = {"berth": []}
    biggest = max(mode["publish_sizes"])
    for r in range(mode["publish_rounds"]):
        for label, (_api, ns) in webs_.items():
            rates[label]["0 other ports"].append(
                wrk(ns, "http://127.0.0.1:8080/", mode["wrk_seconds"])["rate"]
            )
        for k in mode["publish_sizes"]:
            log(f"ports: round {r + 1}, publishing {k}")
            publish["berth library"][k].append(_lib_publish(labs, k))
            for label, (api, ns) in webs_.items():
                limit = mode["docker_publish_max"] if label == "docker" else biggest
                if k > limit or (label == "docker" and k == biggest and r > 0):
                    continue
                during = None
                if label == "docker" and k == biggest:  # one 1,000-port cycle costs Docker minutes

                    def during(ns: Any = ns) -> None:
                        time.sleep(0.5)
                        rate = wrk(ns, "http://127.0.0.1:8080/", mode["wrk_seconds"])["rate"]
                        rates["docker"]["1000 other ports"].append(rate)

                publish[f"{label} API"][k].append(_api_publish(api, ns, k, during))
        log(f"ports: round {r + 1}, wrk with {biggest} other ports")
        for label, (api, ns) in webs_.items():
            if label == "docker":
                continue  # measured while its 1,000-port publish container was up
            api.run("bbother", IMAGE, ["sleep", "3600"], ports=_ports(biggest))
            time.sleep(0.5)
            rates[label]["1000 other ports"].append(
                wrk(ns, "http://127.0.0.1:8080/", mode["wrk_seconds"])["rate"]
            )
            started = time.perf_counter()
            api.remove("bbother")
            removal[label].append(ms_since(started))
    return {
        "publish": {
            s: {str(k): _merge(v) for k, v in sizes.items()} for s, sizes in publish.items()
        },
        # removing the container with the ports right after the wrk run (conntrack is full of it)
        "remove_after_traffic_ms": {label: summary(v) for label, v in removal.items()},
        "conn_rate": {
            label: {cond: summary(v, 1) for cond, v in conds.items()}
            for label, conds in rates.items()
        },
    }


def _merge(samples: list[dict[str, Any]]) -> dict[str, Any]:
    if not samples:
        return {"skipped": True}
    out: dict[str, Any] = {}
    for key in ("start_ms", "start_without_ms", "publish_ms", "unpublish_ms"):
        out[key] = summary([s[key] for s in samples])
    for key in ("procs_added", "rss_kb_added", "pss_kb_added"):
        out[key] = int(statistics.median([s[key] for s in samples]))
    out["rules"] = samples[-1]["rules"]
    return out
