"""In-memory fakes for API tests: an event bus (EventSink and EventSource in one) and a small
ContainerService that creates sandboxes and endpoints through the real controller, so network
inspect and container NetworkSettings show real (fake-kernel) addresses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

from berth.controller.controller import NetworkController
from berth.events import Event
from berth.model.endpoint import Endpoint, EndpointSpec, SandboxSpec
from berth.model.errors import (
    AmbiguousReference,
    Conflict,
    ContainerNotFound,
    ExecNotFound,
    NameInUse,
)
from berth.model.ids import new_id
from berth.runtime.api import (
    Container,
    ContainerConfig,
    ContainerState,
    EndpointSettings,
    ExecConfig,
    ExecInstance,
    LogEntry,
)


class FakeEvents:
    """EventSink and EventSource in one, on the test's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.history: list[Event] = []
        self._queues: list[asyncio.Queue[Event]] = []

    def publish(self, event: Event) -> None:
        """From any thread: the controller publishes from the executor."""
        self.loop.call_soon_threadsafe(self._dispatch, event)

    def _dispatch(self, event: Event) -> None:
        self.history.append(event)
        for queue in self._queues:
            queue.put_nowait(event)

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    async def subscribe(self, since_ns: int = 0) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._queues.append(queue)
        try:
            for event in list(self.history):
                if event.time_ns > since_ns:
                    yield event
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)


class FakeAttachment:
    """Writes ``greeting`` (stdout) and ``warning`` (stderr), then echoes stdin upper-cased
    until stdin closes."""

    def __init__(self, tty: bool, greeting: bytes = b"hello\n", warning: bytes = b"oops\n"):
        self.tty = tty
        self._out: asyncio.Queue[tuple[Literal["stdout", "stderr"], bytes] | None] = asyncio.Queue()
        self._out.put_nowait(("stdout", greeting))
        if warning:
            self._out.put_nowait(("stdout" if tty else "stderr", warning))
        self.closed = False

    async def read(self) -> tuple[Literal["stdout", "stderr"], bytes] | None:
        return await self._out.get()

    async def write(self, data: bytes) -> None:
        self._out.put_nowait(("stdout", data.upper()))

    async def close_stdin(self) -> None:
        self._out.put_nowait(None)

    async def close(self) -> None:
        self.closed = True


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeContainers:
    def __init__(self, controller: NetworkController, events: FakeEvents) -> None:
        self.ctl = controller
        self.events = events
        self.records: dict[str, Container] = {}
        self.logs_of: dict[str, list[LogEntry]] = {}
        self.execs: dict[str, ExecInstance] = {}
        self.resized: list[tuple[str, int, int]] = []
        self.attachments: list[FakeAttachment] = []
        self.stopped: dict[str, asyncio.Event] = {}
        self.calls: list[tuple[str, Any]] = []

    # --- records ---------------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        ref = ref.lstrip("/")
        if ref in self.records:
            return self.records[ref]
        named = [c for c in self.records.values() if c.name == ref]
        if named:
            return named[0]
        prefixed = [c for c in self.records.values() if ref and c.id.startswith(ref)]
        if len(prefixed) > 1:
            raise AmbiguousReference("container", ref, len(prefixed))
        if prefixed:
            return prefixed[0]
        raise ContainerNotFound(ref)

    def list(self, all: bool = False) -> list[Container]:
        return [c for c in self.records.values() if all or c.state.running]

    def endpoints(self, ref: str) -> dict[str, Endpoint]:
        c = self.get(ref)
        if not c.sandbox_id:
            return {}
        return {e.network_id: e for e in self.ctl.endpoints() if e.sandbox_id == c.sandbox_id}

    def _emit(self, c: Container, action: str) -> None:
        attrs = {"name": c.name, "image": c.config.image}
        self.events.publish(Event("container", action, c.id, attrs))

    # --- lifecycle -------------------------------------------------------------------------
    async def create(self, config: ContainerConfig) -> Container:
        self.calls.append(("create", config))
        name = config.name or f"c{len(self.records)}x"
        if any(c.name == name for c in self.records.values()):
            raise NameInUse("container", name)
        for net in self._network_names(config):
            self.ctl.network(net)
        c = Container(id=new_id(), name=name, created=_now(), config=config, path=f"/x/{name}")
        self.records[c.id] = c
        self.logs_of[c.id] = []
        self._emit(c, "create")
        return c

    @staticmethod
    def _network_names(config: ContainerConfig) -> list[str]:
        mode = config.network_mode
        names = [] if mode.startswith("container:") else [mode]
        return list(dict.fromkeys([*names, *config.networks]))

    def _spec(self, c: Container, settings: EndpointSettings, primary: bool) -> EndpointSpec:
        return EndpointSpec(
            ipv4=settings.ipv4,
            ipv6=settings.ipv6,
            mac=settings.mac,
            aliases=settings.aliases,
            ports=c.config.port_bindings if primary else (),
            gw_priority=settings.gw_priority,
        )

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        host = c.config.network_mode == "host"
        self.ctl.create_sandbox(SandboxSpec(id=c.id, name=c.name, host_mode=host))
        for i, net in enumerate(self._network_names(c.config)):
            settings = c.config.networks.get(net, EndpointSettings())
            self.ctl.connect(net, c.id, self._spec(c, settings, i == 0))
        state = ContainerState(status="running", pid=4242, started_at=_now())
        self.records[c.id] = replace(c, state=state, sandbox_id=c.id)
        self.stopped[c.id] = asyncio.Event()
        self.logs_of[c.id].append(LogEntry("stdout", b"started\n", time.time_ns()))
        self.logs_of[c.id].append(LogEntry("stderr", b"warming up\n", time.time_ns()))
        self._emit(c, "start")

    async def stop(self, ref: str, timeout: float | None = None, signal: str = "") -> None:
        self.calls.append(("stop", (ref, timeout, signal)))
        await self._exit(self.get(ref), 0)

    async def _exit(self, c: Container, code: int) -> None:
        if c.sandbox_id:
            self.ctl.delete_sandbox(c.sandbox_id)
        state = replace(c.state, status="exited", exit_code=code, pid=0, finished_at=_now())
        self.records[c.id] = replace(c, state=state, sandbox_id=None)
        self.stopped.setdefault(c.id, asyncio.Event()).set()
        self._emit(c, "die")

    async def restart(self, ref: str, timeout: float | None = None) -> None:
        c = self.get(ref)
        if c.state.running:
            await self._exit(c, 0)
        await self.start(ref)

    async def kill(self, ref: str, signal: str = "SIGKILL") -> None:
        self.calls.append(("kill", (ref, signal)))
        c = self.get(ref)
        if not c.state.running:
            raise Conflict(f"Container {c.id} is not running")
        await self._exit(c, 137)

    async def remove(self, ref: str, *, force: bool = False) -> None:
        c = self.get(ref)
        if c.state.running and not force:
            raise Conflict(f"You cannot remove a running container {c.id}. Stop it first")
        if c.state.running:
            await self._exit(c, 137)
        del self.records[c.id]
        self._emit(c, "destroy")

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        c = self.get(ref)
        if c.state.running or condition == "next-exit":
            await self.stopped.setdefault(c.id, asyncio.Event()).wait()
        return self.get(c.id).state.exit_code

    async def rename(self, ref: str, name: str) -> None:
        c = self.get(ref)
        self.records[c.id] = replace(c, name=name)

    # --- stdio -----------------------------------------------------------------------------
    async def logs(
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
        entries = [
            e
            for e in self.logs_of[self.get(ref).id]
            if (stdout if e.stream == "stdout" else stderr)
            and e.time_ns > since_ns
            and (not until_ns or e.time_ns <= until_ns)
        ]
        for entry in entries[-tail:] if tail else entries:
            yield entry
        if follow:
            await asyncio.Event().wait()

    async def attach(
        self,
        ref: str,
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        logs: bool = False,
        stream: bool = True,
    ) -> FakeAttachment:
        attachment = FakeAttachment(self.get(ref).config.tty)
        self.attachments.append(attachment)
        return attachment

    async def resize(self, ref: str, height: int, width: int) -> None:
        self.resized.append((self.get(ref).id, height, width))

    # --- networks --------------------------------------------------------------------------
    async def connect(self, ref: str, network: str, settings: EndpointSettings) -> Endpoint:
        c = self.get(ref)
        config = replace(c.config, networks={**c.config.networks, network: settings})
        endpoint = Endpoint(id="", name=c.name, network_id=network)
        if c.state.running:
            endpoint = self.ctl.connect(network, c.id, self._spec(c, settings, False))
        self.records[c.id] = replace(self.get(c.id), config=config)
        return endpoint

    async def disconnect(self, ref: str, network: str, force: bool = False) -> None:
        c = self.get(ref)
        if c.state.running:
            self.ctl.disconnect(network, c.id)
        networks = {k: v for k, v in c.config.networks.items() if k != network}
        self.records[c.id] = replace(c, config=replace(c.config, networks=networks))

    # --- exec ------------------------------------------------------------------------------
    async def exec_create(self, ref: str, config: ExecConfig) -> ExecInstance:
        c = self.get(ref)
        if not c.state.running:
            raise Conflict(f"container {c.id} is not running")
        instance = ExecInstance(id=new_id(), container_id=c.id, config=config)
        self.execs[instance.id] = instance
        return instance

    async def exec_start(self, exec_id: str, *, detach: bool = False) -> FakeAttachment | None:
        instance = self.exec_inspect(exec_id)
        self.execs[exec_id] = replace(instance, running=not detach, exit_code=0 if detach else None)
        if detach:
            return None
        attachment = FakeAttachment(instance.config.tty, greeting=b"exec says hi\n")
        self.attachments.append(attachment)
        return attachment

    def exec_inspect(self, exec_id: str) -> ExecInstance:
        try:
            return self.execs[exec_id]
        except KeyError:
            raise ExecNotFound(exec_id) from None

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.resized.append((self.exec_inspect(exec_id).id, height, width))

    async def restore(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
