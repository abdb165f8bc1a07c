"""What keeps a connect cheap with hundreds of endpoints: IPv6 off on interfaces that have no
IPv6 address (no autoconfiguration traffic for the bridge to flood), name lookups by index, and
no registry reload after an operation that failed before changing anything."""

from __future__ import annotations

import errno
from ipaddress import ip_network
from typing import NoReturn

import pytest

from berth import EndpointSpec, IpamConfig, IpamPoolConfig, NetworkSpec, SandboxSpec
from berth.controller import registry as registry_module
from berth.controller.controller import NetworkController
from berth.controller.registry import Registry
from berth.kernel.fake import FakeKernel, fake_kernel, kernel_error
from berth.model.endpoint import Sandbox
from berth.model.errors import AmbiguousReference, KernelError, NameInUse, SandboxNotFound
from berth.model.network import Network
from berth.store.memory import MemoryStore
from tests.unit.test_controller import make, spec

HOST = None
DISABLE = "net/ipv6/conf/{}/disable_ipv6"


@pytest.fixture
def env() -> tuple[NetworkController, FakeKernel]:
    kernel, fake = fake_kernel()
    return make(kernel), fake


def dual_stack() -> NetworkSpec:
    pools = (
        IpamPoolConfig(subnet=ip_network("10.7.0.0/24")),
        IpamPoolConfig(subnet=ip_network("fd00:7::/64")),
    )
    return NetworkSpec(name="dual", enable_ipv6=True, ipam=IpamConfig(config=pools))


def test_interfaces_without_an_ipv6_address_get_no_ipv6(
    env: tuple[NetworkController, FakeKernel],
) -> None:
    ctl, fake = env
    ctl.create_network(spec())
    ctl.create_network(dual_stack())
    sandbox = ctl.create_sandbox(SandboxSpec(name="web"))
    ns = sandbox.netns_path
    assert fake.read(ns, DISABLE.format("default")) == "1"  # new interfaces start without
    assert fake.read(ns, DISABLE.format("lo")) == "0"  # loopback keeps ::1
    v4 = ctl.connect("front", "web")
    v6 = ctl.connect("dual", "web")
    assert fake.read(HOST, DISABLE.format(f"vb{v4.id[:12]}")) == "1"  # bridge ports: none
    assert fake.read(HOST, DISABLE.format(f"vb{v6.id[:12]}")) == "1"
    assert v6.ifname is not None
    assert fake.read(ns, DISABLE.format(v6.ifname)) == "0"  # the IPv6 endpoint turns it on
    ctl.create_sandbox(SandboxSpec(name="h", host_mode=True))
    assert fake.read(HOST, DISABLE.format("default")) == "0"  # the host's own stays as it is


def test_a_kernel_without_ipv6_is_fine(env: tuple[NetworkController, FakeKernel]) -> None:
    ctl, fake = env
    ctl.create_network(spec())
    missing = kernel_error(errno.ENOENT, "no /proc/sys/net/ipv6")
    fake.fail_next("write", missing)
    ctl.create_sandbox(SandboxSpec(name="web"))
    fake.fail_next("write", missing)
    assert ctl.connect("front", "web").ifname == "eth0"


def test_a_port_that_keeps_ipv6_is_not_left_behind(
    env: tuple[NetworkController, FakeKernel],
) -> None:
    ctl, fake = env
    ctl.create_network(spec())
    ctl.create_sandbox(SandboxSpec(name="web"))
    before = fake.snapshot()
    fake.fail_next("write")  # the port's disable_ipv6, right after the pair is made
    with pytest.raises(KernelError):
        ctl.connect("front", "web")
    assert fake.snapshot() == before
    assert ctl.endpoints() == []
    ctl.connect("front", "web")


def test_a_failed_check_does_not_reload_the_registry(
    env: tuple[NetworkController, FakeKernel], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctl, fake = env
    ctl.create_network(spec())
    ctl.create_sandbox(SandboxSpec(name="web"))
    ctl.connect("front", "web")
    loads: list[str] = []
    decode = registry_module.sandbox_from_doc
    monkeypatch.setattr(
        registry_module, "sandbox_from_doc", lambda doc: loads.append(doc["id"]) or decode(doc)
    )
    with pytest.raises(NameInUse):
        ctl.create_sandbox(SandboxSpec(name="web"))
    with pytest.raises(SandboxNotFound):
        ctl.delete_sandbox("gone")  # what a container start does first
    assert ctl.sandbox("web").name == "web"
    assert loads == []  # no reload: nothing had changed
    ctl.create_sandbox(SandboxSpec(name="db"))
    fake.fail_next("add_veth")  # after the endpoint was saved: the live copy is stale
    with pytest.raises(KernelError):
        ctl.connect("front", "db")
    assert ctl.sandbox("db").endpoints == ()
    assert len(loads) == 2  # reloaded (web and db) from the rolled-back store
    assert [e.name for e in ctl.endpoints()] == ["web"]


def test_two_controllers_still_see_each_others_names() -> None:
    kernel, _ = fake_kernel()
    store = MemoryStore()
    first, second = make(kernel, store), make(kernel, store)
    first.create_network(spec())
    second.create_sandbox(SandboxSpec(name="a"))
    first.delete_sandbox("a")
    second.create_sandbox(SandboxSpec(name="a"))  # the name is free again
    assert first.sandbox("a").name == "a"
    with pytest.raises(NameInUse):
        first.create_network(spec())


class _Txn:
    """A store transaction that only records (the registry writes through it)."""

    generation = 0

    def put(self, kind: str, key: str, doc: object) -> None: ...

    def delete(self, kind: str, key: str) -> bool:
        return True


def network(net_id: str, name: str) -> Network:
    return Network(
        id=net_id,
        name=name,
        driver="bridge",
        scope="local",
        created="",
        ipam=IpamConfig(),
        pools=(),
    )


def test_registry_name_index_follows_saves_renames_and_drops() -> None:
    reg, txn = Registry(), _Txn()
    a, b = network("aa" + "1" * 62, "one"), network("ab" + "2" * 62, "two")
    reg.save_network(txn, a)
    reg.save_network(txn, b)
    assert reg.changed
    assert reg.network("one") is a and reg.network("ab") is b and reg.network(a.id) is a
    renamed = network(a.id, "uno")
    reg.save_network(txn, renamed)
    assert reg.network("uno") is renamed and reg.networks_named("one") == []
    reg.save_network(txn, network("ac" + "3" * 62, "two"))
    with pytest.raises(AmbiguousReference):  # a store that holds a duplicate name
        reg.network("two")
    reg.drop_network(txn, b)
    assert reg.network("two").id.startswith("ac")
    with pytest.raises(AmbiguousReference):
        reg.network("a")  # prefixes still resolve, and still refuse to guess
    reg.save_sandbox(txn, _sandbox("s1", "web"))
    assert reg.sandbox("web").id == "s1"
    reg.drop_sandbox(txn, reg.sandbox("web"))
    with pytest.raises(SandboxNotFound):
        reg.sandbox("web")


def _sandbox(sandbox_id: str, name: str) -> Sandbox:
    return Sandbox(id=sandbox_id, name=name, netns_path=f"/run/netns/{sandbox_id}", hostname=name)


class _NoScan(dict[str, object]):
    """A registry table that fails the test when something walks through all of it."""

    def values(self) -> NoReturn:  # type: ignore[override]
        raise AssertionError("scanned every item")

    def items(self) -> NoReturn:  # type: ignore[override]
        raise AssertionError("scanned every item")


def test_connect_by_names_scans_no_table(env: tuple[NetworkController, FakeKernel]) -> None:
    ctl, _ = env
    ctl.create_network(spec(subnet="10.1.0.0/16"))
    for i in range(50):
        ctl.create_sandbox(SandboxSpec(name=f"s{i}"))
    reg = ctl._reg  # the tables themselves are what is checked
    reg.sandboxes = _NoScan(reg.sandboxes)  # type: ignore[assignment]
    reg.networks = _NoScan(reg.networks)  # type: ignore[assignment]
    ctl.connect("front", "s49", EndpointSpec())
    assert ctl.sandbox("s49").endpoints
