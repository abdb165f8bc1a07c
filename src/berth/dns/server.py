"""berthd's embedded DNS server: one resolver on the daemon's event loop answering every sandbox
on a user-defined network at 127.0.0.11:53 (UDP and TCP), with no process per sandbox.

Keeping up with the controller: ``publish`` is an ``EventSink`` for the controller's network
events. It runs in the thread that made the change, right after the change committed and before the
controller call returns to its caller, and does only what cannot wait: it opens the listening
sockets of a sandbox that joined its first DNS-enabled network (``berth.dns.binding``: created
inside its namespace, never on the event loop, on ports a nat rule in the sandbox redirects
127.0.0.11:53 to), closes those of one that left its last network or was deleted (like Docker's, a
sandbox's resolver stays while it is on any network, so leaving and joining again costs no sockets
and no nft transaction), and marks the name table stale. The listeners and the staleness reach the
loop with ``call_soon_threadsafe``, which runs them before the loop resumes whoever awaited the
controller call. The table itself is rebuilt lazily, in a worker thread, when a question arrives
while it is stale: a burst of connects costs one rebuild, and a connect answered by the API never
waits for one (with hundreds of sandboxes a rebuild takes milliseconds). A question asked while the
table is stale waits for the rebuild, so a container that has just joined a network, or a ``network
connect`` that has just returned, always sees the names as they are now.

Answering: local names from the table (``berth.dns.names``), encoded by ``berth.dns.wire``; UDP
answers are cached per view (the networks a sandbox is on) keyed by the query's bytes after its
ID, and the cache starts over on every change. Everything else is forwarded
(``berth.dns.forward``); when no upstream answers the client gets SERVFAIL, the
``no_answer`` counter grows and a warning is logged (at most one per sandbox every 10 s).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Protocol

from dnslib import DNSError

from berth.dns.binding import Binder
from berth.dns.forward import Forwarder, Silent, Upstream, choose_upstreams
from berth.dns.listener import Listener
from berth.dns.names import (
    AAAA,
    EMPTY_VIEW,
    A,
    Forward,
    NameTable,
    Records,
    TableBuilder,
    dns_enabled,
    resolve,
)
from berth.dns.nfthelper import NftHelper
from berth.dns.resolvconf import DEFAULT_PATH, HostNameservers, is_address, ndots_set
from berth.dns.wire import (
    Query,
    Rejected,
    error_answer,
    fit_udp,
    local_answer,
    pack_within,
    parse_query,
    reply_to,
)
from berth.events import Event
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.errors import BerthError, NotFound
from berth.model.network import Network

log = logging.getLogger(__name__)

CACHE_LIMIT = 4096  # answers per view; a client asking random names cannot grow it further
WARN_EVERY_S = 10.0
SERVFAIL, REFUSED = 2, 5
CLASS_IN = 1
IPAddress = IPv4Address | IPv6Address
Opened = dict[str, tuple[str, socket.socket, socket.socket]]  # sandbox id -> netns, udp, tcp


class State(Protocol):
    """What the server reads from the controller (``NetworkController`` has these)."""

    def networks(self) -> Sequence[Network]: ...
    def endpoints(self) -> Sequence[Endpoint]: ...
    def sandboxes(self) -> Sequence[Sandbox]: ...
    def network(self, ref: str) -> Network: ...
    def endpoint(self, ref: str) -> Endpoint: ...
    def sandbox(self, ref: str) -> Sandbox: ...


@dataclass(frozen=True)
class DnsSettings:
    """The daemon's part: ``dns`` servers and ``dns-opts`` (defaults for containers that set
    none) and the host resolv.conf whose nameservers are the last resort."""

    servers: tuple[IPAddress, ...] = ()
    options: tuple[str, ...] = ()
    host_resolv_conf: str = DEFAULT_PATH


@dataclass(frozen=True)
class SandboxDns:
    """A sandbox's own part (its container's ``--dns`` and ``--dns-option``)."""

    servers: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass
class Stats:
    queries: int = 0  # cache hits of open listeners are counted by them (see ``snapshot``)
    cache_hits: int = 0
    local: int = 0
    forwarded: int = 0
    no_answer: int = 0  # SERVFAIL because no upstream answered
    no_upstream: int = 0  # SERVFAIL because there was no upstream to ask
    refused: int = 0


class DnsServer:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        settings: DnsSettings,
        *,
        binder: Binder | None = None,
        sandbox_dns: Callable[[str], SandboxDns] | None = None,
        forwarder: Forwarder | None = None,
    ) -> None:
        self._helper = None if binder is not None else NftHelper()
        self._warming: asyncio.Future[None] | None = None
        self.binder = binder or Binder(nft=self._helper.run if self._helper else None)
        self.settings = settings
        self.sandbox_dns = sandbox_dns or (lambda _sandbox_id: SandboxDns())
        self.table = NameTable()
        self._builder = TableBuilder()
        self.stats = Stats()
        self._loop = loop
        self._forwarder = forwarder or Forwarder()
        self._host = HostNameservers(settings.host_resolv_conf)
        self._rng = random.Random()
        self._controller: State | None = None
        self._lock = threading.Lock()
        self._open: dict[str, str] = {}  # sandbox id -> netns path, as handed to the loop
        self._listeners: dict[str, Listener] = {}  # the loop's
        self._caches: dict[tuple[str, ...], dict[bytes, bytes]] = {}
        self._warned: dict[str, float] = {}
        self._closed = False
        self._generation = 0  # changes seen (publish, under _lock)
        self._table_generation = 0  # the changes ``table`` reflects (the loop's)
        self._rebuild: asyncio.Task[None] | None = None
        self.rebuilds = 0

    # --- keeping up with the controller (any thread) ---------------------------------------

    async def start(self, controller: State) -> None:
        """Serve every sandbox the controller has now, and follow its events from now on."""
        self._controller = controller
        if self._helper is not None:  # warm, so that the first sandbox does not wait for it
            self._warming = self._loop.run_in_executor(None, self._helper.start)
        await asyncio.to_thread(self.sync)

    def publish(self, event: Event) -> None:
        """EventSink: a network event from the controller (others are ignored). Never raises;
        blocks its caller only to open or close the sandbox's listener."""
        if event.type != "network" or event.action not in ("connect", "disconnect", "destroy"):
            return
        try:
            self._follow(event.attributes.get("container", ""))
        except Exception as err:  # DNS must not fail a network operation that succeeded
            log.error("embedded DNS: updating after %s failed: %s", event.action, err)

    @property
    def stale(self) -> bool:
        """Has anything changed since the table was built?"""
        return self._table_generation != self._generation

    async def current_table(self) -> NameTable:
        """The name table as it is now (rebuilt first if it is stale)."""
        await self._fresh()
        return self.table

    def _follow(self, sandbox_id: str) -> None:
        """Mark the table stale; open or close ``sandbox_id``'s listener if that changed."""
        controller = self._controller
        if controller is None or self._closed:
            return
        with self._lock:
            self._generation += 1
            opened: Opened = {}
            closing: list[str] = []
            if sandbox_id:
                current = self._open.get(sandbox_id)
                path, keeps = _served_path(controller, sandbox_id, current)
                if current is not None and current != path:
                    self._forget(sandbox_id, closing, stays=keeps and path is None)
                if path is not None and current != path:
                    self._open_listener(sandbox_id, path, opened)
            self._hand(opened, self._invalidate, opened, closing)

    def sync(self) -> None:
        """Rebuild the table, open and close listeners, hand both to the loop (blocking)."""
        controller = self._controller
        if controller is None or self._closed:
            return
        with self._lock:
            generation = self._generation
            sandboxes = controller.sandboxes()
            table = self._builder.build(controller.networks(), controller.endpoints(), sandboxes)
            wanted = {s.id: s.netns_path for s in sandboxes if s.id in table.views}
            for sandbox in sandboxes:  # a resolver once started stays while the sandbox is on
                if _keeps(sandbox, self._open.get(sandbox.id)):  # a network (Docker)
                    wanted.setdefault(sandbox.id, sandbox.netns_path)
            opened: Opened = {}
            for sandbox_id, path in wanted.items():
                if self._open.get(sandbox_id) != path:
                    self._open_listener(sandbox_id, path, opened)
            leaving = [sid for sid, path in self._open.items() if wanted.get(sid) != path]
            remaining = {s.id for s in sandboxes}
            closing: list[str] = []
            for sandbox_id in leaving:
                stays = sandbox_id in remaining and sandbox_id not in wanted
                self._forget(sandbox_id, closing, stays=stays)
            self._hand(opened, self._apply, table, generation, opened, closing)

    def _forget(self, sandbox_id: str, closing: list[str], *, stays: bool) -> None:
        """Stop serving ``sandbox_id`` (its listener closes on the loop); ``stays``: the
        sandbox lives on without DNS, so its redirect rule goes too."""
        if stays:
            self.binder.release(self._open[sandbox_id])
        closing.append(sandbox_id)
        del self._open[sandbox_id]

    def _open_listener(self, sandbox_id: str, path: str, opened: Opened) -> None:
        try:
            udp, tcp = self.binder.open(path)
        except (OSError, BerthError) as err:
            log.warning("embedded DNS: cannot listen in sandbox %s: %s", sandbox_id[:12], err)
            return
        opened[sandbox_id] = (path, udp, tcp)
        self._open[sandbox_id] = path

    def _hand(self, opened: Opened, callback: Callable[..., None], *args: object) -> None:
        """Run ``callback`` on the loop (under ``_lock``: hand-overs keep their order)."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: berthd is exiting
            _close_opened(opened)

    async def _fresh(self) -> None:
        """Wait until the table reflects every change published so far (one rebuild in a
        worker thread for any number of changes; questions asked meanwhile share it)."""
        if not self.stale or self._closed:
            return
        if self._rebuild is None or self._rebuild.done():
            self._rebuild = self._loop.create_task(self._rebuild_until_fresh())
        try:
            await asyncio.shield(self._rebuild)
        except Exception as err:  # answer from the table there is (a log line per failure)
            log.debug("embedded DNS: answering from the previous table: %s", err)

    async def _rebuild_until_fresh(self) -> None:
        try:
            while self.stale and not self._closed:
                self.rebuilds += 1
                await asyncio.to_thread(self.sync)  # _apply runs before this resumes
        except Exception as err:
            log.error("embedded DNS: rebuilding the name table failed: %s", err)
            raise

    def _invalidate(self, opened: Opened, closing: list[str]) -> None:
        """On the loop, after a change: listeners closed and started; no cached answer
        survives (each listener gets an empty cache of its own until the next rebuild)."""
        if self._listen(opened, closing):
            for listener in self._listeners.values():
                listener.cache = {}
            self._caches = {}

    def _apply(self, table: NameTable, generation: int, opened: Opened, closing: list[str]) -> None:
        """On the loop, after a rebuild: the new table, views and shared caches."""
        if not self._listen(opened, closing):
            return
        self.table = table
        self._table_generation = generation
        self._caches = {}
        for sandbox_id, listener in self._listeners.items():
            listener.view = table.views.get(sandbox_id, EMPTY_VIEW)
            listener.cache = self._caches.setdefault(listener.view.networks, {})

    def _listen(self, opened: Opened, closing: list[str]) -> bool:
        if self._closed:
            _close_opened(opened)
            return False
        for sandbox_id in closing:
            listener = self._listeners.pop(sandbox_id, None)
            self._warned.pop(sandbox_id, None)
            if listener is not None:
                self.stats.cache_hits += listener.hits
                listener.close()
        for sandbox_id, (path, udp, tcp) in opened.items():
            listener = Listener(self, sandbox_id, path, udp=udp, tcp=tcp)
            self._listeners[sandbox_id] = listener
            listener.start()
        return True

    def configure(self, settings: DnsSettings) -> None:
        """New daemon settings (SIGHUP): used from the next forwarded query; listeners stay."""
        if settings.host_resolv_conf != self.settings.host_resolv_conf:
            self._host = HostNameservers(settings.host_resolv_conf)
        self.settings = settings

    async def close(self) -> None:
        """Stop following the controller and close every listener (on the loop)."""
        with self._lock:
            self._closed = True
            self._controller = None
            self._open.clear()
        counts = self.snapshot()
        for listener in self._listeners.values():
            self.stats.cache_hits += listener.hits
            listener.close()
        self._listeners.clear()
        if self._rebuild is not None:
            await asyncio.gather(self._rebuild, return_exceptions=True)
        if self._helper is not None:
            if self._warming is not None:
                await asyncio.gather(self._warming, return_exceptions=True)
            await asyncio.to_thread(self._helper.close)
        log.info("embedded DNS stopped", extra=counts)

    # --- answering (the loop) --------------------------------------------------------------

    @property
    def listening(self) -> dict[str, str]:
        """Sandbox id -> namespace path of every sandbox served now."""
        return {sid: listener.netns for sid, listener in self._listeners.items()}

    def local(self, listener: Listener, data: bytes, *, udp: bool) -> bytes | Query | None:
        self.stats.queries += 1
        try:
            query = parse_query(data)
        except Rejected as rejected:
            return rejected.response
        if query.qclass != CLASS_IN or self.stale:
            return query  # CHAOS and friends are not about containers; stale: see ``forward``
        return self._answer(listener, query, data, udp=udp)

    def _answer(self, listener: Listener, query: Query, data: bytes, *, udp: bool) -> bytes | Query:
        """The local answer from the current table, or ``query`` to forward it."""
        answer = resolve(self.table.scope(listener.view), query.name, query.qtype)
        if isinstance(answer, Forward):
            if answer.single_label and query.qtype in (A, AAAA) and self._ndots(listener):
                # Docker: with a user-set ndots, a single label is not sent out; the empty
                # answer makes the client's resolver try its search domains
                return pack_within(reply_to(query), query.udp_limit)
            return query
        self.stats.local += 1
        try:
            record = local_answer(query, answer, self._rng)
            if not udp:
                return bytes(record.pack())
            packed = pack_within(record, query.udp_limit)
        except (DNSError, ValueError) as err:  # e.g. a PTR target with a label over 63 bytes
            log.warning("embedded DNS: cannot answer %s: %s", query.name, err)
            return error_answer(query, SERVFAIL)
        if not (isinstance(answer, Records) and len(answer.addresses) > 1):  # round robin
            if len(listener.cache) >= CACHE_LIMIT:
                listener.cache.clear()
            listener.cache[data[2:]] = packed[2:]
        return packed

    async def forward(self, listener: Listener, query: Query, data: bytes, *, udp: bool) -> bytes:
        if query.qclass == CLASS_IN and self.stale:
            await self._fresh()
            local = self._answer(listener, query, data, udp=udp)
            if isinstance(local, bytes):
                return local
        try:
            upstreams = self.upstreams(listener)
            if not upstreams:
                self.stats.no_upstream += 1
                if listener.view.external:
                    self._warn(listener, "no upstream DNS servers (set dns, or --dns)")
                return error_answer(query, SERVFAIL)
            response = await self._forwarder.forward(data, upstreams, tcp=not udp)
        except Silent as why:
            self.stats.no_answer += 1
            self._warn(
                listener,
                "no upstream answered %s: %s (%s)",
                query.name,
                ", ".join(map(str, upstreams)),
                why,
            )
            return error_answer(query, SERVFAIL)
        except Exception as err:
            log.error("embedded DNS: forwarding %s failed: %s", query.name, err, exc_info=err)
            return error_answer(query, SERVFAIL)
        self.stats.forwarded += 1
        return fit_udp(response, query.udp_limit) if udp else response

    def overloaded(self, query: Query) -> bytes:
        self.stats.refused += 1
        return error_answer(query, REFUSED)

    def upstreams(self, listener: Listener) -> tuple[Upstream, ...]:
        own = self._own(listener)
        return choose_upstreams(
            own=[ip_address(s) for s in own.servers if is_address(s)],
            daemon=self.settings.servers,
            host=() if own.servers or self.settings.servers else self._host(),
            netns=listener.netns,
            external=listener.view.external,
        )

    def _own(self, listener: Listener) -> SandboxDns:
        if listener.own is None:
            try:
                listener.own = self.sandbox_dns(listener.sandbox_id)
            except Exception as err:  # an unknown sandbox (no container): daemon defaults
                log.debug("no DNS settings for sandbox %s: %s", listener.sandbox_id[:12], err)
                listener.own = SandboxDns()
        own: SandboxDns = listener.own
        return own

    def _ndots(self, listener: Listener) -> bool:
        own = self._own(listener)
        return ndots_set(own.options or self.settings.options)

    def _warn(self, listener: Listener, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._warned.get(listener.sandbox_id, -WARN_EVERY_S) < WARN_EVERY_S:
            return
        self._warned[listener.sandbox_id] = now
        log.warning(
            "embedded DNS, sandbox %s: " + message,
            listener.sandbox_id[:12],
            *args,
            extra={"servfail_no_answer": self.stats.no_answer},
        )

    def snapshot(self) -> dict[str, int]:
        """The counters, cache hits included (listeners count those without the server)."""
        counts = {f.name: getattr(self.stats, f.name) for f in fields(Stats)}
        hits = sum(listener.hits for listener in self._listeners.values())
        counts["queries"] += counts["cache_hits"] + hits
        counts["cache_hits"] += hits
        counts["sandboxes"] = len(self._listeners)
        return counts


def _served_path(
    controller: State, sandbox_id: str, current: str | None
) -> tuple[str | None, bool]:
    """Where ``sandbox_id``'s listener should be: its namespace while it is on a DNS-enabled
    network, or already has a listener and is still on some network (Docker keeps a sandbox's
    resolver once started: no closing and reopening as it leaves and rejoins); else None. And
    whether the sandbox stays at all (its redirect rule is then removed with the listener)."""
    try:
        sandbox = controller.sandbox(sandbox_id)
        if sandbox.host_mode:
            return None, True
        if _keeps(sandbox, current):
            return sandbox.netns_path, True
        for ref in sandbox.endpoints:
            endpoint = controller.endpoint(ref)
            if dns_enabled(controller.network(endpoint.network_id)):
                return sandbox.netns_path, True
    except NotFound:
        return None, False
    return None, True


def _keeps(sandbox: Sandbox, current: str | None) -> bool:
    """Does a sandbox that has a listener (at ``current``) keep it?"""
    return (
        current is not None
        and current == sandbox.netns_path
        and bool(sandbox.endpoints)
        and not sandbox.host_mode
    )


def _close_opened(opened: Opened) -> None:
    for _path, udp, tcp in opened.values():
        udp.close()
        tcp.close()
