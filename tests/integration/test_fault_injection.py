"""Fault injection at every kernel step of create-network and connect: after each injected
failure nothing is left behind (no link, netns, address, route, nft element or store row)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from berth import EndpointSpec, IpamConfig, IpamPoolConfig, NetworkSpec, SandboxSpec
from berth.controller.config import ControllerConfig
from berth.controller.controller import NetworkController
from berth.kernel.api import Kernel
from berth.kernel.netlink import PyrouteNetlink
from berth.kernel.real import close_real_kernel, real_kernel
from berth.local import build_controller
from berth.model.errors import KernelError
from berth.model.ports import parse_port_spec
from berth.store.sqlite import SqliteStore
from tests.integration.netenv import Ns, ping

pytestmark = pytest.mark.root

MUTATING = {
    "netns": {"create", "remove"},
    "netlink": {
        "add_bridge",
        "add_veth",
        "delete_link",
        "detach_veth",
        "set_link",
        "set_bridge_port",
        "add_address",
        "configure_link",
        "delete_address",
        "add_route",
        "delete_route",
    },
    "nft": {"run"},
    "sysctl": {"write"},
    "conntrack": {"flush"},
}


class InjectedFault(KernelError):
    pass


@dataclass
class Counter:
    fail_at: int | None = None
    steps: list[str] = field(default_factory=list)

    def tick(self, label: str) -> None:
        self.steps.append(label)
        if len(self.steps) == self.fail_at:
            raise InjectedFault(f"injected fault at step {self.fail_at} ({label})")


class Faulty:
    """Proxy that counts every mutating call of an adapter and fails the chosen one."""

    def __init__(self, name: str, target: Any, counter: Counter) -> None:
        self._name, self._target, self._counter = name, target, counter

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._target, attr)
        if attr not in MUTATING[self._name]:
            return value

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self._counter.tick(f"{self._name}.{attr}")
            return value(*args, **kwargs)

        return wrapped


@pytest.fixture
def faulty(
    host: Ns, berth_dirs: tuple[Path, Path]
) -> Iterator[Callable[[int | None], tuple[NetworkController, Counter]]]:
    state, run = berth_dirs
    made: list[tuple[NetworkController, Kernel]] = []

    def make(fail_at: int | None) -> tuple[NetworkController, Counter]:
        counter = Counter(fail_at)
        real = real_kernel(host.path)
        kernel = Kernel(
            **{
                name: Faulty(name, getattr(real, name), counter)
                if name in MUTATING
                else getattr(real, name)
                for name in ("netns", "netlink", "nft", "sysctl", "conntrack", "ports")
            },
            host_ns=host.path,
        )
        config = ControllerConfig(state_dir=str(state), exec_root=str(run), predefined=False)
        ctl = build_controller(config, kernel)
        made.append((ctl, real))
        return ctl, counter

    yield make
    for ctl, real in made:
        ctl.close()
        close_real_kernel(real)


def addresses(ns: Ns) -> list[tuple[str, str]]:
    """(device, address) pairs; flags such as 'tentative' change with time, so leave them out,
    and so do IPv6 link-local addresses: the kernel gives one to a bridge once it has had a
    port (carrier) and keeps it, whether or not that port is still there (not berth's)."""
    pairs = (line.split()[1:4:2] for line in ns.ip("-o", "addr").stdout.splitlines())
    return sorted((dev, address) for dev, address in pairs if not address.startswith("fe80:"))


def snapshot(host: Ns, state: Path, run: Path, sandboxes: list[Ns]) -> dict[str, Any]:
    def nft_elements() -> str:
        out = host.run("nft", "-j", "list", "table", "inet", "berth", check=False).stdout
        items = json.loads(out)["nftables"] if out else []
        return json.dumps([i for i in items if "set" in i or "map" in i], sort_keys=True)

    store = SqliteStore(str(state / "berth.db"))
    with store.read() as txn:
        rows = {kind: txn.list(kind) for kind in ("network", "endpoint", "sandbox", "ipam_pool")}
    store.close()
    netns_dir = run / "netns"
    return {
        "link_names": sorted(
            line.split(": ")[1].split("@")[0] for line in host.ip("-o", "link").stdout.splitlines()
        ),
        "addresses": addresses(host),
        # 'linkdown' follows the bridge's carrier (it had a port for a moment), and so does
        # the route of its link-local address: not leftovers
        "routes": "".join(
            line.replace(" linkdown", "") + "\n"
            for line in (host.ip("route").stdout + host.ip("-6", "route").stdout).splitlines()
            if not line.startswith("fe80::/64 ")
        ),
        "nft": nft_elements(),
        "rows": rows,
        "netns": sorted(os.listdir(netns_dir)) if netns_dir.is_dir() else [],
        "sandboxes": [
            (s.ip("-o", "link").stdout.count("\n"), addresses(s), s.ip("route").stdout)
            for s in sandboxes
        ],
    }


def front_spec(name: str = "front", n: int = 91) -> NetworkSpec:
    return NetworkSpec(
        name=name,
        enable_ipv6=True,
        ipam=IpamConfig(
            config=(
                IpamPoolConfig(subnet=ip_network(f"10.{n}.0.0/24")),
                IpamPoolConfig(subnet=ip_network(f"fd00:{n}::/64")),
            )
        ),
        options={"com.docker.network.bridge.enable_icc": "false"},
    )


def test_create_network_fails_cleanly_at_every_step(
    faulty: Callable[[int | None], tuple[NetworkController, Counter]],
    host: Ns,
    berth_dirs: tuple[Path, Path],
) -> None:
    state, run = berth_dirs
    warm, _ = faulty(None)  # berth's table exists from now on, as on any host berth ran on
    warm.create_network(front_spec("warmup"))
    warm.delete_network("warmup")
    before = snapshot(host, state, run, [])
    step = 1
    while True:
        ctl, counter = faulty(step)
        try:
            ctl.create_network(front_spec())
        except InjectedFault:
            assert snapshot(host, state, run, []) == before, f"leftovers after {counter.steps}"
            step += 1
            continue
        break
    assert step > 5, "the operation should have several kernel steps"
    assert ctl.network("front").pools[0].subnet == ip_network("10.91.0.0/24")


def test_connect_fails_cleanly_at_every_step(
    faulty: Callable[[int | None], tuple[NetworkController, Counter]],
    host: Ns,
    berth_dirs: tuple[Path, Path],
) -> None:
    state, run = berth_dirs
    setup, _ = faulty(None)
    setup.create_network(front_spec())
    first = setup.create_sandbox(SandboxSpec(name="first"))
    setup.connect("front", "first", EndpointSpec(ports=parse_port_spec("9000:90")))
    sandbox = setup.create_sandbox(SandboxSpec(name="web"))
    sandboxes = [Ns("first", first.netns_path), Ns("web", sandbox.netns_path)]
    before = snapshot(host, state, run, sandboxes)
    spec = EndpointSpec(
        ports=(*parse_port_spec("8080:80"), *parse_port_spec("5353:53/udp")), aliases=("www",)
    )
    step = 1
    while True:
        ctl, counter = faulty(step)
        try:
            ctl.connect("front", "web", spec)
        except InjectedFault:
            assert snapshot(host, state, run, sandboxes) == before, (
                f"leftovers after {counter.steps}"
            )
            step += 1
            continue
        break
    assert step > 5
    endpoint = ctl.endpoint("web")
    assert str(endpoint.ipv4) == "10.91.0.3/24"
    assert len(endpoint.published) == 4  # tcp and udp, on 0.0.0.0 and ::


class CommitFails:
    """A store whose next write transaction fails at commit, after every kernel step ran."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._store, attr)

    def write(self) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def failing() -> Iterator[Any]:
            with self._store.write() as txn:
                yield txn
                raise InjectedFault("injected fault at commit")

        return failing()


def test_a_failed_commit_undoes_the_kernel_steps(
    faulty: Callable[[int | None], tuple[NetworkController, Counter]],
    host: Ns,
    berth_dirs: tuple[Path, Path],
) -> None:
    state, run = berth_dirs
    setup, _ = faulty(None)
    setup.create_network(front_spec("warmup", 92))
    sandbox = setup.create_sandbox(SandboxSpec(name="web"))
    sandboxes = [Ns("web", sandbox.netns_path)]
    before = snapshot(host, state, run, sandboxes)
    ctl, _ = faulty(None)
    ctl._store = CommitFails(ctl._store)  # type: ignore[assignment]
    with pytest.raises(InjectedFault):
        ctl.create_network(front_spec())
    with pytest.raises(InjectedFault):
        ctl.connect("warmup", "web", EndpointSpec(ports=parse_port_spec("8080:80")))
    assert snapshot(host, state, run, sandboxes) == before


def test_disconnect_leaves_nothing_once_its_veth_is_deleted(
    berth: NetworkController, host: Ns, berth_dirs: tuple[Path, Path]
) -> None:
    state, run = berth_dirs
    berth.create_network(front_spec())
    sandbox = berth.create_sandbox(SandboxSpec(name="web"))
    web = Ns("web", sandbox.netns_path)
    before = snapshot(host, state, run, [web])
    spec = EndpointSpec(ports=parse_port_spec("8080:80"))
    for _ in range(3):  # the same sandbox again at once: the names and address are free
        endpoint = berth.connect("front", "web", spec)
        assert str(endpoint.ipv4) == "10.91.0.2/24" and endpoint.ifname == "eth0"
        berth.disconnect("front", "web")
        # at once: no interface, address or route of the endpoint is left in the sandbox
        assert web.ip("link", "show", "eth0", check=False).returncode != 0
        assert (addresses(web), web.ip("route").stdout) == before["sandboxes"][0][1:]
    netlink = berth.kernel.netlink
    assert isinstance(netlink, PyrouteNetlink) and netlink.settle(10)
    after = snapshot(host, state, run, [web])
    assert after["rows"]["endpoint"] == []  # (the IPAM pool's cursor has moved on)
    assert {**after, "rows": None} == {**before, "rows": None}
    # and a connect made while older pairs were being deleted works
    berth.connect("front", "web", spec)
    assert netlink.settle(10)
    assert ping(web, "10.91.0.1")
