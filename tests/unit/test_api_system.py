"""System routes, version negotiation, headers, routing errors, and the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from berth.api.app import VERSION_PREFIX
from berth.api.openapi import document
from tests.unit.apitools import Env, start_env, stop_env


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = await start_env()
    yield e
    await stop_env(e)


def assert_standard_headers(r: object) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    assert headers["Api-Version"] == "1.47"
    assert headers["Ostype"] == "linux"
    assert headers["Server"] == "berth/0.1.0 (linux)"


async def test_ping_head_and_get(env: Env) -> None:
    r = await env.client.head("/_ping")
    assert r.status == 200 and await r.read() == b""
    assert r.headers["Content-Length"] == "0"
    assert_standard_headers(r)
    assert r.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert r.headers["Swarm"] == "inactive"
    r = await env.client.get("/v1.24/_ping")
    assert r.status == 200 and await r.text() == "OK"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert_standard_headers(r)


async def test_version_for_docker_py(env: Env) -> None:
    r = await env.client.get("/version")
    data = await r.json()
    assert r.headers["Content-Type"] == "application/json"
    assert data["ApiVersion"] == "1.47" and data["MinAPIVersion"] == "1.24"
    assert data["Os"] == "linux" and data["Version"] == "0.1.0"
    assert data["Components"][0]["Name"] == "Engine"


async def test_info(env: Env) -> None:
    data = await (await env.client.get("/v1.44/info")).json()
    assert data["Name"] == "unit-host" and data["ServerVersion"] == "0.1.0"
    assert data["OSType"] == "linux" and data["Driver"] == "berth"
    assert data["Plugins"]["Network"] == ["bridge", "host", "null"]
    assert data["DockerRootDir"] == "/fake/state"
    assert data["DefaultAddressPools"] == [{"Base": "172.17.0.0/16", "Size": 16}]
    assert data["Containers"] == data["ContainersRunning"] == data["ContainersStopped"] == 0
    for key in ("OperatingSystem", "Architecture", "KernelVersion", "NCPU", "MemTotal"):
        assert data[key]


class _Dns:
    def snapshot(self) -> dict[str, int]:
        return {"sandboxes": 2, "queries": 9, "no_answer": 3}


async def test_info_shows_the_embedded_dns_counters(env: Env) -> None:
    data = await (await env.client.get("/info")).json()
    assert not [row for row in data["DriverStatus"] if row[0].startswith("Embedded DNS")]
    env.ctx.extra["dns"] = _Dns()
    rows = dict((await (await env.client.get("/info")).json())["DriverStatus"])
    assert rows["Embedded DNS sandboxes"] == "2" and rows["Embedded DNS queries"] == "9"
    assert rows["Embedded DNS SERVFAIL, no upstream answered"] == "3"
    assert rows["Embedded DNS forwarded"] == "0"


@pytest.mark.parametrize(
    ("version", "status"),
    [("1.24", 200), ("1.30", 200), ("1.47", 200), ("1.47.0", 200), ("1.9", 400)],
)
async def test_version_range(env: Env, version: str, status: int) -> None:
    r = await env.client.get(f"/v{version}/networks")
    assert r.status == status


async def test_version_errors_are_dockers(env: Env) -> None:
    r = await env.client.get("/v1.48/networks")
    assert r.status == 400
    assert (await r.json())["message"] == (
        "client version 1.48 is too new. Maximum supported API version is 1.47"
    )
    assert_standard_headers(r)
    r = await env.client.get("/v1.23/networks")  # below 1.24: plain text, like dockerd
    assert r.status == 400 and r.headers["Content-Type"].startswith("text/plain")
    assert await r.text() == (
        "client version 1.23 is too old. Minimum supported API version is 1.24, please "
        "upgrade your client to a newer version\n"
    )
    assert_standard_headers(r)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/v1.47/nope"),
        ("PUT", "/networks"),  # wrong method: dockerd answers 404 too
        ("DELETE", "/_ping"),
        ("HEAD", "/networks"),  # only /_ping answers HEAD
        ("GET", "/vx/networks"),
    ],
)
async def test_unknown_routes(env: Env, method: str, path: str) -> None:
    r = await env.client.request(method, path)
    assert r.status == 404
    if method != "HEAD":
        assert await r.json() == {"message": "page not found"}
        assert r.headers["Content-Type"] == "application/json"
    assert_standard_headers(r)


def router_routes(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        assert path, route
        if path.startswith(VERSION_PREFIX.replace("{version:[0-9.]+}", "{version}")):
            continue
        found.add((route.method.lower(), re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)))
    return found


async def test_openapi_matches_the_router_both_ways(env: Env) -> None:
    documented = {(method, path) for path, item in document()["paths"].items() for method in item}
    served = router_routes(env.app)
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"
    versioned = {
        r.resource.get_info().get("formatter") for r in env.app.router.routes() if r.resource
    }
    for _method, path in served:
        assert "/v{version}" + path in versioned, path


async def test_openapi_is_served_and_consistent(env: Env) -> None:
    data = await (await env.client.get("/openapi.json")).json()
    assert data["openapi"].startswith("3.")
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', str(data).replace("'", '"')))
    assert refs <= set(data["components"]["schemas"]), "dangling $ref"
    operation_ids = [op["operationId"] for item in data["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
