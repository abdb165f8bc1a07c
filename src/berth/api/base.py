"""Plumbing every route module shares: the context key, the negotiated API version, the route
record, and JSON replies in Docker's exact content type."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from berth.api.context import MAX_API_VERSION, ApiContext

CTX = web.AppKey("berth_api_context", ApiContext)
VERSION_KEY = web.RequestKey("berth_api_version", str)
STREAM_STARTED = web.RequestKey("berth_stream_started", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One Docker route; the app serves it unversioned and under /v{version}."""

    method: str
    path: str
    handler: Handler


def ctx_of(request: web.Request) -> ApiContext:
    return request.app[CTX]


def version_tuple(version: str) -> tuple[int, ...]:
    """Docker's version compare: dotted integers, missing or non-numeric parts are 0."""
    parts = []
    for part in version.split("."):
        parts.append(int(part) if part.isdigit() else 0)
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def api_version(request: web.Request) -> str:
    version: str = request.get(VERSION_KEY, MAX_API_VERSION)
    return version


def at_least(request: web.Request, version: str) -> bool:
    return version_tuple(api_version(request)) >= version_tuple(version)


def dumps(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def reply(data: Any, status: int = 200) -> web.Response:
    """JSON like Docker's WriteJSON: ``Content-Type: application/json`` (no charset: the docker
    CLI compares the header exactly) and a trailing newline."""
    return web.Response(status=status, body=dumps(data), content_type="application/json")


def no_content() -> web.Response:
    return web.Response(status=204)


def empty_ok() -> web.Response:
    return web.Response(status=200)
