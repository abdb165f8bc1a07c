"""The aiohttp application berthd serves: Docker's routing, version negotiation and headers.

    app = make_app(ctx)
    runner = web.AppRunner(app); await runner.setup()
    await web.UnixSite(runner, "/run/berth/berth.sock").start()

Every route is served unversioned (meaning the newest API version) and under
``/v{version}``; a version outside MIN..MAX is a 400 with Docker's message. Every response,
errors and streams included, carries ``Api-Version``, ``Ostype`` and ``Server``. Unknown paths
and wrong methods are 404 ``{"message":"page not found"}``, as in dockerd (its router sends
both to the same handler). Errors become HTTP answers only in berth.api.errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiohttp import web

from berth.api import containers, events, execs, networks, openapi, system
from berth.api.base import CTX, STREAM_STARTED, VERSION_KEY, Handler, Route, reply, version_tuple
from berth.api.context import MAX_API_VERSION, MIN_API_VERSION, ApiContext
from berth.api.errors import PageNotFound, VersionUnsupported, error_response

log = logging.getLogger(__name__)

VERSION_PREFIX = "/v{version:[0-9.]+}"
PLAIN_ERRORS_BELOW = (1, 24)


def all_routes() -> list[Route]:
    return [
        *system.ROUTES,
        *networks.ROUTES,
        *containers.ROUTES,
        *execs.ROUTES,
        *events.ROUTES,
        *openapi.ROUTES,
    ]


def _check_version(version: str | None) -> None:
    if version is None:
        return
    requested = version_tuple(version)
    if requested < version_tuple(MIN_API_VERSION):
        raise VersionUnsupported(version, minimum=MIN_API_VERSION)
    if requested > version_tuple(MAX_API_VERSION):
        raise VersionUnsupported(version, maximum=MAX_API_VERSION)


@web.middleware
async def docker_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Version check, then the route; any error (from routing too) becomes Docker's answer.
    A stream that already started cannot turn into an error response: it just ends."""
    version = request.match_info.get("version")
    plain = version is not None and version_tuple(version) < PLAIN_ERRORS_BELOW
    try:
        _check_version(version)
        request[VERSION_KEY] = version or MAX_API_VERSION
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            return error_response(PageNotFound(), plain=plain)
        if exc.status < 400:
            raise
        return reply({"message": exc.reason}, status=exc.status)
    except Exception as exc:  # every error must become an HTTP answer
        if request.get(STREAM_STARTED):
            log.warning("stream %s %s ended by an error: %s", request.method, request.path, exc)
            raise
        return error_response(exc, plain=plain)


async def _standard_headers(request: web.Request, response: web.StreamResponse) -> None:
    ctx = request.app[CTX]
    response.headers["Api-Version"] = MAX_API_VERSION
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = f"berth/{ctx.info.version} (linux)"


def _register(app: web.Application, routes: Iterable[Route]) -> None:
    for route in routes:
        for path in (route.path, VERSION_PREFIX + route.path):
            if route.method == "GET":
                app.router.add_get(path, route.handler, allow_head=False)
            else:
                app.router.add_route(route.method, path, route.handler)


def make_app(ctx: ApiContext) -> web.Application:
    app = web.Application(middlewares=[docker_middleware], client_max_size=ctx.max_body)
    app[CTX] = ctx
    app.on_response_prepare.append(_standard_headers)
    _register(app, all_routes())
    return app
