"""Docker's container records routes: create, list, inspect, remove, rename.

Lifecycle routes (start, stop, wait...) live in berth.api.lifecycle, stdio (logs, attach) in
berth.api.stdio; this module collects all of them in ``ROUTES``.
"""

from __future__ import annotations

import math

from aiohttp import web

from berth.api import lifecycle, stdio
from berth.api.base import Route, api_version, ctx_of, no_content, reply
from berth.api.ctrparse import parse_container_create, validate_container_name
from berth.api.ctrview import NetInfo, inspect_json, summary_json
from berth.api.errors import BadRequest, Unsupported
from berth.api.filters import Filters
from berth.api.requests import query_bool, query_int, read_json
from berth.api.timefmt import parse_datetime
from berth.runtime.api import Container

LIST_FILTERS = ("id", "name", "label", "status", "network", "exited", "before", "since", "ancestor")
_DOCKER_ONLY_FILTERS = ("volume", "health", "isolation", "is-task", "publish", "expose")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


async def create_container(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await read_json(request, ctx.max_body, "container create request")
    config = parse_container_create(body, request.query.get("name", ""), api_version(request))
    container = await ctx.containers.create(config)
    return reply({"Id": container.id, "Warnings": []}, status=201)


def _list_filters(request: web.Request) -> Filters:
    raw = request.query.get("filters", "")
    filters = Filters.parse(raw, (*LIST_FILTERS, *_DOCKER_ONLY_FILTERS))
    for key in _DOCKER_ONLY_FILTERS:
        if filters.contains(key):
            raise Unsupported(f"the container filter '{key}'")
    for status in filters.get("status"):
        if status not in STATUSES:
            raise BadRequest(f"invalid filter 'status={status}' (one of {', '.join(STATUSES)})")
    for code in filters.get("exited"):
        if not code.lstrip("-").isdigit():
            raise BadRequest(f"invalid filter 'exited={code}': not an integer")
    return filters


def _matches(filters: Filters, c: Container, networks: set[str]) -> bool:
    if filters.contains("id") and not filters.match("id", c.id):
        return False
    if filters.contains("name") and not (
        filters.match("name", c.name) or filters.match("name", f"/{c.name}")
    ):
        return False
    if not filters.labels("label", c.config.labels):
        return False
    if not filters.exact("status", c.state.status):
        return False
    if not filters.exact("ancestor", c.config.image):
        return False
    codes = filters.get("exited")
    if codes and (c.state.status != "exited" or str(c.state.exit_code) not in codes):
        return False
    wanted = filters.get("network")
    return not wanted or bool(wanted & networks)


def _created(c: Container) -> float:
    moment = parse_datetime(c.created)
    return moment.timestamp() if moment else 0.0


def _bounds(filters: Filters, containers: list[Container]) -> tuple[float, float]:
    """`before`/`since` name containers; only ones created before/after them are listed."""

    def created(ref: str | None, default: float) -> float:
        if ref is None:
            return default
        for c in containers:
            if ref in (c.id, c.name) or c.id.startswith(ref):
                return _created(c)
        raise BadRequest(f"invalid filter: no such container {ref!r}")

    return created(filters.single("before"), math.inf), created(filters.single("since"), -math.inf)


async def list_containers(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    filters = _list_filters(request)
    limit = query_int(request, "limit", -1) or -1
    everything = query_bool(request, "all") or limit > 0
    everything = everything or filters.contains("status") or filters.contains("exited")
    containers = sorted(ctx.containers.list(all=True), key=_created, reverse=True)
    before, after = _bounds(filters, containers)
    info = await ctx.blocking(NetInfo.read, ctx.controller)
    version = api_version(request)
    found = []
    for c in containers:
        if not (everything or c.state.running):
            continue
        if not after < _created(c) < before:
            continue
        eps = ctx.containers.endpoints(c.id)
        names = {info.name_of(net_id) for net_id in eps} | set(eps)
        if not _matches(filters, c, names):
            continue
        found.append(summary_json(c, eps, info, version))
        if 0 < limit <= len(found):
            break
    return reply(found)


async def inspect_container(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    container = ctx.containers.get(request.match_info["id"])
    eps = ctx.containers.endpoints(container.id)
    info = await ctx.blocking(NetInfo.read, ctx.controller)
    version = api_version(request)
    return reply(inspect_json(container, eps, info, version, ctx.info.data_root))


async def remove_container(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    if query_bool(request, "link"):
        raise Unsupported("removing legacy links (link=true)")
    await ctx.containers.remove(request.match_info["id"], force=query_bool(request, "force"))
    return no_content()


async def rename_container(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    name = request.query.get("name", "")
    if not name:
        raise BadRequest("Neither old nor new names may be empty")
    await ctx.containers.rename(request.match_info["id"], validate_container_name(name))
    return no_content()


ROUTES = [
    Route("POST", "/containers/create", create_container),
    Route("GET", "/containers/json", list_containers),
    Route("GET", "/containers/{id}/json", inspect_container),
    Route("DELETE", "/containers/{id}", remove_container),
    Route("POST", "/containers/{id}/rename", rename_container),
    *lifecycle.ROUTES,
    *stdio.ROUTES,
]
