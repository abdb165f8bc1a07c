"""The DNS server following the controller (events from worker threads mark the table stale on
the loop before the caller resumes; the table is rebuilt once, lazily, when asked) and its place
in berthd's wiring, without root: the sandboxes here have no namespace, so the server cannot
listen in them and says so; the table still follows."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import sys
from dataclasses import replace
from ipaddress import ip_address

import pytest

from berth.daemon.config import DaemonConfig
from berth.daemon.wiring import Tee, dns_settings, sandbox_dns
from berth.dns import binding
from berth.dns.binding import Binder, redirect_script, remove_script
from berth.dns.names import Records, resolve
from berth.dns.nfthelper import NftHelper, serve
from berth.dns.server import DnsServer, DnsSettings, SandboxDns
from berth.events import Event
from berth.model import netlabels as nl
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.errors import KernelError, NotFound, SandboxNotFound
from berth.model.network import Network
from tests.unit.test_dns_names import World, network


class State:
    """A controller's read side over a World."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.reads = 0
        self.lookups = 0

    def networks(self) -> list:  # type: ignore[type-arg]
        self.reads += 1
        return list(self.world.networks)

    def endpoints(self) -> list:  # type: ignore[type-arg]
        return list(self.world.endpoints)

    def sandboxes(self) -> list:  # type: ignore[type-arg]
        return list(self.world.sandboxes.values())

    def network(self, ref: str) -> Network:
        self.lookups += 1
        return next(n for n in self.world.networks if ref in (n.id, n.name))

    def endpoint(self, ref: str) -> Endpoint:
        self.lookups += 1
        return next(e for e in self.world.endpoints if e.id == ref)

    def sandbox(self, ref: str) -> Sandbox:
        self.lookups += 1
        for sandbox in self.world.sandboxes.values():
            if ref in (sandbox.id, sandbox.name):
                return sandbox
        raise SandboxNotFound(ref)


async def answer(server: DnsServer, world: World, asker: str, name: str) -> object:
    table = await server.current_table()
    view = table.view(world.sandboxes[asker].id)
    assert view is not None
    return resolve(table.scope(view), name, 1)


async def test_a_change_is_seen_by_the_first_question_after_the_controller_call_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    server = DnsServer(loop, DnsSettings(host_resolv_conf="/nonexistent"), binder=Binder())
    world = World()
    front = world.add_network(network("front", "10.20.0.0/24"))
    world.join("web", front, "10.20.0.2")
    state = State(world)
    with caplog.at_level(logging.WARNING):
        await server.start(state)
    assert "cannot listen in sandbox" in caplog.text  # no namespace here; the table follows
    assert server.listening == {} and not server.stale

    def connect_in_a_worker_thread() -> None:
        api = world.join("api", front, "10.20.0.3")
        server.publish(Event("network", "connect", front.id, {"container": api.sandbox_id}))

    reads = state.reads
    await loop.run_in_executor(None, connect_in_a_worker_thread)
    assert server.stale and state.reads == reads  # nothing rebuilt on the caller's path
    assert await answer(server, world, "web", "api") == Records((ip_address("10.20.0.3"),))
    assert state.reads == reads + 1 and not server.stale
    await server.close()
    server.publish(Event("network", "disconnect", front.id))  # after close: ignored


async def test_a_burst_of_changes_costs_one_rebuild() -> None:
    loop = asyncio.get_running_loop()
    server = DnsServer(loop, DnsSettings(host_resolv_conf="/nonexistent"), binder=Binder())
    world = World()
    front = world.add_network(network("front", "10.20.0.0/24"))
    state = State(world)
    await server.start(state)
    rebuilds = server.rebuilds
    for i in range(20):
        joined = world.join(f"c{i}", front, f"10.20.0.{i + 2}")
        server.publish(Event("network", "connect", front.id, {"container": joined.sandbox_id}))
    # questions asked together share the rebuild
    found = await asyncio.gather(*(answer(server, world, "c0", f"c{i}") for i in range(20)))
    assert found == [Records((ip_address(f"10.20.0.{i + 2}"),)) for i in range(20)]
    assert server.rebuilds == rebuilds + 1
    await server.close()


class RecordingBinder(Binder):
    """Opens unbound sockets (no namespace needed) and records what it did."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def open(self, netns: str) -> tuple[socket.socket, socket.socket]:
        self.calls.append(("open", netns))
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket()

    def release(self, netns: str) -> None:
        self.calls.append(("release", netns))


def leave(world: World, endpoint: Endpoint) -> None:
    world.endpoints.remove(endpoint)
    for name, sandbox in world.sandboxes.items():
        if sandbox.id == endpoint.sandbox_id:
            refs = tuple(ref for ref in sandbox.endpoints if ref != endpoint.id)
            world.sandboxes[name] = replace(sandbox, endpoints=refs)


async def test_a_sandbox_keeps_its_listener_while_it_is_on_a_network() -> None:
    """Like Docker's resolver: started on the first user-defined network, kept while the
    sandbox is on any network (leaving and joining again opens nothing), closed with the
    rule removed when it leaves its last one, closed without touching the namespace when
    the sandbox is gone."""
    loop = asyncio.get_running_loop()
    binder = RecordingBinder()
    server = DnsServer(loop, DnsSettings(host_resolv_conf="/nonexistent"), binder=binder)
    world = World()
    bridge = world.add_network(
        network("bridge", "172.30.0.0/24", options={nl.DEFAULT_BRIDGE: "true"})
    )
    front = world.add_network(network("front", "10.20.0.0/24"))
    await server.start(State(world))

    def event(action: str, endpoint: Endpoint) -> None:
        server.publish(
            Event("network", action, endpoint.network_id, {"container": endpoint.sandbox_id})
        )

    on_bridge = world.join("web", bridge, "172.30.0.2")
    event("connect", on_bridge)
    await asyncio.sleep(0)
    assert server.listening == {} and binder.calls == []  # the default bridge has no DNS
    on_front = world.join("web", front, "10.20.0.2")
    event("connect", on_front)
    netns = world.sandboxes["web"].netns_path
    await asyncio.sleep(0)
    assert server.listening == {on_front.sandbox_id: netns}
    for _ in range(3):
        leave(world, on_front)
        event("disconnect", on_front)
        world.join("web", front, "10.20.0.2")
        event("connect", on_front)
    await asyncio.sleep(0)
    assert binder.calls == [("open", netns)] and len(server.listening) == 1
    leave(world, world.endpoints[-1])
    event("disconnect", on_front)
    leave(world, on_bridge)
    event("disconnect", on_bridge)
    await asyncio.sleep(0)
    assert server.listening == {} and binder.calls[-1] == ("release", netns)
    on_front = world.join("web", front, "10.20.0.2")
    event("connect", on_front)
    del world.sandboxes["web"]  # deleted: its namespace is gone with it
    event("disconnect", on_front)
    await asyncio.sleep(0)
    assert server.listening == {} and binder.calls[-1] == ("open", netns)  # no release
    assert binder.calls.count(("release", netns)) == 1
    await server.close()


async def test_other_events_do_not_rebuild() -> None:
    loop = asyncio.get_running_loop()
    server = DnsServer(loop, DnsSettings(host_resolv_conf="/nonexistent"), binder=Binder())
    state = State(World())
    await server.start(state)
    reads = state.reads
    server.publish(Event("network", "create", "n"))
    server.publish(Event("container", "start", "c"))
    await server.current_table()
    assert state.reads == reads and not server.stale
    server.publish(Event("network", "destroy", "n"))
    assert server.stale and state.reads == reads and state.lookups == 0
    await server.current_table()
    assert state.reads == reads + 1
    await server.close()


async def test_a_failing_rebuild_does_not_fail_the_publisher_nor_the_question(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(State):
        def networks(self) -> list:  # type: ignore[type-arg]
            raise RuntimeError("store is gone")

        def sandbox(self, ref: str) -> Sandbox:
            raise RuntimeError("store is gone")

    server = DnsServer(asyncio.get_running_loop(), DnsSettings(host_resolv_conf="/nonexistent"))
    server._controller = Broken(World())
    with caplog.at_level(logging.ERROR):
        server.publish(Event("network", "connect", "n", {"container": "x"}))
        assert "store is gone" in caplog.text
        caplog.clear()
        server._generation += 1  # a change the publisher could not follow
        table = await server.current_table()  # the previous table, and a log line
    assert table is server.table and "store is gone" in caplog.text
    await server.close()


def test_configure_keeps_the_server_and_changes_its_upstreams() -> None:
    server = DnsServer(asyncio.new_event_loop(), DnsSettings(host_resolv_conf="/a"))
    settings = DnsSettings(servers=(ip_address("10.0.0.1"),), host_resolv_conf="/b")
    server.configure(settings)
    assert server.settings is settings and server._host.path == "/b"


# --- wiring -----------------------------------------------------------------------------------


def test_dns_settings_come_from_the_daemon_config() -> None:
    config = DaemonConfig(
        dns=(ip_address("192.0.2.53"),), dns_opts=("ndots:2",), host_resolv_conf="/srv/r.conf"
    )
    assert dns_settings(config) == DnsSettings(
        (ip_address("192.0.2.53"),), ("ndots:2",), "/srv/r.conf"
    )
    assert DaemonConfig().host_resolv_conf == "/etc/resolv.conf"


def test_sandbox_dns_is_the_containers_own() -> None:
    class Config:
        dns = ("10.0.0.1",)
        dns_options = ("ndots:3",)

    class Container:
        config = Config()

    class Runtime:
        def get(self, ref: str) -> Container:
            if ref != "c1":
                raise NotFound(f"no container {ref}")
            return Container()

    lookup = sandbox_dns(Runtime())  # type: ignore[arg-type]
    assert lookup("c1") == SandboxDns(("10.0.0.1",), ("ndots:3",))
    with pytest.raises(NotFound):
        lookup("other")  # the server falls back to the daemon's settings


def test_tee_hands_events_to_every_sink_in_order() -> None:
    seen: list[str] = []

    class Sink:
        def __init__(self, name: str) -> None:
            self.name = name

        def publish(self, event: Event) -> None:
            seen.append(f"{self.name}:{event.action}")

    Tee(Sink("dns"), Sink("bus")).publish(Event("network", "connect", "n"))
    assert seen == ["dns:connect", "bus:connect"]


# --- where 127.0.0.11:53 is -------------------------------------------------------------------


def test_the_redirect_rule() -> None:
    rules = (
        "add chain ip berth-dns output { type nat hook output priority -100; policy accept; }\n"
        "add rule ip berth-dns output ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:40001\n"
        "add rule ip berth-dns output ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:40002\n"
    )
    new = redirect_script("127.0.0.11", 53, 40001, 40002, new=True)
    assert new == "create table ip berth-dns\n" + rules
    replace = redirect_script("127.0.0.11", 53, 40001, 40002, new=False)
    assert replace == (
        "table ip berth-dns {}\ndelete table ip berth-dns\nadd table ip berth-dns\n" + rules
    )


class FakeSocket:
    def __init__(self, port: int) -> None:
        self.port = port
        self.closed = False

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.11", self.port or 40000)

    def close(self) -> None:
        self.closed = True


def test_binder_redirects_or_falls_back_to_port_53(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    opened: list[FakeSocket] = []

    def fake_open(netns: str, address: str, port: int) -> tuple[FakeSocket, FakeSocket]:
        pair = FakeSocket(port), FakeSocket(port)
        opened.extend(pair)
        return pair

    monkeypatch.setattr(binding, "open_sockets", fake_open)
    scripts: list[tuple[str, str]] = []
    binder = Binder(nft=lambda netns, script: scripts.append((netns, script)))
    udp, _tcp = binder.open("/ns/a")
    assert udp.getsockname()[1] == 40000 and "dnat to 127.0.0.11:40000" in scripts[0][1]
    assert scripts[0][1].startswith("create table")
    binder.release("/ns/a")
    assert scripts[-1] == ("/ns/a", remove_script())

    def exists(netns: str, script: str) -> None:
        if script.startswith("create table"):
            raise KernelError("nft script failed: File exists")
        scripts.append((netns, script))

    Binder(nft=exists).open("/ns/restarted")  # a table left by the previous berthd: replaced
    assert scripts[-1][1].startswith("table ip berth-dns {}\ndelete table")

    def broken(netns: str, script: str) -> None:
        raise KernelError("nft script failed")

    opened.clear()
    binder = Binder(nft=broken)
    with caplog.at_level(logging.WARNING):
        udp, _tcp = binder.open("/ns/b")
        binder.open("/ns/c")
    assert udp.getsockname()[1] == 53  # bound to port 53 itself
    assert opened[0].closed and opened[1].closed  # the ephemeral pair was given up
    assert caplog.text.count("cannot redirect port 53") == 1


ECHO_HELPER = """
import json, sys
for line in sys.stdin:
    request = json.loads(line)
    if request["script"] == "die":
        sys.exit(3)
    reply = {"error": "bad"} if request["script"] == "bad" else {"ok": "1"}
    print(json.dumps(reply), flush=True)
"""


def test_the_nft_helper_process() -> None:
    helper = NftHelper([sys.executable, "-c", ECHO_HELPER])
    try:
        helper.run("/ns/a", "table ip t {}")
        with pytest.raises(KernelError, match="nft in /ns/b: bad"):
            helper.run("/ns/b", "bad")
        with pytest.raises(KernelError, match="nft helper process"):
            helper.run("/ns/c", "die")  # dies, is started again, dies again
        helper.run("/ns/d", "table ip t {}")  # and a new one serves the next request
    finally:
        helper.close()


def test_the_helper_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    def fake_run(netns: str, script: str) -> None:
        if script == "bad":
            raise KernelError("nft script failed: syntax")
        calls.append((netns, script))

    monkeypatch.setattr(binding, "run_nft", fake_run)
    requests = io.StringIO(
        json.dumps({"netns": "/a", "script": "ok"})
        + "\n"
        + json.dumps({"netns": "/b", "script": "bad"})
        + "\n"
    )
    replies = io.StringIO()
    serve(requests, replies)
    assert [json.loads(line) for line in replies.getvalue().splitlines()] == [
        {"ok": "1"},
        {"error": "nft script failed: syntax"},
    ]
    assert calls == [("/a", "ok")]
