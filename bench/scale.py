"""Comparison 2: scale. Many sandboxes on one network, and many networks.

- berth library: N sandboxes, each connected to one network (per-attach times, in order), then
  M networks, each created and joined by one sandbox.
- berth API and docker API (the same client): N running containers (started on the default
  bridge, 4 at a time: setup, timed as a whole), then each connected to one user network (the
  per-attach times compared), then M networks each created and joined by one container.
For each: total time, per-attach median of the first and last 10% (does it grow?), store size,
daemon RSS (per endpoint), and the nft rule count (Docker's iptables-nft rules count the same).
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.api import Api
from bench.lab import IMAGE
from bench.labs import Labs, lib_network, nft_rule_count, store_kb
from bench.util import RUN_ID, log, ms_since, rss_kb, summary, timed_ms

NET = "bbscale"


def growth(samples: list[float]) -> dict[str, Any]:
    """Median of the first and last 10% of ``samples`` (in order) and their ratio."""
    tenth = max(1, len(samples) // 10)
    first = statistics.median(samples[:tenth])
    last = statistics.median(samples[-tenth:])
    return {
        "first10_median_ms": round(first, 3),
        "last10_median_ms": round(last, 3),
        "last_over_first": round(last / first, 3) if first else None,
        "all": summary(samples),
        "samples_ms": [round(x, 3) for x in samples],
    }


def _lib(labs: Labs, n: int, m: int) -> dict[str, Any]:
    from berth import EndpointSpec, SandboxSpec  # noqa: PLC0415

    ctl = labs.lib
    lib_network(ctl, NET, "10.100.0.0/16")
    started = time.perf_counter()
    create, attach = [], []
    for i in range(n):
        create.append(timed_ms(lambda i=i: ctl.create_sandbox(SandboxSpec(name=f"bbs{i}"))))
        attach.append(timed_ms(lambda i=i: ctl.connect(NET, f"bbs{i}", EndpointSpec())))
    out: dict[str, Any] = {
        "sandboxes": n,
        "total_s": round((time.perf_counter() - started), 2),
        "create_sandbox": summary(create),
        "attach": growth(attach),
        "rules_after_sandboxes": nft_rule_count(labs.lib_ns),
    }
    started = time.perf_counter()
    net_create, net_attach = [], []
    for j in range(m):
        name = f"bbsn{j}"
        net_create.append(
            timed_ms(lambda name=name, j=j: lib_network(ctl, name, f"10.101.{j}.0/24"))
        )
        net_attach.append(timed_ms(lambda name=name, j=j: ctl.connect(name, f"bbs{j}")))
    out |= {
        "networks": m,
        "networks_total_s": round(time.perf_counter() - started, 2),
        "network_create": growth(net_create),
        "network_attach": growth(net_attach),
        "rules_after_networks": nft_rule_count(labs.lib_ns),
        "store_kb": store_kb(labs.base / "lib" / "state", "berth.db*"),
    }
    started = time.perf_counter()
    detach = [timed_ms(lambda i=i: ctl.disconnect(NET, f"bbs{i}")) for i in range(n)]
    out["detach"] = growth(detach)
    for i in range(n):
        ctl.delete_sandbox(f"bbs{i}")
    for j in range(m):
        ctl.delete_network(f"bbsn{j}")
    ctl.delete_network(NET)
    out["teardown_s"] = round(time.perf_counter() - started, 2)
    return out


def _floor(labs: Labs, n: int) -> dict[str, Any]:
    """The kernel's own growth: the floor's attach (raw pyroute2) of N sandboxes to one bridge."""
    ns = labs.netns("flscale")
    worker = labs.worker(ns, "floor", "/proc/self/ns/net", "bbfl0", "10.89.0")
    result = worker.scale(n, "bbn-fls{}-" + RUN_ID)
    return {"sandboxes": n, "total_s": round(sum(result["attach"]) / 1e3, 2),
            "attach": growth(result["attach"]), "detach": growth(result["detach"])}  # fmt: skip


def _start_many(sock: str, names: list[str], workers: int = 4) -> float:
    """Start containers ``names`` on the default bridge, ``workers`` clients at once; seconds."""
    chunks = [names[i::workers] for i in range(workers)]

    def start(chunk: list[str]) -> None:
        api = Api(sock)
        for name in chunk:
            api.run(name, IMAGE, ["sleep", "3600"])
        api.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(start, chunks))
    return round(time.perf_counter() - started, 2)


def _remove_many(sock: str, names: list[str], workers: int = 4) -> float:
    chunks = [names[i::workers] for i in range(workers)]

    def remove(chunk: list[str]) -> None:
        api = Api(sock)
        for name in chunk:
            api.remove(name)
        api.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(remove, chunks))
    return round(time.perf_counter() - started, 2)


def _daemon(
    labs: Labs, label: str, n: int, m: int, *, store: tuple[Path, str], pids: dict[str, int]
) -> dict[str, Any]:
    ns = labs.berthd.ns if label == "berth" else labs.docker.ns
    sock = labs.berthd.sock if label == "berth" else labs.docker.sock
    api = Api(sock)
    names = [f"bbsc{i}" for i in range(n)]
    out: dict[str, Any] = {"containers": n, "rss_kb_idle": {k: rss_kb(p) for k, p in pids.items()}}
    log(f"scale: starting {n} {label} containers")
    out["start_containers_s"] = _start_many(sock, names)
    out["rss_kb_with_containers"] = {k: rss_kb(p) for k, p in pids.items()}
    api.create_network(NET, "10.100.0.0/16")
    log(f"scale: connecting {n} {label} containers to one network")
    started = time.perf_counter()
    attach = [timed_ms(lambda name=name: api.connect(NET, name)) for name in names]
    out["attach_total_s"] = round(ms_since(started) / 1e3, 2)
    out["attach"] = growth(attach)
    out["rss_kb_with_endpoints"] = {k: rss_kb(p) for k, p in pids.items()}
    main = next(iter(pids))
    out["rss_kb_per_endpoint"] = round(
        (out["rss_kb_with_endpoints"][main] - out["rss_kb_with_containers"][main]) / n, 2
    )
    out["rules_after_containers"] = nft_rule_count(ns)
    if label == "berth":
        from bench.profiles import pyspy_api_at_scale  # noqa: PLC0415 - profiles imports labs

        log("scale: py-spy on berthd at scale (not timed)")
        out["profile"] = pyspy_api_at_scale(labs, api, names[0])
    started = time.perf_counter()
    net_create, net_attach = [], []
    for j in range(m):
        net = f"bbsn{j}"
        net_create.append(
            timed_ms(lambda net=net, j=j: api.create_network(net, f"10.101.{j}.0/24"))
        )
        net_attach.append(timed_ms(lambda net=net, j=j: api.connect(net, names[j % n])))
    out |= {
        "networks": m,
        "networks_total_s": round(time.perf_counter() - started, 2),
        "network_create": growth(net_create),
        "network_attach": growth(net_attach),
        "rules_after_networks": nft_rule_count(ns),
        "store_kb": store_kb(*store),
        "rss_kb_with_networks": {k: rss_kb(p) for k, p in pids.items()},
    }
    log(f"scale: detaching and removing {label} containers")
    out["detach"] = growth(
        [timed_ms(lambda name=name: api.disconnect(NET, name)) for name in names]
    )
    out["remove_containers_s"] = _remove_many(sock, names)
    for j in range(m):
        api.remove_network(f"bbsn{j}")
    api.remove_network(NET)
    api.close()
    return out


def run(labs: Labs, mode: dict[str, Any]) -> dict[str, Any]:
    n, m = mode["scale_sandboxes"], mode["scale_networks"]
    log(f"scale: floor, {n} sandboxes")
    results: dict[str, Any] = {"floor (pyroute2)": _floor(labs, n)}
    log(f"scale: berth library, {n} sandboxes and {m} networks")
    results["berth library"] = _lib(labs, n, m)
    results["berth API"] = _daemon(
        labs,
        "berth",
        n,
        m,
        store=(labs.berthd.base / "data", "berth.db*"),
        pids={"berthd": labs.berthd.pid},
    )
    docker_n = mode["docker_containers"]
    results["docker API"] = _daemon(
        labs, "docker", docker_n, m,
        store=(labs.docker.base / "data" / "network", "local-kv.db"),
        pids={"dockerd": labs.docker.pid, "containerd": labs.docker.containerd_pid},
    )  # fmt: skip
    labs.extra["scale"] = results
    return results
