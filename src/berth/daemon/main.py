"""berthd: the process. Parses flags and the configuration file, claims its data root, sockets
and pid file, builds everything (``berth.daemon.wiring``), repairs the kernel from the store
(``berth.daemon.reconcile``), serves the API on every -H socket, and handles signals:

- SIGTERM / SIGINT: stop accepting, let the runtime stop watching (containers and their
  networking stay as they are), finish in-flight requests, close the controller, remove the
  sockets and the pid file, exit 0.
- SIGHUP: re-read the configuration file; apply what can change live (log level and format,
  labels, and DNS defaults when the runtime can take them) and log what needs a restart.

Start order: claims, controller, reconciliation, predefined networks, ``runtime.restore()``,
serving. Reconciliation comes before the runtime's restore because restart policies may start
containers, which need repaired bridges, and because its orphan sweep must see a state nothing
else is changing (an operation in flight would look like an orphan).

    berthd [-H unix:///run/berth/berth.sock] [--data-root DIR] [--exec-root DIR] [...]
    python -m berth.daemon.main --help
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from berth.daemon import claims, flags, logs, wiring
from berth.daemon.bus import EventBus
from berth.daemon.config import DaemonConfig, changed_keys
from berth.daemon.keys import LIVE
from berth.model.errors import BerthError

if TYPE_CHECKING:
    from aiohttp import web

    from berth.api.context import ApiContext
    from berth.dns.server import DnsServer

log = logging.getLogger(__name__)

WORKERS = 8  # controller calls serialise on its lock; more threads only queue
SHUTDOWN_TIMEOUT_S = 10.0  # in-flight requests get this long to finish at SIGTERM
DNS_KEYS = frozenset({"dns", "dns-search", "dns-opts"})


class Daemon:
    """One berthd run. ``make_runtime`` / ``make_app`` are the wiring's unless a test hands in
    stand-ins."""

    def __init__(
        self,
        command_line: flags.CommandLine,
        config: DaemonConfig,
        *,
        make_runtime: Callable[..., Any] | None = None,
        make_app: Callable[[ApiContext], web.Application] | None = None,
    ) -> None:
        self.command_line = command_line
        self.config = config
        self.ctx: ApiContext | None = None
        self.dns: DnsServer | None = None
        self._make_runtime = make_runtime or wiring.make_runtime
        self._make_app = make_app or wiring.make_application
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def run(self) -> int:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload)
        async with AsyncExitStack() as stack:
            held = claims.acquire(self.config)
            stack.callback(held.release)
            await self._start(stack, held, loop)
            log.info(
                "berthd is serving",
                extra={
                    "version": wiring.version(),
                    "hosts": ",".join(self.config.hosts),
                    "data_root": self.config.data_root,
                    "startup_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            await self._stop.wait()
            log.info("berthd is shutting down; containers and their networking stay")
        log.info("berthd stopped")
        return 0

    async def _start(
        self, stack: AsyncExitStack, held: claims.Claims, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Build, repair, restore, serve. Each part registers its undo on ``stack`` as soon as
        it exists, so a failure half-way (or a SIGTERM) closes exactly what was opened. At a
        normal stop the order is: sockets, event streams, runtime, in-flight requests, worker
        threads, controller, claims."""
        bus = EventBus(loop)
        stack.callback(bus.close)
        executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="berth-worker")
        stack.callback(executor.shutdown, wait=True)
        self.dns = dns = wiring.make_dns(loop, self.config)
        events = wiring.Tee(dns, bus)
        parts = await loop.run_in_executor(executor, wiring.open_network, self.config, events)
        stack.callback(parts.controller.close)
        stack.callback(executor.shutdown, wait=True)  # again: no thread may outlive the controller
        await loop.run_in_executor(executor, _reconcile, parts, self.config.data_root)
        await loop.run_in_executor(executor, wiring.ensure_predefined, parts.controller)
        runtime = self._make_runtime(parts.controller, bus, executor, self.config)
        # the DNS server serves the sandboxes that survived a restart before the runtime's
        # restore, so that containers it restarts have their names at once
        dns.sandbox_dns = wiring.sandbox_dns(runtime)
        await dns.start(parts.controller)
        stack.push_async_callback(dns.close)
        await runtime.restore()
        runtime_down = _Once(runtime.shutdown)
        stack.push_async_callback(runtime_down)
        self.ctx = wiring.make_context(
            parts,
            runtime=runtime,
            events=bus,
            executor=executor,
            config=self.config,
        )
        self.ctx.extra["dns"] = dns
        sites = await self._serve(stack, held, self._make_app(self.ctx))
        stack.push_async_callback(_wind_down, sites, bus, runtime_down)

    async def _serve(
        self, stack: AsyncExitStack, held: claims.Claims, app: web.Application
    ) -> list[web.BaseSite]:
        from aiohttp import web  # noqa: PLC0415 - heavy import, only when serving

        runner = web.AppRunner(
            app,
            access_log=logging.getLogger("aiohttp.access"),
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        sites: list[web.BaseSite] = []
        for listener in held.listeners:
            site = web.SockSite(runner, listener.sock)
            await site.start()
            sites.append(site)
        return sites

    def _on_reload(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_stop(self, signum: int) -> None:
        log.info("received %s", signal.Signals(signum).name)
        self._stop.set()

    async def reload(self) -> None:
        """SIGHUP: flags as given at start, plus the file as it is now."""
        log.info("received SIGHUP: reloading %s", self.command_line.config_file)
        try:
            new = flags.load(self.command_line)
        except BerthError as err:
            log.error("configuration not reloaded: %s", err)
            return
        changed = changed_keys(self.config, new)
        live = [key for key in changed if key in LIVE]
        runtime = self.ctx.containers if self.ctx is not None else None
        if runtime is not None and DNS_KEYS & set(live) and not wiring.update_dns(runtime, new):
            live = [key for key in live if key not in DNS_KEYS]
        if self.dns is not None and DNS_KEYS & set(live):
            self.dns.configure(wiring.dns_settings(new))  # its listeners stay open
        later = [key for key in changed if key not in live]
        self.config = replace(self.config, **{_attr(k): getattr(new, _attr(k)) for k in live})
        logs.configure(self.config.level, self.config.log_format)
        if self.ctx is not None:
            self.ctx.info = replace(self.ctx.info, labels=self.config.labels)
            self.ctx.extra["config"] = self.config
        log.info(
            "configuration reloaded",
            extra={"applied": ",".join(live) or "-", "needs_restart": ",".join(later) or "-"},
        )
        if later:
            log.warning("these settings change only when berthd restarts: %s", ", ".join(later))


def _attr(key: str) -> str:
    return key.replace("-", "_")


class _Once:
    """An async callable that runs its function the first time only."""

    def __init__(self, fn: Callable[[], Awaitable[None]]) -> None:
        self._fn: Callable[[], Awaitable[None]] | None = fn

    async def __call__(self) -> None:
        fn, self._fn = self._fn, None
        if fn is not None:
            await fn()


async def _wind_down(sites: Sequence[web.BaseSite], bus: EventBus, runtime_down: _Once) -> None:
    """Before in-flight requests are awaited: no new connections, /events streams end, and the
    runtime stops watching (its waits and log follows end)."""
    for site in sites:
        await site.stop()
    bus.close()
    await runtime_down()


def _reconcile(parts: wiring.NetworkParts, data_root: str) -> None:
    """The firewall is rebuilt with the legacy links the container store describes (read
    before the runtime starts), so linked traffic keeps flowing across a restart."""
    from berth.daemon.reconcile import reconcile  # noqa: PLC0415
    from berth.runtime.links import stored_links  # noqa: PLC0415 - the runtime is optional

    reconcile(
        parts.controller, parts.firewall, links=lambda: stored_links(parts.controller, data_root)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``berthd``. Exit 1 with one clear line for configuration errors and for
    a data root, socket or pid file another berthd holds."""
    try:
        command_line = flags.parse_command_line(sys.argv[1:] if argv is None else argv)
        if command_line.version:
            print(f"berthd version {wiring.version()}")
            return 0
        config = flags.load(command_line)
    except BerthError as err:
        print(f"berthd: {err}", file=sys.stderr)
        return 1
    if command_line.validate:
        print("configuration OK")
        return 0
    logs.setup(config.level, config.log_format)
    try:
        return asyncio.run(Daemon(command_line, config).run())
    except BerthError as err:
        log.critical("berthd cannot start: %s", err)
    except Exception as err:
        log.critical("berthd failed: %s", err, exc_info=err)
    return 1


if __name__ == "__main__":
    sys.exit(main())
