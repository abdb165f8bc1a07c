"""Container routes: create (the docker CLI's full body, docker-py's), list, inspect shapes and
NetworkSettings, lifecycle status codes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from ipaddress import IPv4Address
from typing import Any

import pytest

from berth.model.ports import PortMapping
from berth.runtime.api import RestartPolicy
from tests.unit.apitools import Env, start_env, stop_env

# `docker create --name y -p 8080:80 --network front --ip 10.1.0.5 --dns 1.1.1.1
#  --restart on-failure:3 -h hh -e A=b --network-alias foo alpine sleep 1` (CLI 28.2.2)
CLI_BODY = (
    '{"Hostname":"hh","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,'
    '"AttachStderr":true,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,'
    '"StdinOnce":false,"Env":["A=b"],"Cmd":["sleep","1"],"Image":"alpine","Volumes":{},'
    '"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,'
    '"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"front",'
    '"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":'
    '"on-failure","MaximumRetryCount":3},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,'
    '"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":["1.1.1.1"],'
    '"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"",'
    '"Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,'
    '"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,'
    '"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,'
    '"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],'
    '"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,'
    '"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],'
    '"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,'
    '"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,'
    '"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,'
    '"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"front":{"IPAMConfig":'
    '{"IPv4Address":"10.1.0.5"},"Links":null,"Aliases":["foo"],"MacAddress":"","DriverOpts":null,'
    '"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,'
    '"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}'
)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = await start_env()
    r = await e.client.post(
        "/networks/create", json={"Name": "front", "IPAM": {"Config": [{"Subnet": "10.1.0.0/24"}]}}
    )
    assert r.status == 201
    yield e
    await stop_env(e)


async def create(env: Env, name: str, body: dict[str, Any] | str, status: int = 201) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    r = await env.client.post(
        f"/v1.47/containers/create?name={name}",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    assert r.status == status, await r.text()
    return await r.json()


async def post(env: Env, path: str, status: int) -> bytes:
    r = await env.client.post(path)
    assert r.status == status, await r.text()
    return await r.read()


async def test_cli_create_body_maps_to_the_runtime_config(env: Env) -> None:
    created = await create(env, "y", CLI_BODY)
    assert created == {"Id": created["Id"], "Warnings": []}
    config = env.containers.get("y").config
    assert config.cmd == ("sleep", "1") and config.image == "alpine"
    assert config.hostname == "hh" and config.env == ("A=b",)
    assert config.network_mode == "front" and config.dns == ("1.1.1.1",)
    assert config.exposed_ports == ((80, "tcp"),)
    assert config.port_bindings == (PortMapping(80, "tcp", None, (8080, 8080)),)
    assert config.restart_policy == RestartPolicy("on-failure", 3)
    front = config.networks["front"]
    assert front.ipv4 == IPv4Address("10.1.0.5") and front.aliases == ("foo",)


async def test_default_network_endpoint_is_renamed(env: Env) -> None:
    body = {
        "Cmd": ["true"],
        "HostConfig": {"NetworkMode": "default"},
        "NetworkingConfig": {"EndpointsConfig": {"default": {"Aliases": ["x"]}}},
    }
    await create(env, "d1", body)
    config = env.containers.get("d1").config
    assert config.network_mode == "bridge" and set(config.networks) == {"bridge"}


async def test_docker_py_body(env: Env) -> None:
    body = {
        "Hostname": None,
        "Domainname": None,
        "ExposedPorts": {"80/tcp": {}},
        "User": None,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Env": None,
        "Cmd": ["sh", "-c", "echo hi"],
        "Image": "busybox",
        "Volumes": None,
        "NetworkDisabled": False,
        "Entrypoint": None,
        "WorkingDir": None,
        "Labels": {"k": "v"},
        "StopSignal": None,
        "Healthcheck": None,
        "StopTimeout": None,
        "HostConfig": {
            "NetworkMode": "front",
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
            "RestartPolicy": {"Name": "always"},
        },
        "NetworkingConfig": None,
    }
    await create(env, "py1", body)
    config = env.containers.get("py1").config
    assert config.labels == {"k": "v"} and config.restart_policy.name == "always"
    assert config.port_bindings == (PortMapping(80, "tcp", IPv4Address("127.0.0.1"), None),)


async def test_inspect_shape_and_network_settings(env: Env) -> None:
    created = await create(env, "web", CLI_BODY)
    cid = created["Id"]
    data = await (await env.client.get("/containers/web/json")).json()
    assert data["State"]["Status"] == "created" and data["Name"] == "/web"
    assert data["Path"] == "sleep" and data["Args"] == ["1"]
    assert data["HostsPath"] == "/x/web/hosts" and data["HostnamePath"] == "/x/web/hostname"
    assert data["LogPath"] == f"/fake/state/containers/{cid}/{cid}-json.log"
    assert data["HostConfig"]["NetworkMode"] == "front"
    assert data["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert data["HostConfig"]["Privileged"] is False
    assert data["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert data["NetworkSettings"]["Networks"]["front"]["IPAddress"] == ""
    await post(env, f"/containers/{cid[:8]}/start", 204)
    data = await (await env.client.get(f"/containers/{cid}/json")).json()
    state = data["State"]
    assert state["Running"] and state["Status"] == "running" and state["Pid"] == 4242
    settings = data["NetworkSettings"]
    assert settings["SandboxID"] == cid and settings["SandboxKey"].endswith(cid)
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    front = settings["Networks"]["front"]
    assert front["IPAddress"] == "10.1.0.5" and front["IPPrefixLen"] == 24
    assert front["Gateway"] == "10.1.0.1" and front["IPAMConfig"] == {"IPv4Address": "10.1.0.5"}
    assert front["Aliases"] == ["foo"] and len(front["NetworkID"]) == 64
    assert front["DNSNames"] == ["web", "foo", cid[:12], "hh"]
    assert settings["IPAddress"] == ""  # the legacy fields describe the default bridge only
    old = await (await env.client.get(f"/v1.43/containers/{cid}/json")).json()
    assert "DNSNames" not in old["NetworkSettings"]["Networks"]["front"]


async def test_default_bridge_legacy_fields(env: Env) -> None:
    await create(env, "b", {"Cmd": ["true"]})
    await post(env, "/containers/b/start", 204)
    data = await (await env.client.get("/containers/b/json")).json()
    settings = data["NetworkSettings"]
    assert settings["IPAddress"].startswith("172.17.") and settings["Gateway"] == "172.17.0.1"
    assert settings["MacAddress"] and settings["EndpointID"]
    assert settings["Networks"]["bridge"]["DNSNames"] is None


async def test_list_shape_and_filters(env: Env) -> None:
    await create(env, "web", CLI_BODY)
    await create(env, "idle", {"Cmd": ["true"], "Labels": {"role": "idle"}})
    await post(env, "/containers/web/start", 204)

    async def names(query: str = "") -> list[str]:
        data = await (await env.client.get(f"/containers/json{query}")).json()
        return [c["Names"][0] for c in data]

    assert await names() == ["/web"]
    assert await names("?all=1") == ["/idle", "/web"]  # newest first
    assert await names("?limit=1") == ["/idle"]
    q = "?all=true&filters="
    assert await names(q + json.dumps({"status": ["created"]})) == ["/idle"]
    assert await names(q + json.dumps({"label": {"role=idle": True}})) == ["/idle"]
    assert await names(q + json.dumps({"name": ["we"]})) == ["/web"]
    assert await names(q + json.dumps({"network": ["front"]})) == ["/web"]
    assert await names(q + json.dumps({"before": ["idle"]})) == ["/web"]
    assert await names(q + json.dumps({"since": ["web"]})) == ["/idle"]
    assert await names(q + json.dumps({"ancestor": ["alpine"]})) == ["/web"]
    web = (await (await env.client.get("/containers/json")).json())[0]
    assert web["Command"] == "sleep 1" and web["Image"] == "alpine"
    assert web["State"] == "running" and web["Status"].startswith("Up ")
    assert isinstance(web["Created"], int) and web["HostConfig"] == {"NetworkMode": "front"}
    assert web["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]
    assert web["NetworkSettings"]["Networks"]["front"]["IPAddress"] == "10.1.0.5"
    await post(env, "/containers/web/stop?t=1", 204)
    exited = await names(q + json.dumps({"exited": ["0"]}))
    assert exited == ["/web"]
    summary = (await (await env.client.get("/containers/json?all=1")).json())[1]
    assert summary["Status"].startswith("Exited (0) ") and summary["Ports"] == [
        {"PrivatePort": 80, "Type": "tcp"}
    ]


async def test_lifecycle_status_codes(env: Env) -> None:
    await create(env, "life", {"Cmd": ["sleep", "9"]})
    await post(env, "/containers/life/start", 204)
    assert await post(env, "/containers/life/start", 304) == b""
    await post(env, "/containers/life/restart?t=2", 204)
    await post(env, "/containers/life/stop?t=5&signal=SIGINT", 204)
    assert env.containers.calls[-1] == ("stop", ("life", 5.0, "SIGINT"))
    await post(env, "/containers/life/stop", 304)
    r = await env.client.post("/containers/life/kill")
    assert r.status == 409
    await post(env, "/containers/life/start", 204)
    await post(env, "/containers/life/kill?signal=SIGTERM", 204)
    assert env.containers.calls[-1] == ("kill", ("life", "SIGTERM"))
    await post(env, "/containers/life/rename?name=renamed", 204)
    assert env.containers.get("renamed").name == "renamed"
    await post(env, "/containers/renamed/start", 204)
    await post(env, "/containers/renamed/resize?h=40&w=120", 200)
    assert env.containers.resized[-1][1:] == (40, 120)
    r = await env.client.delete("/containers/renamed")
    assert r.status == 409
    r = await env.client.delete("/containers/renamed?force=1&v=1")
    assert r.status == 204
    r = await env.client.get("/containers/renamed/json")
    assert r.status == 404 and (await r.json())["message"] == "No such container: renamed"
    actions = [e.action for e in env.events.history if e.type == "container"]
    assert actions[0] == "create" and actions[-1] == "destroy"


async def test_wait(env: Env) -> None:
    await create(env, "w", {"Cmd": ["true"]})
    await post(env, "/containers/w/start", 204)
    r = await env.client.post("/containers/w/wait?condition=not-running")
    assert r.status == 200  # the headers arrived before the container stopped
    await post(env, "/containers/w/kill", 204)
    assert await r.json() == {"StatusCode": 137, "Error": None}
    r = await env.client.post("/containers/w/wait")
    assert await r.json() == {"StatusCode": 137, "Error": None}


async def test_rootfs_extension(env: Env) -> None:
    body = {"Cmd": ["true"], "HostConfig": {"Rootfs": "/srv/root"}}
    await create(env, "r1", body)
    assert env.containers.get("r1").config.rootfs == "/srv/root"
    r = await env.client.get("/containers/r1/json")
    assert (await r.json())["HostConfig"]["Rootfs"] == "/srv/root"
    error = await create(env, "r2", {"Cmd": ["true"], "HostConfig": {"Rootfs": "x"}}, status=400)
    assert "absolute path" in error["message"]
