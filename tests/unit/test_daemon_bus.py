"""The event bus: publish from any thread, history for --since, live events in one order, and
a slow subscriber that loses its oldest events instead of holding anything up."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading

import pytest

from berth.daemon.bus import EventBus
from berth.events import Event


def event(n: int, time_ns: int | None = None) -> Event:
    return Event("network", "create", f"id{n}", {"name": f"n{n}"}, time_ns=time_ns or n)


async def settle() -> None:
    """Let call_soon_threadsafe callbacks run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def take(subscription: object, count: int) -> list[Event]:
    it = aiter(subscription)  # type: ignore[call-overload]
    return [await asyncio.wait_for(anext(it), 1.0) for _ in range(count)]


async def test_history_then_live_in_order() -> None:
    bus = EventBus(asyncio.get_running_loop())
    for n in range(1, 4):
        bus.publish(event(n))
    await settle()
    sub = bus.subscribe(0)
    bus.publish(event(4))
    got = await take(sub, 4)
    assert [e.actor_id for e in got] == ["id1", "id2", "id3", "id4"]


async def test_since_filters_the_history_only() -> None:
    bus = EventBus(asyncio.get_running_loop())
    for n in (10, 20, 30):
        bus.publish(event(n))
    await settle()
    sub = bus.subscribe(since_ns=20)
    bus.publish(event(5))  # live events come whatever their time
    got = await take(sub, 2)
    assert [e.actor_id for e in got] == ["id30", "id5"]


async def test_history_is_bounded() -> None:
    bus = EventBus(asyncio.get_running_loop(), history=3)
    for n in range(1, 11):
        bus.publish(event(n))
    await settle()
    sub = bus.subscribe(0)
    assert [e.actor_id for e in await take(sub, 3)] == ["id8", "id9", "id10"]


async def test_publish_from_other_threads_reaches_every_subscriber() -> None:
    bus = EventBus(asyncio.get_running_loop())
    subs = [bus.subscribe(0), bus.subscribe(0)]

    def produce(base: int) -> None:
        for n in range(50):
            bus.publish(event(base + n))

    threads = [threading.Thread(target=produce, args=(b,)) for b in (1000, 2000)]
    for t in threads:
        t.start()
    await asyncio.get_running_loop().run_in_executor(None, lambda: [t.join() for t in threads])
    first, second = await take(subs[0], 100), await take(subs[1], 100)
    assert first == second  # one order for everyone
    assert sorted(e.actor_id for e in first) == sorted(
        f"id{b + n}" for b in (1000, 2000) for n in range(50)
    )
    for base in (1000, 2000):  # each producer's events stay in its order
        mine = [e.time_ns for e in first if base <= e.time_ns < base + 1000]
        assert mine == sorted(mine)


async def test_slow_subscriber_drops_its_oldest_and_does_not_block(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus(asyncio.get_running_loop(), queue=5)
    slow, fast = bus.subscribe(0), bus.subscribe(0)
    fast_got: list[Event] = []

    async def consume_fast() -> None:
        async for e in fast:
            fast_got.append(e)
            if len(fast_got) == 20:
                return

    consumer = asyncio.create_task(consume_fast())
    with caplog.at_level(logging.WARNING, logger="berth.daemon.bus"):
        for n in range(1, 21):
            bus.publish(event(n))
            await settle()
        await asyncio.wait_for(consumer, 1.0)
    assert len(fast_got) == 20
    assert [e.actor_id for e in await take(slow, 5)] == [f"id{n}" for n in range(16, 21)]
    assert slow.dropped == 15
    assert any("too slow" in r.message for r in caplog.records)


async def test_close_ends_streams_and_later_events_are_ignored() -> None:
    bus = EventBus(asyncio.get_running_loop())
    sub = bus.subscribe(0)

    async def drain() -> list[Event]:
        return [e async for e in sub]

    task = asyncio.create_task(drain())
    bus.publish(event(1))
    await settle()
    bus.close()
    assert [e.actor_id for e in await asyncio.wait_for(task, 1.0)] == ["id1"]
    bus.publish(event(2))
    await settle()
    late = bus.subscribe(0)
    assert [e async for e in late] == []


async def test_consumer_close_and_forgotten_iterators_unsubscribe() -> None:
    bus = EventBus(asyncio.get_running_loop())
    sub = bus.subscribe(0)
    await sub.aclose()
    assert bus.subscribers == 0
    bus.subscribe(0)  # dropped without closing
    gc.collect()
    assert bus.subscribers == 0


def test_publish_after_the_loop_closed_never_raises() -> None:
    loop = asyncio.new_event_loop()
    bus = EventBus(loop)
    loop.close()
    bus.publish(event(1))
