"""A container's stdio over the API: logs (optionally followed) and attach (hijacked).

Without a tty, output is multiplexed with Docker's 8-byte frame headers so stdout and stderr
stay apart; with a tty it is one raw stream. Both checks that can fail (the container exists,
the parameters make sense) happen before the response starts, so they are ordinary errors.
"""

from __future__ import annotations

import time

from aiohttp import web

from berth.api.base import Route, ctx_of
from berth.api.errors import BadRequest, Unsupported
from berth.api.requests import query_bool
from berth.api.streams import (
    end_stream,
    forward,
    frame,
    hijack,
    relay,
    start_stream,
    stream_content_type,
)
from berth.api.timefmt import parse_unix_ns
from berth.runtime.api import LogEntry


def _tail(request: web.Request) -> int | None:
    value = request.query.get("tail", "all")
    if value in ("", "all"):
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f'invalid value for "tail": {value!r} (a number or "all")') from None
    return None if number < 0 else number


def _timestamp(time_ns: int) -> bytes:
    """RFC3339 with a fixed nine-digit fraction, as `docker logs -t` shows it."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode() + b".%09dZ " % nanos


async def container_logs(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    ref = request.match_info["id"]
    stdout, stderr = query_bool(request, "stdout"), query_bool(request, "stderr")
    if not stdout and not stderr:
        raise BadRequest("must specify at least one of 'stdout' or 'stderr'")
    since_ns = parse_unix_ns(request.query.get("since", ""), "since")
    until_value = request.query.get("until", "")
    until_ns = parse_unix_ns("" if until_value == "0" else until_value, "until")
    tail = _tail(request)
    follow = query_bool(request, "follow")
    timestamps = query_bool(request, "timestamps")
    container = ctx.containers.get(ref)
    multiplexed = not container.config.tty
    entries = ctx.containers.logs(
        container.id,
        stdout=stdout,
        stderr=stderr,
        follow=follow,
        since_ns=since_ns,
        until_ns=until_ns,
        tail=tail,
    )
    response = await start_stream(request, stream_content_type(request, multiplexed))

    async def emit(entry: LogEntry) -> bool:
        data = _timestamp(entry.time_ns) + entry.data if timestamps else entry.data
        await response.write(frame(entry.stream, data) if multiplexed else data)
        return True

    await forward(request, entries, emit)
    return await end_stream(response)


async def attach_container(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    ref = request.match_info["id"]
    if request.query.get("detachKeys"):
        raise Unsupported("detachKeys")
    container = ctx.containers.get(ref)
    stdin = query_bool(request, "stdin")
    attachment = await ctx.containers.attach(
        container.id,
        stdin=stdin,
        stdout=query_bool(request, "stdout"),
        stderr=query_bool(request, "stderr"),
        logs=query_bool(request, "logs"),
        stream=query_bool(request, "stream"),
    )
    try:
        hijacked = await hijack(request, multiplexed=not attachment.tty)
    except BaseException:
        await attachment.close()
        raise
    await relay(hijacked, attachment, stdin=stdin)
    return hijacked.response


ROUTES = [
    Route("GET", "/containers/{id}/logs", container_logs),
    Route("POST", "/containers/{id}/attach", attach_container),
]
