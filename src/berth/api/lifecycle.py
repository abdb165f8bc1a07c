"""Container lifecycle routes: start, stop, restart, kill, wait, resize.

Docker answers 304 (no body) to starting a running container or stopping a stopped one; the
runtime reports states, so that check is made here against the record before the call.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from berth.api.base import Route, at_least, ctx_of, dumps, empty_ok, no_content
from berth.api.errors import BadRequest, NotModified
from berth.api.requests import query_int, query_uint
from berth.api.streams import POLL_SECONDS, client_gone, end_stream, start_stream
from berth.model.errors import BerthError

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


async def start_container(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    length = request.content_length
    if length is not None and length > 7:
        raise BadRequest(
            "starting container with non-empty request body was deprecated since API v1.22 "
            "and removed in v1.24"
        )
    ref = request.match_info["id"]
    if ctx.containers.get(ref).state.running:
        raise NotModified()
    await ctx.containers.start(ref)
    return no_content()


def _stop_options(request: web.Request) -> tuple[float | None, str]:
    seconds = query_int(request, "t")
    signal = request.query.get("signal", "") if at_least(request, "1.42") else ""
    return (None if seconds is None else float(seconds)), signal


async def stop_container(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    ref = request.match_info["id"]
    timeout, signal = _stop_options(request)
    if not ctx.containers.get(ref).state.running:
        raise NotModified()
    await ctx.containers.stop(ref, timeout=timeout, signal=signal)
    return no_content()


async def restart_container(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    timeout, _signal = _stop_options(request)
    await ctx.containers.restart(request.match_info["id"], timeout=timeout)
    return no_content()


async def kill_container(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    signal = request.query.get("signal", "") or "SIGKILL"
    await ctx.containers.kill(request.match_info["id"], signal=signal)
    return no_content()


async def wait_container(request: web.Request) -> web.StreamResponse:
    """The 200 and its headers go out before the wait: `docker run` sends this request
    before starting the container and blocks until the headers arrive."""
    ctx = ctx_of(request)
    ref = request.match_info["id"]
    condition = request.query.get("condition", "") or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise BadRequest(f'invalid condition: "{condition}"')
    container = ctx.containers.get(ref)
    waiter = asyncio.create_task(ctx.containers.wait(container.id, condition))
    await asyncio.sleep(0)  # let the waiter register before the client sees the headers
    response = await start_stream(request, "application/json")
    while not (await asyncio.wait({waiter}, timeout=POLL_SECONDS))[0]:
        if client_gone(request):
            waiter.cancel()
            return response
    error = None
    try:
        code = waiter.result()
    except BerthError as err:
        code, error = -1, {"Message": str(err)}
    with contextlib.suppress(ConnectionError):
        await response.write(dumps({"StatusCode": code, "Error": error}))
    return await end_stream(response)


async def resize_container(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    height = query_uint(request, "h", "resize height")
    width = query_uint(request, "w", "resize width")
    await ctx.containers.resize(request.match_info["id"], height, width)
    return empty_ok()


ROUTES = [
    Route("POST", "/containers/{id}/start", start_container),
    Route("POST", "/containers/{id}/stop", stop_container),
    Route("POST", "/containers/{id}/restart", restart_container),
    Route("POST", "/containers/{id}/kill", kill_container),
    Route("POST", "/containers/{id}/wait", wait_container),
    Route("POST", "/containers/{id}/resize", resize_container),
]
