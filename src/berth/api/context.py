"""What the API layer is handed by the daemon (its composition root).

Routes never build adapters or reach for globals: everything they use comes from here.
Controller calls are blocking (netlink, SQLite): routes run them with ``ctx.blocking(fn, ...)``,
which uses the daemon's thread pool, never the event loop thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from berth.controller.controller import NetworkController
from berth.runtime.api import ContainerService

T = TypeVar("T")

MIN_API_VERSION = "1.24"
MAX_API_VERSION = "1.47"


class EventSource(Protocol):
    """The daemon's event bus as the /events route sees it."""

    def subscribe(self, since_ns: int = 0) -> Any:
        """An async iterator of berth.events.Event: first the buffered history newer than
        ``since_ns``, then live events until the subscriber stops iterating."""


@dataclass(frozen=True)
class DaemonInfo:
    """Facts for /version and /info."""

    version: str
    name: str  # the host name
    data_root: str
    exec_root: str
    firewall_backend: str  # "nftables" or "none"
    default_address_pools: tuple[dict[str, Any], ...] = ()
    labels: tuple[str, ...] = ()


@dataclass
class ApiContext:
    controller: NetworkController
    containers: ContainerService
    events: EventSource
    executor: Executor
    info: DaemonInfo
    max_body: int = 1 << 20  # request bodies above this get 413
    extra: dict[str, Any] = field(default_factory=dict)

    async def blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))
