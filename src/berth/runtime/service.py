"""``ContainerRuntime``: berthd's implementation of ``ContainerService``.

Runs on the daemon's event loop; controller, kernel and file work goes to the executor it is
given. Each container's lifecycle operations are serialised by a per-container lock; a running
container has a ``Live`` entry whose task watches the shim's socket and, when the process exits,
records the exit, releases the networking, publishes ``die`` and applies the restart policy.

Lifecycle operations run detached from their caller: an HTTP client that disconnects half-way
through ``start`` does not leave a half-started container behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from functools import partial
from typing import Any

from berth.controller.controller import NetworkController
from berth.controller.transaction import Transaction
from berth.events import EventSink
from berth.model.endpoint import Endpoint
from berth.model.errors import BerthError, InvalidParameter
from berth.model.ids import new_id
from berth.model.network import Network
from berth.runtime import shimclient
from berth.runtime.api import (
    Attachment,
    Container,
    ContainerConfig,
    EndpointSettings,
    ExecConfig,
    ExecInstance,
    LogEntry,
)
from berth.runtime.base import Live
from berth.runtime.codec import Record
from berth.runtime.errors import ContainerNameInUse, ContainerNotRunning, StartFailed
from berth.runtime.etcfiles import ResolvConf
from berth.runtime.execs import Execs
from berth.runtime.launch import CONFIG_NAME, LaunchSpec, container_env
from berth.runtime.lifecycle import LifecycleMixin, clear_run_files
from berth.runtime.logformat import rfc3339nano
from berth.runtime.logs import log_path
from berth.runtime.names import generate_name, validate_container_name
from berth.runtime.networking import ContainerNetworking, HostFiles, NetState, etc_mounts
from berth.runtime.records import ContainerRecords
from berth.runtime.stdio import StdioMixin
from berth.runtime.validate import check_connect, check_disconnect, normalize
from berth.store.sqlite import SqliteStore

DEFAULT_STOP_TIMEOUT_S = 10.0


class ContainerRuntime(LifecycleMixin, StdioMixin):
    def __init__(
        self,
        *,
        controller: NetworkController,
        executor: Executor,
        events: EventSink,
        data_root: str,
        exec_root: str,
        dns: ResolvConf | None = None,
        host_files: HostFiles | None = None,
        shim_command: Sequence[str] | None = None,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT_S,
    ) -> None:
        """``data_root`` holds containers.db and the logs, ``exec_root`` the containers' run
        directories; ``dns`` are the daemon's --dns/--dns-search/--dns-opt defaults."""
        self._ctl = controller
        self._executor = executor
        self._events = events
        self._containers_dir = os.path.join(exec_root, "containers")
        self._logs_dir = os.path.join(data_root, "containers")
        os.makedirs(self._containers_dir, mode=0o711, exist_ok=True)
        os.makedirs(self._logs_dir, mode=0o700, exist_ok=True)
        self._records = ContainerRecords(SqliteStore(os.path.join(data_root, "containers.db")))
        self._net = ContainerNetworking(
            controller,
            self._records.get,
            dns=dns or ResolvConf(),
            host_files=host_files or HostFiles(),
            containers=lambda: [r.container for r in self._records.all()],
        )
        self._shims = shimclient.ShimLauncher(
            shim_command or (sys.executable, "-m", "berth.runtime.forkserver", exec_root)
        )
        self._stop_timeout = stop_timeout
        self._live: dict[str, Live] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._restarts: dict[str, asyncio.Task[None]] = {}
        self._waiters: dict[str, list[tuple[str, asyncio.Future[int]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._execs = Execs(
            container=self._records.get,
            running=lambda cid: cid in self._live,
            base_env=lambda c: self._live[c.id].env,
            events=events,
        )
        self._init_stdio()

    def set_dns(self, dns: ResolvConf) -> None:
        """New daemon DNS defaults (SIGHUP): used by containers started from now on."""
        self._net.dns = dns

    # --- records --------------------------------------------------------------------------

    def list(self, all: bool = False) -> list[Container]:
        containers = [r.container for r in self._records.all()]
        if not all:
            containers = [c for c in containers if c.state.running]
        return sorted(containers, key=lambda c: c.created, reverse=True)

    def endpoints(self, ref: str) -> dict[str, Endpoint]:
        return self._net.endpoints(self.get(ref))

    # --- create / start -------------------------------------------------------------------

    async def create(self, config: ContainerConfig) -> Container:
        return await self._detached(self._create(config))

    async def _create(self, config: ContainerConfig) -> Container:
        if config.name:
            name = validate_container_name(config.name)
        else:
            name = generate_name(self._records.name_taken)
        if self._records.name_taken(name):
            raise ContainerNameInUse(name, self.get(name).id)
        config = await self._blocking(
            partial(normalize, network=self._ctl.network, container=self._records.get),
            replace(config, name=name),
        )
        container_id = new_id()
        container = Container(
            id=container_id,
            name=name,
            created=rfc3339nano(time.time_ns()),
            config=config,
            path=os.path.join(self._containers_dir, container_id),
        )
        os.makedirs(container.path, mode=0o711)
        os.makedirs(os.path.dirname(self._log_path(container_id)), mode=0o700, exist_ok=True)
        self._records.add(Record(container))
        self._publish("create", container)
        return container

    def _log_path(self, container_id: str) -> str:
        return log_path(self._logs_dir, container_id)

    async def start(self, ref: str) -> None:
        container_id = self.get(ref).id
        await self._detached(self._start(container_id))

    async def _start(self, container_id: str) -> None:
        try:
            async with self._lock(container_id):
                container = self.get(container_id)
                if container.state.status == "running":
                    return  # Docker answers 304 Not Modified
                if container.state.status == "removing":
                    raise InvalidParameter(f"container {container_id} is marked for removal")
                self._cancel_restart(container_id)
                self._records.update(
                    container_id,
                    manually_stopped=False,
                    backoff_s=0.0,
                    state={"restart_count": 0},
                )
                await self._launch(container_id)
        except Exception:
            record = self._records.find(container_id)
            if record is not None and record.container.config.auto_remove:
                await self._remove(container_id, force=False)  # like Docker's --rm
            raise

    async def _launch(self, container_id: str) -> None:
        """All or nothing: sandbox, networks, /etc files, shim; any failure undoes them."""
        container = self.get(container_id)
        undo = Transaction(f"start container {container.name}")
        watcher: shimclient.ShimStream | None = None
        try:
            net = await self._blocking(self._net.setup, container, undo)
            spec = self._launch_spec(container, net)
            ready = await self._blocking(self._spawn_shim, container, spec)
            undo.on_rollback(
                "stop the shim", partial(shimclient.kill_shim, ready["shim_pid"], ready["pid"])
            )
            watcher, _state = await shimclient.ShimStream.open(container.path, {"op": "watch"})
            await self._bind_deferred(container)
            started = await shimclient.request(container.path, {"op": "start"})
            if not started.get("ok"):
                raise StartFailed(
                    f"failed to start container process: {started.get('error')}",
                    int(started.get("exit_code", 255)),
                )
            self._records.update(
                container_id,
                sandbox_id=net.sandbox_id,
                state={
                    "status": "running",
                    "pid": int(started["pid"]),
                    "started_at": started["started_at"],
                    "exit_code": 0,
                    "error": "",
                },
            )
        except BaseException as err:
            if watcher is not None:
                watcher.close()
            await self._blocking(undo.rollback, err)
            code = err.exit_code if isinstance(err, StartFailed) else 255
            with contextlib.suppress(BerthError):  # the original error is the one to report
                self._records.set_state(container_id, exit_code=code, error=str(err))
            raise
        self._watch(container_id, Live(watcher, spec.env))
        self._publish("start", self.get(container_id))

    def _launch_spec(self, container: Container, net: NetState) -> LaunchSpec:
        config = container.config
        return LaunchSpec(
            id=container.id,
            args=[*config.entrypoint, *config.cmd],
            env=container_env((*net.link_env, *config.env), net.hostname, config.tty),
            netns=net.netns_path,
            log_path=self._log_path(container.id),
            cwd=config.working_dir or "/",
            hostname=net.hostname,
            domainname=config.domainname,
            rootfs=config.rootfs,
            tty=config.tty,
            open_stdin=config.open_stdin,
            stdin_once=config.stdin_once,
            etc_files=etc_mounts(net.etc_dir),
        )

    def _spawn_shim(self, container: Container, spec: LaunchSpec) -> dict[str, Any]:
        os.makedirs(container.path, mode=0o711, exist_ok=True)  # exec root may be a fresh tmpfs
        clear_run_files(container.path)
        with open(os.path.join(container.path, CONFIG_NAME), "w") as f:
            f.write(spec.to_json())
        return self._shims.spawn(container.path)

    def _watch(self, container_id: str, live: Live) -> None:
        self._live[container_id] = live
        live.task = asyncio.create_task(self._watch_shim(container_id, live))

    # --- networks -------------------------------------------------------------------------

    async def connect(self, ref: str, network: str, settings: EndpointSettings) -> Endpoint | None:
        container_id = self.get(ref).id
        return await self._detached(self._connect(container_id, network, settings))

    async def disconnect(self, ref: str, network: str, force: bool = False) -> None:
        container_id = self.get(ref).id
        await self._detached(self._disconnect(container_id, network))

    async def _connect(
        self, container_id: str, network: str, settings: EndpointSettings
    ) -> Endpoint | None:
        async with self._lock(container_id):
            container = self.get(container_id)
            live = container_id in self._live
            target, endpoint = await self._blocking(
                self._connect_blocking, container, network, settings, live
            )
            networks = {**container.config.networks, target.name: settings}
            self._records.update(container_id, config=replace(container.config, networks=networks))
            return endpoint

    def _connect_blocking(
        self, container: Container, network: str, settings: EndpointSettings, live: bool
    ) -> tuple[Network, Endpoint | None]:
        """Docker's checks, then the live connect, in one trip to the executor (each trip is a
        thread hand-off both ways)."""
        target = self._ctl.network(network)
        check_connect(container, target, self._net.mode(container), settings)
        endpoint = self._net.connect(container, target.name, settings) if live else None
        return target, endpoint

    async def _disconnect(self, container_id: str, network: str) -> None:
        async with self._lock(container_id):
            container = self.get(container_id)
            live = container_id in self._live
            target = await self._blocking(self._disconnect_blocking, container, network, live)
            networks = {k: v for k, v in container.config.networks.items() if k != target.name}
            self._records.update(container_id, config=replace(container.config, networks=networks))

    def _disconnect_blocking(self, container: Container, network: str, live: bool) -> Network:
        target = self._ctl.network(network)
        check_disconnect(container, target, self._net.mode(container))
        if live:
            self._net.disconnect(container, target.name)
        return target

    # --- exec -----------------------------------------------------------------------------

    async def exec_create(self, ref: str, config: ExecConfig) -> ExecInstance:
        return self._execs.create(ref, config)

    async def exec_start(self, exec_id: str, *, detach: bool = False) -> Attachment | None:
        return await self._execs.start(exec_id, detach=detach)

    def exec_inspect(self, exec_id: str) -> ExecInstance:
        return self._execs.inspect(exec_id)

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        await self._execs.resize(exec_id, height, width)

    # --- stdio (see StdioMixin) -----------------------------------------------------------

    def logs(
        self,
        ref: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        follow: bool = False,
        since_ns: int = 0,
        until_ns: int = 0,
        tail: int | None = None,
    ) -> AsyncIterator[LogEntry]:
        container = self.get(ref)
        streams = frozenset(s for s, on in (("stdout", stdout), ("stderr", stderr)) if on)
        return self._log_stream(
            container, streams, follow=follow, since_ns=since_ns, until_ns=until_ns, tail=tail
        )

    async def resize(self, ref: str, height: int, width: int) -> None:
        container = self.get(ref)
        if container.id not in self._live:
            raise ContainerNotRunning(container.id)
        message = {"op": "resize", "height": height, "width": width}
        await shimclient.request(container.path, message)
