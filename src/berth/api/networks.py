"""Docker's /networks routes over the NetworkController (and the container service for
connect/disconnect, since joining a network is something that happens to a container)."""

from __future__ import annotations

import logging

from aiohttp import web

from berth.api.base import Route, at_least, ctx_of, empty_ok, no_content, reply
from berth.api.errors import BadRequest
from berth.api.filters import Filters
from berth.api.netparse import parse_endpoint_settings, parse_network_create
from berth.api.netview import (
    LIST_FILTERS,
    PRUNE_FILTERS,
    NetworkView,
    check_list_filters,
    created_after,
    is_predefined,
    matches,
    network_json,
)
from berth.api.requests import read_json
from berth.api.timefmt import parse_time_filter
from berth.model.errors import ActiveEndpoints, BerthError, ContainerNotFound, Forbidden, NotFound
from berth.model.network import Network
from berth.model.options import parse_bool

log = logging.getLogger(__name__)


async def list_networks(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    filters = Filters.from_query(request, LIST_FILTERS)
    dangling = check_list_filters(filters)
    view = await ctx.blocking(NetworkView.read, ctx.controller)
    # API >= 1.28 lists networks without their containers (the field stays, empty)
    with_containers = not at_least(request, "1.28")
    return reply(
        [
            network_json(n, view.containers(n) if with_containers else {})
            for n in view.networks
            if matches(filters, n, view.in_use(n), dangling)
        ]
    )


async def inspect_network(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    ref = request.match_info["id"]
    verbose = request.query.get("verbose", "")
    if verbose:
        try:
            parse_bool("verbose", verbose)
        except BerthError:
            raise BadRequest(f"invalid value for verbose: {verbose}") from None
    network = await ctx.blocking(ctx.controller.network, ref)
    scope = request.query.get("scope", "")
    if scope and scope != network.scope:
        raise NotFound(f"network {ref} not found")
    view = await ctx.blocking(NetworkView.read, ctx.controller)
    return reply(network_json(network, view.containers(network)))


async def create_network(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await read_json(request, ctx.max_body, "network create request")
    spec = parse_network_create(body)
    network = await ctx.blocking(ctx.controller.create_network, spec)
    return reply({"Id": network.id, "Warning": ""}, status=201)


async def delete_network(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    network = await ctx.blocking(ctx.controller.network, request.match_info["id"])
    try:
        await ctx.blocking(ctx.controller.delete_network, network.id)
    except ActiveEndpoints:
        raise await _active_endpoints(request, network) from None
    return no_content()


async def _active_endpoints(request: web.Request, network: Network) -> Forbidden:
    """Docker's message names the containers still attached."""
    ctx = ctx_of(request)
    view = await ctx.blocking(NetworkView.read, ctx.controller)
    names = ", ".join(sorted(c["Name"] for c in view.containers(network).values()))
    return Forbidden(
        f"error while removing network: network {network.name} has active endpoints ({names})"
    )


async def connect_network(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await read_json(request, ctx.max_body, "network connect request")
    container = body.required_text("Container")
    settings = parse_endpoint_settings(body.obj("EndpointConfig"))
    body.done()
    network = await ctx.blocking(ctx.controller.network, request.match_info["id"])
    await ctx.containers.connect(container, network.name, settings)
    return empty_ok()


async def disconnect_network(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await read_json(request, ctx.max_body, "network disconnect request")
    container = body.required_text("Container")
    force = body.flag("Force")
    body.done()
    network = await ctx.blocking(ctx.controller.network, request.match_info["id"])
    try:
        await ctx.containers.disconnect(container, network.name, force=force)
    except ContainerNotFound:
        if not force:
            raise
        # Docker's Force: remove a stale endpoint whose container is gone
        try:
            await ctx.blocking(ctx.controller.disconnect, network.id, container)
        except NotFound:
            raise ContainerNotFound(container) from None
    return empty_ok()


async def prune_networks(request: web.Request) -> web.Response:
    """Remove unused user-defined networks matching the filters; a network that gains an
    endpoint meanwhile is skipped, not an error (Docker does the same)."""
    ctx = ctx_of(request)
    filters = Filters.from_query(request, PRUNE_FILTERS)
    until_value = filters.single("until")
    until = parse_time_filter(until_value, "until") if until_value is not None else None
    view = await ctx.blocking(NetworkView.read, ctx.controller)
    deleted: list[str] = []
    for network in view.networks:
        if is_predefined(network) or view.in_use(network):
            continue
        if not filters.labels("label", network.labels):
            continue
        if filters.contains("label!") and filters.labels("label!", network.labels):
            continue
        if until is not None and created_after(network, until):
            continue
        try:
            await ctx.blocking(ctx.controller.delete_network, network.id)
        except BerthError as err:
            log.info("prune: keeping network %s: %s", network.name, err)
            continue
        deleted.append(network.name)
    return reply({"NetworksDeleted": deleted})


ROUTES = [
    Route("GET", "/networks", list_networks),
    Route("GET", "/networks/{id}", inspect_network),
    Route("POST", "/networks/create", create_network),
    Route("DELETE", "/networks/{id}", delete_network),
    Route("POST", "/networks/{id}/connect", connect_network),
    Route("POST", "/networks/{id}/disconnect", disconnect_network),
    Route("POST", "/networks/prune", prune_networks),
]
