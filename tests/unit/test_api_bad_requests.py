"""Bad input over the API: every request below is answered 4xx with a clear message, leaves the
store, the (fake) kernel and the container records exactly as they were, and the daemon keeps
serving. The container service is the API tests' fake with the real runtime's checks
(``berth.runtime.validate``) in front, so the runtime's refusals are mapped here too."""

# ruff: noqa: E501  (the table reads best as one case per line)

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from berth.model.endpoint import Endpoint
from berth.runtime.api import Container, ContainerConfig, EndpointSettings
from berth.runtime.validate import check_connect, check_disconnect, mode_of, normalize
from tests.unit.apifakes import FakeContainers
from tests.unit.apitools import Env, start_env, stop_env


class CheckedContainers(FakeContainers):
    """The fake, refusing first what ContainerRuntime refuses before it changes anything."""

    async def create(self, config: ContainerConfig) -> Container:
        return await super().create(normalize(config, network=self.ctl.network, container=self.get))

    async def connect(self, ref: str, network: str, settings: EndpointSettings) -> Endpoint:
        container = self.get(ref)
        mode = mode_of(container.config, self.ctl.network)
        check_connect(container, self.ctl.network(network), mode, settings)
        return await super().connect(ref, network, settings)

    async def disconnect(self, ref: str, network: str, force: bool = False) -> None:
        container = self.get(ref)
        mode = mode_of(container.config, self.ctl.network)
        check_disconnect(container, self.ctl.network(network), mode)
        await super().disconnect(ref, network, force)


MAX_BODY = 4096
CLI_NET = {"Driver": "bridge", "IPAM": {"Driver": "default", "Config": []}, "Name": "n"}


def net(**fields: Any) -> dict[str, Any]:
    return {**CLI_NET, **fields}


def subnet(value: str, **more: Any) -> dict[str, Any]:
    return net(IPAM={"Config": [{"Subnet": value, **more}]})


def ctr(**fields: Any) -> dict[str, Any]:
    return {"Cmd": ["sleep", "1"], "Image": "busybox", **fields}


def host(**fields: Any) -> dict[str, Any]:
    return ctr(HostConfig=fields)


def connect(**endpoint: Any) -> dict[str, Any]:
    return {"Container": "c1", "EndpointConfig": endpoint}


def on(network: str, **endpoint: Any) -> dict[str, Any]:
    """A container create body on ``network`` with these endpoint settings."""
    return ctr(
        HostConfig={"NetworkMode": network},
        NetworkingConfig={"EndpointsConfig": {network: endpoint}},
    )


def q(filters: Any) -> str:
    return "?filters=" + (filters if isinstance(filters, str) else json.dumps(filters))


CREATE = "/networks/create"
CCREATE = "/containers/create"

# (method, path, body (dict -> JSON, str/bytes -> raw), status, words the message must contain)
CASES: list[tuple[str, str, Any, int, str]] = [
    # --- malformed bodies ---------------------------------------------------------------
    ("POST", CREATE, '{"Name": ', 400, "invalid JSON"),
    ("POST", CREATE, "[1, 2]", 400, "must be a JSON object, not an array"),
    ("POST", CREATE, b"\xff\xfe", 400, "invalid JSON"),
    ("POST", CREATE, '{"Name": "a"} {"Name": "b"}', 400, "invalid JSON"),
    ("POST", CREATE, "x" * (MAX_BODY + 1), 413, "request body too large"),
    # --- network create: types, fields, values ------------------------------------------
    ("POST", CREATE, {"Name": 5}, 400, "Name must be a string, not an integer"),
    ("POST", CREATE, {"Driver": "bridge"}, 400, "Name is required"),
    ("POST", CREATE, net(Subnet="10.0.0.0/24"), 400, "unknown field(s) in the network create request: Subnet"),
    ("POST", CREATE, net(Internal="yes"), 400, "Internal must be a boolean, not a string"),
    ("POST", CREATE, net(Labels={"a": 1}), 400, "Labels.a must be a string"),
    ("POST", CREATE, net(Options=["mtu=1400"]), 400, "Options must be an object"),
    ("POST", CREATE, net(IPAM="default"), 400, "IPAM must be an object"),
    ("POST", CREATE, net(IPAM={"Config": {"Subnet": "10.0.0.0/24"}}), 400, "IPAM.Config must be an array"),
    ("POST", CREATE, net(IPAM={"Config": [{"Subnett": "10.0.0.0/24"}]}), 400, "IPAM.Config[0].Subnett"),
    ("POST", CREATE, net(IPAM={"Drvier": "default"}), 400, "IPAM.Drvier"),
    ("POST", CREATE, subnet("10.0.0.0/33"), 400, "invalid subnet '10.0.0.0/33'"),
    ("POST", CREATE, subnet("10.0.0.1/24"), 400, "has host bits set"),
    ("POST", CREATE, subnet("banana"), 400, "invalid subnet 'banana'"),
    ("POST", CREATE, subnet("10.5.0.0/24", Gateway="10.6.0.1"), 400, "10.6.0.1"),
    ("POST", CREATE, subnet("10.5.0.0/24", Gateway="nope"), 400, "gateway is not an IP address"),
    ("POST", CREATE, subnet("10.5.0.0/24", IPRange="10.7.0.0/24"), 400, "10.7.0.0/24"),
    ("POST", CREATE, subnet("10.5.0.0/24", AuxiliaryAddresses={"r": "x"}), 400, "aux address r"),
    ("POST", CREATE, subnet("10.1.0.0/16"), 409, "overlaps"),
    ("POST", CREATE, subnet("fd00::/64"), 400, "IPv6 is not enabled"),
    ("POST", CREATE, net(Driver="nosuch"), 404, "network driver 'nosuch' not found"),
    ("POST", CREATE, net(IPAM={"Driver": "magic"}), 404, "IPAM driver 'magic' not found"),
    ("POST", CREATE, net(Options={"com.docker.network.bridge.nmae": "x"}), 400, "does not support option"),
    ("POST", CREATE, net(Options={"com.docker.network.driver.mtu": "big"}), 400, "mtu"),
    ("POST", CREATE, net(Name="host"), 403, "operation is not permitted on predefined host network"),
    ("POST", CREATE, net(Name="front"), 409, "network with name front already exists"),
    ("POST", CREATE, net(Name="bad name!"), 400, "invalid network name"),
    ("POST", CREATE, net(EnableIPv4=False), 400, "berth does not support EnableIPv4=false"),
    ("POST", CREATE, net(Ingress=True), 400, "berth does not support Ingress"),
    ("POST", CREATE, net(ConfigFrom={"Network": "cfg"}), 400, "berth does not support ConfigFrom"),
    ("POST", CREATE, net(Scope="galaxy"), 400, "invalid Scope 'galaxy'"),
    ("POST", CREATE, net(Driver="null", IPAM={"Config": [{"Subnet": "10.9.0.0/24"}]}), 400, "takes no IPAM"),
    # --- network lookups, list and prune filters -----------------------------------------
    ("GET", "/networks/nosuch", None, 404, "network nosuch not found"),
    ("DELETE", "/networks/nosuch", None, 404, "network nosuch not found"),
    ("DELETE", "/networks/front", None, 403, "has active endpoints (c1)"),
    ("DELETE", "/networks/none", None, 403, "none is a pre-defined network and cannot be removed"),
    ("GET", "/networks" + q("{driver"), None, 400, "invalid filter"),
    ("GET", "/networks" + q({"colour": ["red"]}), None, 400, "invalid filter 'colour'"),
    ("GET", "/networks" + q({"type": ["weird"]}), None, 400, "invalid filter: 'type'='weird'"),
    ("GET", "/networks" + q({"dangling": ["maybe"]}), None, 400, "invalid value for filter 'dangling'"),
    ("GET", "/networks" + q({"dangling": ["1", "0"]}), None, 400, "more than one value"),
    ("GET", "/networks" + q({"name": {"x": "yes"}}), None, 400, "invalid filter 'name'"),
    ("POST", "/networks/prune" + q({"driver": ["bridge"]}), None, 400, "invalid filter 'driver'"),
    ("POST", "/networks/prune" + q({"until": ["yesterday"]}), None, 400, "invalid until filter"),
    # --- connect / disconnect -------------------------------------------------------------
    ("POST", "/networks/back/connect", {"EndpointConfig": {}}, 400, "Container is required"),
    ("POST", "/networks/back/connect", {"Container": "c1", "EndpointConfig": "x"}, 400, "EndpointConfig must be an object"),
    ("POST", "/networks/back/connect", connect(IPAMConfig={"IPv4Address": "10.2.0.300"}), 400, "not an IPv4 address"),
    ("POST", "/networks/back/connect", connect(IPAMConfig={"IPv4Address": "fd00::5"}), 400, "not an IPv4 address"),
    ("POST", "/networks/back/connect", connect(IPAMConfig={"LinkLocalIPs": ["169.254.1.1"]}), 400, "LinkLocalIPs"),
    ("POST", "/networks/back/connect", connect(MacAddress="zz:zz"), 400, "not a MAC address"),
    ("POST", "/networks/back/connect", connect(Alias=["x"]), 400, "EndpointConfig.Alias"),
    ("POST", "/networks/back/connect", connect(Aliases="x"), 400, "Aliases must be an array of strings"),
    ("POST", "/networks/back/connect", {"Container": "ghost"}, 404, "No such container: ghost"),
    ("POST", "/networks/nosuch/connect", {"Container": "c1"}, 404, "network nosuch not found"),
    ("POST", "/networks/back/disconnect", {"Container": "c1", "Force": "yes"}, 400, "Force must be a boolean"),
    ("POST", "/networks/front/connect", connect(), 403, "endpoint with name c1 already exists in network front"),
    ("POST", "/networks/back/connect", {"Container": "shared"}, 400, "container sharing network namespace with another container or host cannot be connected to any other network"),
    ("POST", "/networks/back/connect", {"Container": "onhost"}, 400, "container sharing network namespace"),
    ("POST", "/networks/host/connect", {"Container": "c1"}, 400, "container cannot be disconnected from host network or connected to host network"),
    ("POST", "/networks/bridge/connect", connect(Aliases=["web"]), 400, "network-scoped aliases are only supported for user-defined networks"),
    ("POST", "/networks/bridge/connect", connect(IPAMConfig={"IPv4Address": "10.1.0.50"}), 400, "user-specified IP address is supported on user-defined networks only"),
    ("POST", "/networks/back/connect", connect(IPAMConfig={"IPv4Address": "10.1.0.50"}), 400, "no configured subnet contains IP address 10.1.0.50"),
    ("POST", "/networks/back/connect", connect(Aliases=["bad alias"]), 400, "EndpointConfig.Aliases: invalid alias name 'bad alias'"),
    ("POST", "/networks/back/connect", connect(Aliases=["-x"]), 400, "invalid alias name '-x'"),
    ("POST", "/networks/back/connect", connect(Links=["a:b:c"]), 400, "EndpointConfig.Links: bad format for links: a:b:c"),
    ("POST", "/networks/back/disconnect", {"Container": "c1"}, 403, "is not connected to network back"),
    ("POST", "/networks/host/disconnect", {"Container": "onhost"}, 400, "container cannot be disconnected from host network"),
    ("POST", "/networks/front/disconnect", {"Container": "shared"}, 400, "container sharing network namespace"),
    # --- API versions ----------------------------------------------------------------------
    ("GET", "/v1.99/networks", None, 400, "client version 1.99 is too new"),
    ("GET", "/v1.2/networks", None, 400, "client version 1.2 is too old"),
    # --- container create --------------------------------------------------------------------
    ("POST", CCREATE, {"Image": "busybox"}, 400, "No command specified"),
    ("POST", CCREATE, host(Privileged=True), 400, "berth does not support HostConfig.Privileged"),
    ("POST", CCREATE, host(Memory=1 << 30), 400, "berth does not support HostConfig.Memory"),
    ("POST", CCREATE, host(Binds=["/a:/b"]), 400, "berth does not support HostConfig.Binds"),
    ("POST", CCREATE, host(Foo=1), 400, "unknown field(s) in the container create request: HostConfig.Foo"),
    ("POST", CCREATE, ctr(Cmd="true", Colour="red"), 400, "Colour"),
    ("POST", CCREATE, host(PortBindings={"80/xyz": []}), 400, "unknown protocol 'xyz'"),
    ("POST", CCREATE, host(PortBindings={"80/tcp": [{"HostPort": "99999"}]}), 400, "outside 1-65535"),
    ("POST", CCREATE, host(PortBindings={"80/tcp": [{"HostIp": "home", "HostPort": "80"}]}), 400, "'home' is not an IP address"),
    ("POST", CCREATE, host(PortBindings={"80/tcp": [{"HostPrt": "80"}]}), 400, "HostPrt"),
    ("POST", CCREATE, host(RestartPolicy={"Name": "sometimes"}), 400, "unknown policy 'sometimes'"),
    ("POST", CCREATE, host(RestartPolicy={"Name": "always", "MaximumRetryCount": 3}), 400, "only be used with 'on-failure'"),
    ("POST", CCREATE, host(RestartPolicy={"Name": "on-failure", "MaximumRetryCount": -1}), 400, "cannot be negative"),
    ("POST", CCREATE, host(AutoRemove=True, RestartPolicy={"Name": "always"}), 400, "--restart and --rm"),
    ("POST", CCREATE, host(Dns=["not-an-ip"]), 400, "HostConfig.Dns[0]"),
    ("POST", CCREATE, host(Dns=["192.0.2.53", "dns.example"]), 400, "HostConfig.Dns[1]: 'dns.example' is not an IP address"),
    ("POST", CCREATE, host(DnsSearch=["-bad-"]), 400, "HostConfig.DnsSearch[0]: -bad- is not a valid domain"),
    ("POST", CCREATE, host(DnsSearch=["example.test", "a b"]), 400, "HostConfig.DnsSearch[1]: a b is not a valid domain"),
    ("POST", CCREATE, host(DnsOptions=["ndots:many"]), 400, "HostConfig.DnsOptions[0]: invalid number for ndots option: 'many'"),
    ("POST", CCREATE, host(DnsOptions=["edns0\nnameserver 192.0.2.1"]), 400, "invalid DNS option"),
    ("POST", CCREATE, host(ExtraHosts=["nohost"]), 400, 'HostConfig.ExtraHosts[0]: bad format for add-host: "nohost"'),
    ("POST", CCREATE, host(ExtraHosts=["db:10.0.0.300"]), 400, 'invalid IP address in add-host: "10.0.0.300"'),
    ("POST", CCREATE, host(ExtraHosts=["v6:[2001:db8::1"]), 400, 'invalid IP address in add-host: "[2001:db8::1"'),
    ("POST", CCREATE, host(ExtraHosts=["a b:192.0.2.1"]), 400, "bad format for add-host"),
    ("POST", CCREATE, host(ExtraHosts=["gw:host-gateways"]), 400, 'invalid IP address in add-host: "host-gateways"'),
    ("POST", CCREATE, host(Links=["db:x:y"]), 400, "HostConfig.Links[0]: bad format for links: db:x:y"),
    ("POST", CCREATE, host(Links=["ghost:db"]), 400, "could not get container for ghost: No such container: ghost"),
    ("POST", CCREATE, host(Links=["onhost:h"]), 400, "host type networking can't be used with links"),
    ("POST", CCREATE, host(NetworkMode="container:c1", Links=["c1"]), 400, "container type network can't be used with links"),
    ("POST", CCREATE, on("front", Aliases=["web", "bad alias"]), 400, "invalid alias name 'bad alias'"),
    ("POST", CCREATE, on("bridge", Aliases=["web"]), 400, "network-scoped aliases are only supported for user-defined networks"),
    ("POST", CCREATE, on("bridge", IPAMConfig={"IPv4Address": "10.1.0.9"}), 400, "user-specified IP address is supported on user-defined networks only"),
    ("POST", CCREATE, on("front", IPAMConfig={"IPv4Address": "10.2.0.9"}), 400, "no configured subnet contains IP address 10.2.0.9"),
    ("POST", CCREATE, on("front", IPAMConfig={"IPv6Address": "fd00::9"}), 400, "user configured subnets"),
    ("POST", CCREATE, host(LogConfig={"Type": "syslog"}), 400, "HostConfig.LogConfig.Type"),
    ("POST", CCREATE, host(ConsoleSize=[1]), 400, "ConsoleSize must be [height, width]"),
    ("POST", CCREATE + "?name=-bad", ctr(), 400, "Invalid container name (-bad)"),
    ("POST", CCREATE + "?name=a%20b", ctr(), 400, "Invalid container name (a b)"),
    ("POST", CCREATE + "?name=web%2Fdb", ctr(), 400, "Invalid container name (web/db)"),
    ("POST", CCREATE + "?name=c1", ctr(), 409, "container with name c1 already exists"),
    ("POST", CCREATE, ctr(User="nobody"), 400, "berth does not support User"),
    ("POST", CCREATE, ctr(WorkingDir="tmp"), 400, "needs to be an absolute path"),
    ("POST", CCREATE, ctr(Env="A=b"), 400, "Env must be an array of strings"),
    ("POST", CCREATE, ctr(ExposedPorts={"http": {}}), 400, "ExposedPorts"),
    ("POST", CCREATE, ctr(NetworkingConfig={"EndpointsConfig": {"nosuch": {}}}), 404, "network nosuch not found"),
    # --- container routes --------------------------------------------------------------------
    ("GET", "/containers/ghost/json", None, 404, "No such container: ghost"),
    ("GET", "/containers/json" + q({"status": ["sleeping"]}), None, 400, "invalid filter 'status=sleeping'"),
    ("GET", "/containers/json" + q({"health": ["ok"]}), None, 400, "berth does not support the container filter 'health'"),
    ("GET", "/containers/json?limit=many", None, 400, "invalid value for 'limit'"),
    ("GET", "/containers/c1/logs", None, 400, "at least one of 'stdout' or 'stderr'"),
    ("GET", "/containers/c1/logs?stdout=1&tail=lots", None, 400, 'invalid value for "tail"'),
    ("GET", "/containers/c1/logs?stdout=1&since=last-week", None, 400, "invalid timestamp"),
    ("POST", "/containers/c1/wait?condition=bored", None, 400, 'invalid condition: "bored"'),
    ("POST", "/containers/c1/resize?h=tall&w=80", None, 400, "invalid resize height"),
    ("POST", "/containers/c1/stop?t=soon", None, 400, "invalid value for 't'"),
    ("POST", "/containers/c1/start", '{"Binds": ["/a:/b"]}', 400, "non-empty request body"),
    ("POST", "/containers/c1/rename", None, 400, "names may be empty"),
    ("POST", "/containers/c1/exec", {"Cmd": ["ls"], "Privileged": True}, 400, "berth does not support Privileged"),
    ("POST", "/containers/c1/exec", {"Cmd": ["ls"], "Tty": "yes"}, 400, "Tty must be a boolean"),
    ("POST", "/exec/nope/start", {"Detach": True}, 404, "No such exec instance: nope"),
    ("DELETE", "/containers/c1?link=1", None, 400, "berth does not support removing legacy links"),
    # --- events ---------------------------------------------------------------------------------
    ("GET", "/events?since=yesterday", None, 400, "invalid value for 'since'"),
    ("GET", "/events?since=100&until=50", None, 400, "cannot be after `until` time"),
    ("GET", "/events" + q({"colour": ["red"]}), None, 400, "invalid filter 'colour'"),
]  # fmt: skip


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = await start_env(max_body=MAX_BODY)
    e.containers = e.ctx.containers = CheckedContainers(e.ctl, e.events)  # type: ignore[assignment]
    for name, cidr in (("front", "10.1.0.0/24"), ("back", "10.2.0.0/24")):
        body = {"Name": name, "IPAM": {"Config": [{"Subnet": cidr}]}}
        assert (await e.client.post("/networks/create", json=body)).status == 201
    body = {"Cmd": ["sleep", "9"], "HostConfig": {"NetworkMode": "front"}}
    assert (await e.client.post("/containers/create?name=c1", json=body)).status == 201
    assert (await e.client.post("/containers/c1/start")).status == 204
    for name, mode in (("shared", "container:c1"), ("onhost", "host")):
        body = {"Cmd": ["sleep", "9"], "HostConfig": {"NetworkMode": mode}}
        assert (await e.client.post(f"/containers/create?name={name}", json=body)).status == 201
        assert (await e.client.post(f"/containers/{name}/start")).status == 204
    yield e
    await stop_env(e)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({(m, p, str(b)) for m, p, b, _, _ in CASES}) == len(CASES), "duplicate case"


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c[4][:40]}" for i, c in enumerate(CASES)])
async def test_bad_request(env: Env, case: tuple[str, str, Any, int, str]) -> None:
    method, path, body, status, words = case
    before = env.state(), dict(env.containers.records)
    data = json.dumps(body) if isinstance(body, dict) else body
    headers = {"Content-Type": "application/json"} if data is not None else {}
    r = await env.client.request(method, path, data=data, headers=headers)
    text = await r.text()
    assert r.status == status, text
    assert 400 <= r.status < 500
    message = json.loads(text)["message"] if r.content_type == "application/json" else text
    assert words in message, message
    assert r.headers["Api-Version"] == "1.47"
    assert (env.state(), dict(env.containers.records)) == before, "the request changed something"
    assert await (await env.client.get("/_ping")).text() == "OK"


async def test_ambiguous_network_prefix(env: Env) -> None:
    """Docker: `network x is ambiguous` is a 400."""
    for i in range(17):  # 17 + 5 ids over 16 leading hex digits: two must share one
        assert (await env.client.post("/networks/create", json={"Name": f"amb{i}"})).status == 201
    ids = [n["Id"] for n in await (await env.client.get("/networks")).json()]
    shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    before = env.state()
    r = await env.client.get(f"/networks/{shared}")
    assert r.status == 400
    assert (await r.json())["message"].startswith(f"network {shared} is ambiguous (")
    r = await env.client.delete(f"/networks/{shared}")
    assert r.status == 400
    assert env.state() == before
