"""GET /events: Docker's event stream (network and container events) with its filters.

Events are JSON objects one per line, flushed as they happen, until the client goes away or
``until`` passes. Without ``since`` only new events are sent; with it, the daemon's buffered
history since then comes first.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from berth.api.base import Route, ctx_of, dumps
from berth.api.errors import BadRequest
from berth.api.filters import Filters
from berth.api.streams import end_stream, forward, start_stream
from berth.api.timefmt import parse_unix_ns
from berth.events import Event

_NAMED = (
    "container",
    "network",
    "daemon",
    "plugin",
    "volume",
    "service",
    "node",
    "secret",
    "config",
)
FILTERS = (*_NAMED, "type", "event", "label", "scope", "image")
_FUZZY_ACTIONS = {"health_status", "exec_create", "exec_start"}


def event_json(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Type": event.type,
        "Action": event.action,
        "Actor": {"ID": event.actor_id, "Attributes": dict(event.attributes)},
        "scope": "local",
        "time": event.time_ns // 1_000_000_000,
        "timeNano": event.time_ns,
    }
    if event.type == "container":  # legacy fields, sent to API < 1.52
        data = {
            "status": event.action,
            "id": event.actor_id,
            "from": event.attributes.get("image", ""),
            **data,
        }
    return data


def include(filters: Filters, event: Event) -> bool:
    """Docker's events filter (daemon/events/filter.go)."""
    if filters.get("event") & _FUZZY_ACTIONS:
        if not filters.fuzzy("event", event.action):
            return False
    elif not filters.exact("event", event.action):
        return False
    if not filters.exact("type", event.type) or not filters.exact("scope", "local"):
        return False
    name = event.attributes.get("name", "")
    for key in _NAMED:
        if not (filters.fuzzy(key, event.actor_id) or filters.fuzzy(key, name)):
            return False
    image = event.attributes.get("image" if event.type == "container" else "name", "")
    if not (filters.exact("image", event.actor_id) or filters.exact("image", image)):
        return False
    return filters.labels("label", event.attributes)


async def events(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    since_value, until_value = request.query.get("since", ""), request.query.get("until", "")
    since_ns = parse_unix_ns(since_value, "since")
    until_ns = parse_unix_ns(until_value, "until")
    if until_ns and until_ns < since_ns:
        raise BadRequest(
            f"`since` time ({since_value}) cannot be after `until` time ({until_value})"
        )
    filters = Filters.from_query(request, FILTERS)
    now_ns = time.time_ns()
    source = ctx.events.subscribe(since_ns=since_ns if since_value else now_ns)
    deadline = None
    if until_ns:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, (until_ns - now_ns) / 1e9)
    response = await start_stream(request, "application/json")

    async def emit(event: Event) -> bool:
        if until_ns and event.time_ns > until_ns:
            return False
        if include(filters, event):
            await response.write(dumps(event_json(event)))
        return True

    await forward(request, source, emit, deadline=deadline)
    return await end_stream(response)


ROUTES = [Route("GET", "/events", events)]
