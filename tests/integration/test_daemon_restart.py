"""Restart reconciliation on the real kernel: after ``kill -9`` at any moment (here: berth
processes killed in the middle of connect, create network and create sandbox, and objects
injected as such a crash leaves them), a restart of berthd removes what berth left behind,
rebuilds what is missing from the store, and touches nothing that is not berth's."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from berth.controller.controller import NetworkController
from berth.kernel.netns import LinuxNetns
from berth.local import open_controller
from berth.model.endpoint import SandboxSpec
from berth.model.ids import new_id
from tests.integration.daemonenv import ROOT, Berthd, api, berthd_in, link_json, network_names
from tests.integration.netenv import Ns

# A berth process that dies (os._exit, as abrupt as kill -9) right after one kernel step of an
# operation, before the store commits: exactly what a crash at that moment leaves.
CRASH = """
import os, sys
from berth.kernel.netlink import PyrouteNetlink
from berth.kernel.netns import LinuxNetns
from berth.local import open_controller
from berth.model.endpoint import SandboxSpec
from berth.model.network import NetworkSpec

state, run, step = sys.argv[1:4]
owner = {"add_veth": PyrouteNetlink, "add_bridge": PyrouteNetlink, "create": LinuxNetns}[step]
original = getattr(owner, step)

def crash_after(self, *args, **kwargs):
    original(self, *args, **kwargs)
    os._exit(9)

setattr(owner, step, crash_after)
ctl = open_controller(state_dir=state, exec_root=run, predefined=False)
if step == "add_veth":
    ctl.connect("front", "c1")
elif step == "add_bridge":
    ctl.create_network(NetworkSpec(name="back"))
else:
    ctl.create_sandbox(SandboxSpec(name="c2"))
"""


@pytest.fixture
def daemon(host: Ns) -> Iterator[Berthd]:
    with berthd_in(host) as berthd:
        yield berthd


@contextmanager
def controller(berthd: Berthd, host: Ns) -> Iterator[NetworkController]:
    """berth's state as a library sees it (berthd stopped)."""
    ctl = open_controller(
        state_dir=str(berthd.data), exec_root=str(berthd.run_dir), host_ns=host.path,
        predefined=False,
    )  # fmt: skip
    try:
        yield ctl
    finally:
        ctl.close()


def crash_during(berthd: Berthd, host: Ns, step: str) -> None:
    result = host.run(
        "env", f"PYTHONPATH={ROOT}", sys.executable, "-c", CRASH,
        str(berthd.data), str(berthd.run_dir), step, check=False,
    )  # fmt: skip
    assert result.returncode == 9, result.stderr


def tagged_links(host: Ns) -> dict[str, str]:
    """name -> alias of every link whose alias is berth's tag."""
    links = json.loads(host.ip("-j", "-d", "link", "show").stdout)
    return {
        link["ifname"]: link["ifalias"]
        for link in links
        if str(link.get("ifalias", "")).startswith("berth:")
    }


def test_crashes_mid_operation_leave_no_orphan_after_a_restart(daemon: Berthd, host: Ns) -> None:
    daemon.start()
    assert api(daemon.sock, "POST", "/networks/create", {"Name": "front"}).status == 201
    assert daemon.stop() == 0
    with controller(daemon, host) as ctl:
        ctl.create_sandbox(SandboxSpec(name="c1"))
        wanted = set(tagged_links(host))
        networks_before = {n.name for n in ctl.networks()}
    for step in ("add_veth", "add_bridge", "create"):
        crash_during(daemon, host, step)
    leftovers = set(tagged_links(host)) - wanted
    assert len(leftovers) == 2  # the veth of the connect, the bridge of the create
    assert len(LinuxNetns().list(str(daemon.run_dir / "netns"))) == 2  # c1's and c2's
    daemon.start()
    assert set(tagged_links(host)) == wanted
    with controller(daemon, host) as ctl:
        paths = [s.netns_path for s in ctl.sandboxes()]
    assert LinuxNetns().list(str(daemon.run_dir / "netns")) == paths
    log = daemon.log()
    assert log.count("removed orphan") == 3, log
    assert network_names(daemon.sock) == networks_before
    assert daemon.stop() == 0
    with controller(daemon, host) as ctl:
        assert [s.name for s in ctl.sandboxes()] == ["c1"]
        assert ctl.endpoints("front") == []
        ctl.connect("front", "c1")  # the interrupted connect can simply be made again
        ctl.delete_sandbox("c1")


def test_kill_9_then_restart_repairs_and_touches_only_berths_objects(
    daemon: Berthd, host: Ns
) -> None:
    daemon.start()
    created = api(daemon.sock, "POST", "/networks/create", {"Name": "front"}).body
    bridge = f"br-{created['Id'][:12]}"
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    # what berth left: tagged links and a namespace file the store never heard of
    host.ip("link", "add", "vborphan0", "type", "veth", "peer", "name", "vborphan1")
    host.ip("link", "set", "vborphan0", "alias", f"berth:{new_id()}")
    host.ip("link", "add", "br-orphan", "type", "bridge")
    host.ip("link", "set", "br-orphan", "alias", f"berth:{new_id()}")
    stray = daemon.run_dir / "netns" / new_id()
    LinuxNetns().create(str(stray))
    # damage to berth's own state: its nft table and a bridge removed by hand
    host.run("nft", "delete", "table", "inet", "berth")
    host.ip("link", "del", bridge)
    # and things that are not berth's
    host.ip("link", "add", "usr0", "type", "bridge")
    host.ip("link", "add", "usr1", "type", "bridge")
    host.ip("link", "set", "usr1", "alias", "berthday")
    host.ip("link", "add", "usr2", "type", "veth", "peer", "name", "usr3")
    host.ip("link", "set", "usr2", "alias", "docker:1234")
    host.nft("add table inet usertable\nadd chain inet usertable c\n")
    other = daemon.run_dir / "other-ns"
    LinuxNetns().create(str(other))
    try:
        assert Path(daemon.sock).exists() and daemon.pidfile.exists()  # stale after kill -9
        daemon.start()
        assert api(daemon.sock, "GET", "/networks/front").status == 200
        for gone in ("vborphan0", "vborphan1", "br-orphan"):
            assert link_json(host, gone) is None, gone
        assert not stray.exists()
        for kept in ("usr0", "usr1", "usr2", "usr3"):
            assert link_json(host, kept) is not None, kept
        assert "table inet usertable" in host.run("nft", "list", "tables").stdout
        assert LinuxNetns().exists(str(other))
        rebuilt = link_json(host, bridge)
        assert rebuilt is not None and rebuilt["ifalias"] == f"berth:{created['Id']}"
        table = host.run("nft", "list", "table", "inet", "berth").stdout
        assert f'"{bridge}"' in table and '"berth0"' in table
        log = daemon.log()
        assert "removing stale socket" in log
        assert f"re-created bridge {bridge}" in log and "removed orphan veth vborphan0" in log
        assert daemon.stop() == 0
    finally:
        LinuxNetns().remove(str(other))
        host.nft("delete table inet usertable\n", check=False)


def test_lost_namespaces_are_released_and_lost_veths_rebuilt(daemon: Berthd, host: Ns) -> None:
    daemon.start()
    assert daemon.stop() == 0
    with controller(daemon, host) as ctl:
        for name in ("a", "b"):
            ctl.create_sandbox(SandboxSpec(name=name))
            ctl.connect("bridge", name)
        a, b = ctl.sandbox("a"), ctl.sandbox("b")
        b_endpoint = ctl.endpoints("bridge")[-1]
        assert b_endpoint.sandbox_id == b.id
    LinuxNetns().remove(a.netns_path)  # a reboot empties /run the same way
    host.ip("link", "del", f"vb{b_endpoint.id[:12]}")  # takes b's eth0 and route with it
    daemon.start()
    assert daemon.stop() == 0
    log = daemon.log()
    assert "released it and its 1 endpoint(s)" in log
    assert "re-created its veth" in log and "restored its default route" in log
    with controller(daemon, host) as ctl:
        assert [s.name for s in ctl.sandboxes()] == ["b"]
        assert [e.id for e in ctl.endpoints("bridge")] == [b_endpoint.id]
        gateway = str(b_endpoint.gateway4)
        b_ns = Ns(name="b", path=b.netns_path)
        address = b_ns.ip("-o", "-4", "addr", "show", "dev", "eth0").stdout
        assert str(b_endpoint.ipv4) in address
        assert f"default via {gateway}" in b_ns.ip("route").stdout
        assert b_ns.run("ping", "-c", "1", "-W", "2", gateway, check=False).returncode == 0
        ctl.delete_sandbox("b")
