"""Comparison 1: attach and detach latency of one container to a bridge network (an address and
a default route), every way a user can ask for it, interleaved op by op (A B C ... A B C ...) so
that machine noise hits every system alike.

Systems: berth library (in-process, and with one published port), berth API and docker API (the
same keep-alive client, POST /networks/{id}/connect and /disconnect of a running container), berth
CLI and docker CLI (`network connect/disconnect`), the CNI reference chain bridge+host-local (and
+portmap+firewall with one port) exec'd as a runtime does, and the floor (raw pyroute2).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.api import Api
from bench.lab import DOCKER, IMAGE
from bench.labs import Labs, lib_network
from bench.util import VENV_BIN, log, summary, timed_ms

NET = "bbattach"
SUBNET = "10.88.0.0/24"


@dataclass
class System:
    name: str
    attach: Callable[[], float]  # one op, returns ms
    detach: Callable[[], float]


def _lib_systems(labs: Labs) -> list[System]:
    from berth import EndpointSpec, SandboxSpec, parse_port_spec  # noqa: PLC0415

    ctl = labs.lib
    lib_network(ctl, NET, SUBNET)
    lib_network(ctl, NET + "p", "10.88.1.0/24")
    ctl.create_sandbox(SandboxSpec(name="bbsb"))
    ctl.create_sandbox(SandboxSpec(name="bbsbp"))
    ports = EndpointSpec(ports=tuple(parse_port_spec("18080:80")))
    return [
        System(
            "berth library",
            lambda: timed_ms(lambda: ctl.connect(NET, "bbsb", EndpointSpec())),
            lambda: timed_ms(lambda: ctl.disconnect(NET, "bbsb")),
        ),
        System(
            "berth library +1 port",
            lambda: timed_ms(lambda: ctl.connect(NET + "p", "bbsbp", ports)),
            lambda: timed_ms(lambda: ctl.disconnect(NET + "p", "bbsbp")),
        ),
    ]


def _daemon_systems(labs: Labs) -> list[System]:
    systems = []
    berth_cli = [str(VENV_BIN / "berth"), "-H", f"unix://{labs.berthd.sock}"]
    docker_cli = [DOCKER, "-H", f"unix://{labs.docker.sock}"]
    for label, sock, cli, env in (
        ("berth", labs.berthd.sock, berth_cli, None),
        ("docker", labs.docker.sock, docker_cli, labs.docker.env),
    ):
        api = Api(sock)
        api.create_network(NET, SUBNET)
        api.run("bbattach1", IMAGE, ["sleep", "3600"])

        def run_cli(op: str, cli: list[str] = cli, env: dict[str, str] | None = env) -> float:
            return timed_ms(
                lambda: subprocess.run(
                    [*cli, "network", op, NET, "bbattach1"],
                    check=True,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

        systems += [
            System(
                f"{label} API",
                lambda api=api: timed_ms(lambda: api.connect(NET, "bbattach1")),
                lambda api=api: timed_ms(lambda: api.disconnect(NET, "bbattach1")),
            ),
            System(
                f"{label} CLI",
                lambda run_cli=run_cli: run_cli("connect"),
                lambda run_cli=run_cli: run_cli("disconnect"),
            ),
        ]
    return systems


def _cni_conflist(labs: Labs, name: str, bridge: str, subnet: str, full: bool) -> str:
    import json  # noqa: PLC0415

    ipam = {
        "type": "host-local",
        "ranges": [[{"subnet": subnet}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": str(labs.base / "cni" / f"{name}-ipam"),
    }
    plugins: list[dict[str, Any]] = [
        {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True, "ipam": ipam}
    ]
    if full:
        plugins += [
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {"type": "firewall", "backend": "iptables"},
        ]
    path = labs.base / "cni" / f"{name}.conflist"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"cniVersion": "1.0.0", "name": name, "plugins": plugins}))
    return str(path)


def _worker_systems(labs: Labs) -> list[System]:
    cni_ns = labs.netns("cni")
    floor_ns = labs.netns("floor")
    systems = []
    for name, bridge, subnet, full in (
        ("bbcni", "bbcni0", "10.90.0.0/24", False),
        ("bbcnif", "bbcnif0", "10.90.1.0/24", True),
    ):
        sandbox = labs.netns(f"{name}sb")
        conflist = _cni_conflist(labs, name, bridge, subnet, full)
        worker = labs.worker(cni_ns, "cni", conflist, sandbox.path, f"{name}-ctr")
        label = "CNI bridge+host-local" + ("+portmap+firewall (1 port)" if full else "")
        attach_op = lambda w=worker: w.request("attach")  # noqa: E731
        detach_op = lambda w=worker: w.request("detach")  # noqa: E731
        systems.append(System(label, attach_op, detach_op))
    floor_sb = labs.netns("floorsb")
    floor = labs.worker(floor_ns, "floor", floor_sb.path, "bbfl0", "10.89.0")
    systems.append(
        System("floor (pyroute2)", lambda: floor.request("attach"), lambda: floor.request("detach"))
    )
    return systems


def run(labs: Labs, mode: dict[str, Any]) -> dict[str, Any]:
    rounds, per_round = mode["attach_rounds"], mode["attach_per_round"]
    systems = _lib_systems(labs) + _daemon_systems(labs) + _worker_systems(labs)
    samples: dict[str, dict[str, list[list[float]]]] = {
        s.name: {"attach": [], "detach": []} for s in systems
    }
    for system in systems:  # warm-up: first-use costs (imports, caches) are not what we measure
        system.attach()
        system.detach()
    for r in range(rounds):
        log(f"attach/detach round {r + 1}/{rounds}")
        for s in systems:
            samples[s.name]["attach"].append([])
            samples[s.name]["detach"].append([])
        for _ in range(per_round):
            for s in systems:
                samples[s.name]["attach"][-1].append(s.attach())
                samples[s.name]["detach"][-1].append(s.detach())
    return {name: _stats(ops) for name, ops in samples.items()}


def _stats(ops: dict[str, list[list[float]]]) -> dict[str, Any]:
    import statistics  # noqa: PLC0415

    out: dict[str, Any] = {}
    for op, per_round in ops.items():
        flat = [x for chunk in per_round for x in chunk]
        out[op] = summary(flat)
        out[op]["round_medians"] = [round(statistics.median(c), 3) for c in per_round]
    return out
