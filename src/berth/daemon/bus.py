"""The daemon's event bus: the controller's and the runtime's ``EventSink`` on one side, the
/events route's ``EventSource`` on the other.

Producers publish from any thread (controller operations run in the daemon's thread pool): the
event is handed to the event loop with ``call_soon_threadsafe`` and everything else happens on
the loop thread, so no locks are needed and every subscriber sees events in one order. The bus
keeps a bounded history for ``--since``; each subscriber has a bounded queue, and a subscriber
that does not keep up loses its oldest events (with a logged warning) instead of holding up the
daemon or growing without limit.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Iterable

from berth.events import Event

log = logging.getLogger(__name__)

HISTORY = 1000
QUEUE = 1000


class Subscription:
    """An async iterator of events: the backlog given at subscription, then live events, until
    ``close`` (by the consumer, or by the bus when the daemon stops)."""

    def __init__(self, bus: EventBus, backlog: Iterable[Event], limit: int) -> None:
        self._bus = bus
        self._pending: deque[Event] = deque(backlog)
        self._limit = limit
        self._wakeup = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._pending.popleft()

    def offer(self, event: Event) -> None:
        """Called by the bus on the loop thread."""
        if len(self._pending) >= self._limit:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % self._limit == 0:
                log.warning(
                    "event subscriber is too slow: dropped its oldest events",
                    extra={"dropped": self.dropped, "queue": self._limit},
                )
        self._pending.append(event)
        self._wakeup.set()

    def close(self) -> None:
        self._closed = True
        self._pending.clear()
        self._bus.unsubscribe(self)
        self._wakeup.set()

    async def aclose(self) -> None:
        self.close()


class EventBus:
    """Implements ``berth.events.EventSink`` and ``berth.api.context.EventSource``."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, history: int = HISTORY, queue: int = QUEUE
    ) -> None:
        self._loop = loop
        self._history: deque[Event] = deque(maxlen=history)
        self._queue = queue
        # a consumer that drops its iterator without closing it must not stay subscribed
        self._subscribers: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._closed = False

    # --- EventSink ------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Never blocks and never raises; safe from any thread."""
        try:
            self._loop.call_soon_threadsafe(self._dispatch, event)
        except RuntimeError:  # the loop is closed: the daemon is exiting
            log.debug("event after shutdown dropped", extra={"event": event.action})

    def _dispatch(self, event: Event) -> None:
        if self._closed:
            return
        self._history.append(event)
        for subscriber in list(self._subscribers):
            subscriber.offer(event)

    # --- EventSource ----------------------------------------------------------------------

    def subscribe(self, since_ns: int = 0) -> Subscription:
        """Call on the loop thread. The history newer than ``since_ns`` comes first, then live
        events; nothing is lost or repeated between the two (both happen on the loop)."""
        backlog = [e for e in self._history if e.time_ns > since_ns]
        subscription = Subscription(self, backlog, self._queue)
        if self._closed:
            subscription.close()
        else:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def close(self) -> None:
        """End every subscription (their streams finish) and ignore later events."""
        self._closed = True
        for subscriber in list(self._subscribers):
            subscriber.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
