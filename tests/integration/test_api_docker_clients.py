"""The real docker CLI (28.x) and docker-py (7.2) against berth's API on a unix socket, with a
real controller whose "host" is a throwaway namespace. Containers are the unit tests' in-memory
fake, except that their sandboxes and endpoints are real (created through the controller)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import docker  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from docker.types import IPAMConfig, IPAMPool  # type: ignore[import-untyped]

from berth.api.app import make_app
from berth.api.context import ApiContext, DaemonInfo
from berth.api.openapi import document
from berth.controller.controller import NetworkController
from tests.integration.conftest import sandbox_ns
from tests.integration.netenv import Ns
from tests.unit.apifakes import FakeContainers, FakeEvents

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI"),
]


@dataclass
class Api:
    sock: Path
    env: dict[str, str]
    ctx: ApiContext
    app: web.Application

    async def docker(self, *args: str, ok: bool = True) -> tuple[int, str, str]:
        """Run the docker CLI without blocking the loop that serves it."""
        proc = await asyncio.create_subprocess_exec(
            "docker",
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        code = proc.returncode or 0
        if ok:
            assert code == 0, f"docker {' '.join(args)}: {err.decode()}"
        return code, out.decode(), err.decode()


@pytest.fixture
async def api(berth: NetworkController, tmp_path: Path) -> AsyncIterator[Api]:
    berth.ensure_predefined_networks()
    events = FakeEvents(asyncio.get_running_loop())
    berth.events = events
    executor = ThreadPoolExecutor(4)
    ctx = ApiContext(
        controller=berth,
        containers=FakeContainers(berth, events),  # type: ignore[arg-type]
        events=events,
        executor=executor,
        info=DaemonInfo(
            version="0.1.0",
            name="itest",
            data_root=str(tmp_path / "state"),
            exec_root=str(tmp_path / "run"),
            firewall_backend="nftables",
        ),
    )
    app = make_app(ctx)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = tmp_path / "berth.sock"
    await web.UnixSite(runner, str(sock)).start()
    config_dir = tmp_path / "docker-config"  # never the invoking user's ~/.docker
    config_dir.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DOCKER_HOST": f"unix://{sock}",
        "DOCKER_CONFIG": str(config_dir),
        "HOME": str(tmp_path),
    }
    try:
        yield Api(sock, env, ctx, app)
    finally:
        await runner.cleanup()
        executor.shutdown(wait=True)


def addresses(ns: Ns, link: str) -> set[str]:
    data = json.loads(ns.ip("-j", "addr", "show", "dev", link).stdout)
    return {f"{a['local']}/{a['prefixlen']}" for a in data[0]["addr_info"]}


async def test_cli_version_and_info(api: Api) -> None:
    _, out, _ = await api.docker("version", "--format", "{{.Server.APIVersion}}")
    assert out.strip() == "1.47"
    _, out, _ = await api.docker("info", "--format", "{{.Driver}} {{.Name}}")
    assert out.strip() == "berth itest"


async def test_cli_network_create_inspect_ls_rm(api: Api, host: Ns) -> None:
    _, out, _ = await api.docker(
        "network", "create",
        "--subnet", "10.10.0.0/24", "--gateway", "10.10.0.254", "--ip-range", "10.10.0.128/25",
        "--aux-address", "router=10.10.0.5",
        "-o", "com.docker.network.bridge.name=brapi", "-o", "com.docker.network.driver.mtu=1400",
        "--label", "team=a", "--internal", "front",
    )  # fmt: skip
    net_id = out.strip()
    assert len(net_id) == 64
    assert "10.10.0.254/24" in addresses(host, "brapi")  # the real bridge, in berth's host
    assert json.loads(host.ip("-j", "link", "show", "brapi").stdout)[0]["mtu"] == 1400
    _, out, _ = await api.docker("network", "inspect", "front")
    (inspected,) = json.loads(out)
    assert inspected["Id"] == net_id and inspected["Internal"] is True
    assert inspected["IPAM"]["Config"] == [
        {
            "Subnet": "10.10.0.0/24",
            "IPRange": "10.10.0.128/25",
            "Gateway": "10.10.0.254",
            "AuxiliaryAddresses": {"router": "10.10.0.5"},
        }
    ]
    _, out, _ = await api.docker(
        "network", "inspect", net_id[:6], "--format", '{{.Name}} {{index .Labels "team"}}'
    )
    assert out.strip() == "front a"
    await api.docker("network", "create", "--ipv6", "--subnet", "fd00:10::/64", "v6net")
    _, out, _ = await api.docker("network", "inspect", "v6net", "--format", "{{.EnableIPv6}}")
    assert out.strip() == "true"
    _, out, _ = await api.docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    assert out.split("\n")[:-1] == sorted(out.split("\n")[:-1])  # the CLI sorts
    assert set(out.splitlines()) == {
        "bridge bridge local", "front bridge local", "host host local",
        "none null local", "v6net bridge local",
    }  # fmt: skip
    _, out, _ = await api.docker("network", "ls", "-q", "--no-trunc", "-f", "label=team=a")
    assert out.split() == [net_id]
    _, out, _ = await api.docker(
        "network", "ls", "-f", "driver=bridge", "-f", "type=custom", "--format", "{{.Name}}"
    )
    assert out.split() == ["front", "v6net"]
    _, out, _ = await api.docker("network", "rm", "front", "v6net")
    assert out.split() == ["front", "v6net"]
    assert "brapi" not in host.ip("-o", "link").stdout


async def test_cli_errors_are_one_line(api: Api) -> None:
    code, _, err = await api.docker("network", "rm", "bridge", ok=False)
    assert code == 1
    assert err.splitlines()[0] == (
        "Error response from daemon: bridge is a pre-defined network and cannot be removed"
    )
    code, _, err = await api.docker("network", "create", "host", ok=False)
    assert code == 1 and "operation is not permitted on predefined host network" in err
    code, _, err = await api.docker("network", "inspect", "nosuch", ok=False)
    assert code == 1 and "network nosuch not found" in err
    code, _, err = await api.docker(
        "network", "create", "--subnet", "10.11.0.1/24", "hostbits", ok=False
    )
    assert code == 1 and "has host bits set" in err
    await api.docker("network", "create", "--subnet", "10.12.0.0/24", "first")
    code, _, err = await api.docker(
        "network", "create", "--subnet", "10.12.0.0/25", "second", ok=False
    )
    assert code == 1 and "overlaps with the pool of network first" in err


async def test_cli_prune(api: Api) -> None:
    await api.docker("network", "create", "--label", "tmp=1", "p1")
    await api.docker("network", "create", "p2")
    _, out, _ = await api.docker("network", "prune", "-f", "--filter", "label=tmp")
    assert "p1" in out and "p2" not in out
    _, out, _ = await api.docker("network", "prune", "-f", "--filter", "until=1h")
    assert "p2" not in out  # created less than an hour ago
    _, out, _ = await api.docker("network", "prune", "-f")
    assert "p2" in out
    _, out, _ = await api.docker("network", "ls", "--format", "{{.Name}}")
    assert sorted(out.split()) == ["bridge", "host", "none"]


async def test_cli_connect_disconnect_real_endpoints(api: Api, berth: NetworkController) -> None:
    await api.docker("network", "create", "--subnet", "10.20.0.0/24", "back")
    await api.docker("create", "--name", "c1", "busybox", "sleep", "60")
    await api.docker("start", "c1")
    await api.docker("network", "connect", "--ip", "10.20.0.50", "--alias", "api", "back", "c1")
    sandbox = sandbox_ns(berth, "c1")
    assert "10.20.0.50/24" in addresses(sandbox, "eth1")  # eth0 is on the default bridge
    members = "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}"
    _, out, _ = await api.docker("network", "inspect", "back", "--format", members)
    assert out.strip() == "c1 10.20.0.50/24"
    shown = "{{.NetworkSettings.Networks.back.IPAddress}} {{.State.Status}}"
    _, out, _ = await api.docker("inspect", "c1", "--format", shown)
    assert out.strip() == "10.20.0.50 running"
    _, out, _ = await api.docker("ps", "--format", "{{.Names}}|{{.Status}}|{{.Networks}}")
    name, status, networks = out.strip().split("|")
    assert name == "c1" and status.startswith("Up ")
    assert set(networks.split(",")) == {"bridge", "back"}
    await api.docker("network", "disconnect", "back", "c1")
    assert sandbox.ip("link", "show", "eth1", check=False).returncode != 0
    await api.docker("rm", "-f", "c1")
    assert berth.sandboxes() == []


async def test_cli_events(api: Api) -> None:
    since = int(time.time()) - 1
    await api.docker("network", "create", "evnet")
    await api.docker("network", "rm", "evnet")
    until = int(time.time()) + 1
    _, out, _ = await api.docker(
        "events", "--since", str(since), "--until", str(until), "--filter", "type=network",
        "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    )  # fmt: skip
    assert out.splitlines() == ["network create evnet", "network destroy evnet"]


def docker_py_session(sock: Path) -> dict[str, Any]:
    """Blocking docker-py calls (run in a thread while the loop serves them)."""
    client = docker.DockerClient(base_url=f"unix://{sock}", timeout=30)
    found: dict[str, Any] = {"ping": client.ping(), "version": client.version()["ApiVersion"]}
    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet="10.30.0.0/24", gateway="10.30.0.1")])
    network = client.networks.create(
        "pynet", driver="bridge", ipam=ipam, labels={"owner": "py"}, internal=True
    )
    plain = client.networks.create("pyplain")
    found["created"] = network.id
    found["get"] = client.networks.get("pynet").attrs
    found["by_name"] = [n.name for n in client.networks.list(names=["pynet"])]
    found["by_label"] = [n.name for n in client.networks.list(filters={"label": "owner=py"})]
    found["all"] = sorted(n.name for n in client.networks.list())
    network.remove()
    found["pruned"] = client.networks.prune()
    found["after"] = sorted(n.name for n in client.networks.list())
    found["plain"] = plain.id
    client.close()
    return found


async def test_docker_py(api: Api) -> None:
    found = await asyncio.to_thread(docker_py_session, api.sock)
    assert found["ping"] is True and found["version"] == "1.47"
    attrs = found["get"]
    assert attrs["Id"] == found["created"] and attrs["Internal"] is True
    assert attrs["IPAM"]["Config"] == [{"Subnet": "10.30.0.0/24", "Gateway": "10.30.0.1"}]
    assert attrs["Labels"] == {"owner": "py"}
    assert found["by_name"] == ["pynet"] and found["by_label"] == ["pynet"]
    assert found["all"] == ["bridge", "host", "none", "pynet", "pyplain"]
    assert found["pruned"] == {"NetworksDeleted": ["pyplain"]}
    assert found["after"] == ["bridge", "host", "none"]


async def test_openapi_matches_the_running_server(api: Api) -> None:
    connector = aiohttp.UnixConnector(path=str(api.sock))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get("http://berth/v1.47/openapi.json") as served,
    ):
        data = await served.json()
    assert data == document()
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in api.app.router.routes()
        if r.resource and not r.resource.canonical.startswith("/v{version")
    }
    documented = {(m, p) for p, item in data["paths"].items() for m in item}
    assert routes == documented


async def test_cli_exec_and_logs_streams(api: Api, berth: NetworkController) -> None:
    """`docker exec -i` hijacks the connection and half-closes it when its stdin ends; the
    rest of the output must still arrive. `docker logs` reads the multiplexed stream."""
    await api.docker("create", "--name", "s1", "busybox", "sleep", "60")
    await api.docker("start", "s1")
    proc = await asyncio.create_subprocess_exec(
        "docker", "exec", "-i", "s1", "cat",
        env=api.env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(b"ping\n"), 30)
    assert proc.returncode == 0, err
    assert out == b"exec says hi\nPING\n" and err == b"oops\n"
    _, out, err = await api.docker("logs", "s1")
    assert out == "started\n" and err == "warming up\n"
    await api.docker("rm", "-f", "s1")
    assert berth.sandboxes() == []


async def test_cli_events_live(api: Api) -> None:
    shown = "{{.Action}} {{.Actor.Attributes.name}}"
    proc = await asyncio.create_subprocess_exec(
        "docker", "events", "--filter", "type=network", "--format", shown,
        env=api.env,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    events = api.ctx.events
    assert isinstance(events, FakeEvents)
    try:
        for _ in range(200):  # until the CLI's request has subscribed
            if events.subscribers:
                break
            await asyncio.sleep(0.05)
        await api.docker("network", "create", "live")
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert line.decode().strip() == "create live"
    finally:
        proc.terminate()
        await proc.wait()
