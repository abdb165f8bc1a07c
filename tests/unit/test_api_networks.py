"""/networks routes over a real controller (fake kernel): Docker's shapes, filters, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from ipaddress import IPv4Address
from typing import Any

import pytest

from berth.runtime.api import ContainerConfig
from tests.unit.apitools import Env, start_env, stop_env

# what `docker network create foo` (CLI 28.2) sends, byte for byte
CLI_CREATE = (
    '{"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[]},'
    '"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,'
    '"Options":{},"Labels":{},"Name":"foo"}'
)
# what docker-py 7.2 sends for networks.create("pynet", ipam=IPAMConfig(pool_configs=[IPAMPool()]))
PY_CREATE = {
    "Name": "pynet",
    "Driver": None,
    "Options": None,
    "IPAM": {
        "Driver": "default",
        "Config": [{"Subnet": None, "IPRange": None, "Gateway": None, "AuxiliaryAddresses": None}],
        "Options": None,
    },
    "CheckDuplicate": None,
}


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = await start_env()
    yield e
    await stop_env(e)


async def create(env: Env, **body: Any) -> dict[str, Any]:
    r = await env.client.post("/v1.47/networks/create", json=body)
    assert r.status == 201, await r.text()
    data: dict[str, Any] = await r.json()
    return data


async def get(env: Env, path: str, status: int = 200) -> Any:
    r = await env.client.get(path)
    assert r.status == status, await r.text()
    return await r.json()


async def run_container(env: Env, name: str, network: str = "bridge", **kw: Any) -> str:
    config = ContainerConfig(cmd=("sleep", "1"), name=name, network_mode=network, **kw)
    c = await env.containers.create(config)
    await env.containers.start(c.id)
    return c.id


async def test_cli_create_body_and_shape(env: Env) -> None:
    r = await env.client.post(
        "/v1.47/networks/create", data=CLI_CREATE, headers={"Content-Type": "application/json"}
    )
    assert r.status == 201
    created = await r.json()
    assert created["Warning"] == "" and len(created["Id"]) == 64
    net = await get(env, "/v1.47/networks/foo")
    assert list(net) == [
        "Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal",
        "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    ]  # fmt: skip
    assert net["Id"] == created["Id"] and net["Scope"] == "local" and net["Driver"] == "bridge"
    assert net["Created"].endswith("Z") and "+" not in net["Created"]
    (pool,) = net["IPAM"]["Config"]
    assert set(pool) == {"Subnet", "Gateway"}  # the allocated subnet is shown
    assert net["ConfigFrom"] == {"Network": ""} and net["Containers"] == {}


async def test_docker_py_nulls_are_tolerated(env: Env) -> None:
    await create(env, **PY_CREATE)
    net = await get(env, "/networks/pynet")
    assert net["Driver"] == "bridge" and net["IPAM"]["Driver"] == "default"


async def test_every_create_field(env: Env) -> None:
    body = {
        "Name": "full",
        "CheckDuplicate": True,
        "Driver": "bridge",
        "Scope": "local",
        "Internal": True,
        "Attachable": True,
        "Ingress": False,
        "ConfigOnly": False,
        "ConfigFrom": {"Network": ""},
        "EnableIPv4": True,
        "EnableIPv6": True,
        "IPAM": {
            "Driver": "default",
            "Config": [
                {
                    "Subnet": "172.20.0.0/16",
                    "IPRange": "172.20.10.0/24",
                    "Gateway": "172.20.10.11",
                    "AuxiliaryAddresses": {"router": "172.20.1.5"},
                },
                {"Subnet": "fd00:20::/64"},
            ],
            "Options": {"foo": "bar"},
        },
        "Options": {
            "com.docker.network.bridge.name": "brfull",
            "com.docker.network.driver.mtu": "1400",
        },
        "Labels": {"com.example.k": "v"},
    }
    await create(env, **body)
    net = await get(env, "/networks/full")
    assert net["Internal"] and net["Attachable"] and net["EnableIPv6"]
    assert net["IPAM"]["Options"] == {"foo": "bar"}
    v4, v6 = net["IPAM"]["Config"]
    assert v4 == {
        "Subnet": "172.20.0.0/16",
        "IPRange": "172.20.10.0/24",
        "Gateway": "172.20.10.11",
        "AuxiliaryAddresses": {"router": "172.20.1.5"},
    }
    assert v6["Subnet"] == "fd00:20::/64"
    assert net["Options"]["com.docker.network.bridge.name"] == "brfull"
    assert net["Labels"] == {"com.example.k": "v"}
    assert env.fake.get_link(None, "brfull") is not None


async def test_enable_ipv6_option_decides_when_field_absent(env: Env) -> None:
    await create(env, Name="v6opt", Options={"com.docker.network.enable_ipv6": "true"})
    net = await get(env, "/networks/v6opt")
    assert net["EnableIPv6"] and len(net["IPAM"]["Config"]) == 2
    assert "com.docker.network.enable_ipv6" not in net["Options"]


async def test_inspect_by_id_prefix_and_containers_map(env: Env) -> None:
    created = await create(env, Name="front", IPAM={"Config": [{"Subnet": "10.1.0.0/24"}]})
    cid = await run_container(env, "web", "front")
    for ref in (created["Id"], "front", created["Id"][:5]):
        net = await get(env, f"/networks/{ref}")
        assert net["Name"] == "front"
    entry = net["Containers"][cid]
    assert entry["Name"] == "web" and entry["IPv4Address"] == "10.1.0.2/24"
    assert entry["IPv6Address"] == "" and len(entry["EndpointID"]) == 64
    assert entry["MacAddress"]
    listed = await get(env, "/networks?filters=" + json.dumps({"name": ["front"]}))
    assert listed[0]["Containers"] == {}  # lists leave containers out (API >= 1.28)
    old = await get(env, "/v1.27/networks?filters=" + json.dumps({"name": ["front"]}))
    assert cid in old[0]["Containers"]


async def test_inspect_unknown_and_scope(env: Env) -> None:
    data = await get(env, "/networks/nosuch", 404)
    assert data == {"message": "network nosuch not found"}
    await get(env, "/networks/bridge?scope=swarm", 404)
    await get(env, "/networks/bridge?verbose=maybe", 400)
    assert (await get(env, "/networks/bridge?verbose=true&scope=local"))["Name"] == "bridge"


async def test_list_filters(env: Env) -> None:
    await create(env, Name="alpha", Labels={"team": "a", "tier": "web"})
    await create(env, Name="beta", Labels={"team": "b"})
    await run_container(env, "c1", "beta")

    async def names(filters: dict[str, Any]) -> list[str]:
        data = await get(env, "/networks?filters=" + json.dumps(filters))
        return sorted(n["Name"] for n in data)

    assert await names({}) == ["alpha", "beta", "bridge", "host", "none"]
    assert await names({"driver": {"bridge": True}}) == ["alpha", "beta", "bridge"]
    assert await names({"driver": ["null"]}) == ["none"]
    assert await names({"name": {"al": True}}) == ["alpha"]  # partial, like Docker's regex
    assert await names({"name": ["^b"]}) == ["beta", "bridge"]
    assert await names({"label": ["team"]}) == ["alpha", "beta"]
    assert await names({"label": ["team=a", "tier=web"]}) == ["alpha"]
    assert await names({"scope": ["local"]}) == ["alpha", "beta", "bridge", "host", "none"]
    assert await names({"type": ["custom"]}) == ["alpha", "beta"]
    assert await names({"type": ["builtin"]}) == ["bridge", "host", "none"]
    assert await names({"dangling": ["true"]}) == ["alpha"]
    assert await names({"dangling": ["0"]}) == ["beta", "bridge", "host", "none"]
    alpha = await get(env, "/networks/alpha")
    assert await names({"id": [alpha["Id"][:10]]}) == ["alpha"]


async def test_create_predefined_and_duplicate(env: Env) -> None:
    r = await env.client.post("/networks/create", json={"Name": "bridge"})
    assert r.status == 403
    assert (await r.json())["message"] == "operation is not permitted on predefined bridge network "
    await create(env, Name="dup")
    r = await env.client.post("/networks/create", json={"Name": "dup", "CheckDuplicate": False})
    assert r.status == 409
    assert (await r.json())["message"] == "network with name dup already exists"


async def test_delete(env: Env) -> None:
    created = await create(env, Name="gone")
    r = await env.client.delete(f"/v1.41/networks/{created['Id'][:12]}")
    assert r.status == 204 and await r.read() == b""
    assert env.fake.get_link(None, f"br-{created['Id'][:12]}") is None
    r = await env.client.delete("/networks/host")
    assert r.status == 403
    assert (await r.json())["message"] == "host is a pre-defined network and cannot be removed"
    await create(env, Name="busy")
    await run_container(env, "b1", "busy")
    r = await env.client.delete("/networks/busy")
    assert r.status == 403
    assert (await r.json())["message"] == (
        "error while removing network: network busy has active endpoints (b1)"
    )
    r = await env.client.delete("/networks/gone")
    assert r.status == 404


async def test_connect_and_disconnect(env: Env) -> None:
    await create(env, Name="back", IPAM={"Config": [{"Subnet": "10.2.0.0/24"}]})
    cid = await run_container(env, "app")
    body = {
        "Container": "app",
        "EndpointConfig": {
            "IPAMConfig": {"IPv4Address": "10.2.0.50"},
            "Links": ["other:alias"],
            "Aliases": ["api"],
            "MacAddress": "",
            "DriverOpts": {},
            "GwPriority": 0,
            "NetworkID": "",
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": None,
        },
    }
    r = await env.client.post("/v1.47/networks/back/connect", json=body)
    assert r.status == 200, await r.text()
    settings = env.containers.get("app").config.networks["back"]
    assert settings.ipv4 == IPv4Address("10.2.0.50") and settings.aliases == ("api",)
    assert settings.links == ("other:alias",)
    net = await get(env, "/networks/back")
    assert net["Containers"][cid]["IPv4Address"] == "10.2.0.50/24"
    r = await env.client.post(
        "/networks/back/disconnect", json={"Container": "app", "Force": False}
    )
    assert r.status == 200
    assert (await get(env, "/networks/back"))["Containers"] == {}
    r = await env.client.post("/networks/back/connect", json={"Container": "ghost"})
    assert r.status == 404 and (await r.json())["message"] == "No such container: ghost"


async def test_force_disconnect_of_a_stale_endpoint(env: Env) -> None:
    """The container record is gone but its sandbox still has an endpoint."""
    await create(env, Name="stale", IPAM={"Config": [{"Subnet": "10.3.0.0/24"}]})
    cid = await run_container(env, "ghost", "stale")
    del env.containers.records[cid]
    r = await env.client.post("/networks/stale/disconnect", json={"Container": "ghost"})
    assert r.status == 404
    r = await env.client.post("/networks/stale/disconnect", json={"Container": cid, "Force": True})
    assert r.status == 200
    assert (await get(env, "/networks/stale"))["Containers"] == {}


async def test_prune(env: Env) -> None:
    await create(env, Name="p1", Labels={"keep": "no"})
    await create(env, Name="p2", Labels={"keep": "yes"})
    await create(env, Name="p3")
    await create(env, Name="used")
    await run_container(env, "u", "used")
    r = await env.client.post("/networks/prune?filters=" + json.dumps({"until": ["1h"]}))
    assert (await r.json()) == {"NetworksDeleted": []}  # all created just now
    r = await env.client.post("/networks/prune?filters=" + json.dumps({"label": {"keep=no": True}}))
    assert (await r.json()) == {"NetworksDeleted": ["p1"]}
    r = await env.client.post("/networks/prune?filters=" + json.dumps({"label!": ["keep=yes"]}))
    assert (await r.json()) == {"NetworksDeleted": ["p3"]}
    r = await env.client.post("/networks/prune")
    assert (await r.json()) == {"NetworksDeleted": ["p2"]}
    names = sorted(n["Name"] for n in await get(env, "/networks"))
    assert names == ["bridge", "host", "none", "used"]


async def test_network_events_reach_the_bus(env: Env) -> None:
    await create(env, Name="ev")
    await env.client.delete("/networks/ev")
    actions = [(e.type, e.action, e.attributes["name"]) for e in env.events.history]
    assert ("network", "create", "ev") in actions and ("network", "destroy", "ev") in actions
