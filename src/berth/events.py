"""Events (Docker's /events): what happened to which object. Producers publish into an
``EventSink``; the daemon's bus fans them out to API subscribers with Docker's filters."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

EventType = Literal["network", "container"]


@dataclass(frozen=True)
class Event:
    """One event, in Docker's terms: ``type`` network/container, ``action`` create, connect,
    disconnect, destroy, start, die, stop, kill, exec_start, ...; ``actor_id`` the object's id;
    ``attributes`` e.g. {"name": ..., "type": "bridge", "container": <id>}."""

    type: EventType
    action: str
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_ns: int = field(default_factory=time.time_ns)


class EventSink(Protocol):
    def publish(self, event: Event) -> None:
        """Never blocks and never raises (called from any thread)."""


class NullSink:
    def publish(self, event: Event) -> None:
        pass
