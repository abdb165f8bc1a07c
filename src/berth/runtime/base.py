"""State and plumbing shared by the parts of the container runtime (``service`` composes
``lifecycle`` and ``stdio`` over this base): the records, the live containers, per-container
locks, ``wait`` callers, the executor and the event sink."""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from functools import partial
from typing import Any, TypeVar

from berth.controller.controller import NetworkController
from berth.events import Event, EventSink
from berth.model.errors import BerthError
from berth.runtime.api import Container
from berth.runtime.execs import Execs
from berth.runtime.networking import ContainerNetworking
from berth.runtime.records import ContainerRecords
from berth.runtime.shimclient import ShimLauncher, ShimStream

log = logging.getLogger("berth.runtime")
T = TypeVar("T")


class Live:
    """A running container as the daemon watches it: the watch connection to its shim, the
    task reading it, and ``done``, set once the exit has been recorded and networking freed."""

    def __init__(self, watcher: ShimStream, env: list[str]) -> None:
        self.watcher = watcher
        self.env = env  # the process's environment, the base of exec'd processes' one
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def wait_done(self, timeout: float | None) -> bool:
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            return False
        return True


class RuntimeBase:
    _ctl: NetworkController
    _executor: Executor
    _events: EventSink
    _records: ContainerRecords
    _net: ContainerNetworking
    _execs: Execs
    _shims: ShimLauncher
    _live: dict[str, Live]
    _locks: dict[str, asyncio.Lock]
    _restarts: dict[str, asyncio.Task[None]]
    _waiters: dict[str, list[tuple[str, asyncio.Future[int]]]]
    _tasks: set[asyncio.Task[None]]
    _closing: bool
    _stop_timeout: float
    _containers_dir: str
    _logs_dir: str

    # implemented by the parts (service, stdio) that own them
    @abstractmethod
    async def start(self, ref: str) -> None: ...

    @abstractmethod
    async def _launch(self, container_id: str) -> None: ...

    @abstractmethod
    def _watch(self, container_id: str, live: Live) -> None: ...

    @abstractmethod
    async def _close_deferred(self, container_id: str) -> None: ...

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))

    def _lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    async def _detached(self, work: Awaitable[T]) -> T:
        """Finish ``work`` even if the caller is cancelled (e.g. its HTTP client went away)."""
        task = asyncio.ensure_future(work)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_log_outcome)
            raise

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task that shutdown cancels."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def get(self, ref: str) -> Container:
        return self._records.get(ref)

    def _publish(self, action: str, container: Container, **extra: str) -> None:
        attributes = {
            **container.config.labels,
            "image": container.config.image,
            "name": container.name,
            **extra,
        }
        self._events.publish(Event("container", action, container.id, attributes))

    def _notify(self, container_id: str, event: str, exit_code: int) -> None:
        """Wake ``wait`` callers: an exit ends not-running and next-exit waits, removal all."""
        kept = []
        for condition, future in self._waiters.pop(container_id, []):
            if future.done():
                continue
            if event == "removed" or condition != "removed":
                future.set_result(exit_code)
            else:
                kept.append((condition, future))
        if kept:
            self._waiters[container_id] = kept


def _log_outcome(task: asyncio.Future[Any]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        level = logging.INFO if isinstance(error, BerthError) else logging.ERROR
        log.log(level, "operation failed after its caller went away: %s", error)
