"""Streams: logs framing, hijacked attach and exec (with and without Upgrade, half-close),
and the /events stream with Docker's filters."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.unit.apitools import Env, raw_request, start_env, stop_env

STDOUT, STDERR = 1, 2


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = await start_env()
    yield e
    await stop_env(e)


async def container(env: Env, name: str, *, tty: bool = False, start: bool = True) -> str:
    body = {"Cmd": ["cat"], "Tty": tty, "OpenStdin": True, "Image": "busybox"}
    r = await env.client.post(f"/containers/create?name={name}", json=body)
    assert r.status == 201
    if start:
        assert (await env.client.post(f"/containers/{name}/start")).status == 204
    return str((await r.json())["Id"])


def demux(data: bytes) -> list[tuple[int, bytes]]:
    frames = []
    while data:
        size = int.from_bytes(data[4:8], "big")
        frames.append((data[0], data[8 : 8 + size]))
        data = data[8 + size :]
    return frames


async def test_logs_multiplexed(env: Env) -> None:
    await container(env, "lg")
    r = await env.client.get("/containers/lg/logs?stdout=1&stderr=1")
    assert r.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    assert demux(await r.read()) == [(STDOUT, b"started\n"), (STDERR, b"warming up\n")]
    r = await env.client.get("/containers/lg/logs?stderr=1")
    assert demux(await r.read()) == [(STDERR, b"warming up\n")]
    r = await env.client.get("/containers/lg/logs?stdout=1&stderr=1&tail=1&timestamps=1")
    ((stream, line),) = demux(await r.read())
    stamp, _, text = line.partition(b" ")
    assert stream == STDERR and text == b"warming up\n"
    assert len(stamp) == len(b"2024-01-01T00:00:00.000000000Z") and stamp.endswith(b"Z")
    r = await env.client.get("/v1.41/containers/lg/logs?stdout=1")
    assert r.headers["Content-Type"] == "application/vnd.docker.raw-stream"  # framed all the same
    assert demux(await r.read()) == [(STDOUT, b"started\n")]
    future = (time.time_ns() + 10**12) // 10**9
    r = await env.client.get(f"/containers/lg/logs?stdout=1&since={future}")
    assert await r.read() == b""


async def test_logs_tty_is_raw(env: Env) -> None:
    await container(env, "tt", tty=True)
    r = await env.client.get("/containers/tt/logs?stdout=1&stderr=1")
    assert r.headers["Content-Type"] == "application/vnd.docker.raw-stream"
    assert await r.read() == b"started\nwarming up\n"


async def test_logs_follow_ends_when_the_client_leaves(env: Env) -> None:
    await container(env, "fl")
    r = await env.client.get("/containers/fl/logs?stdout=1&follow=1")
    assert await r.content.readexactly(16) == b"\x01\x00\x00\x00\x00\x00\x00\x08started\n"
    r.close()
    await asyncio.sleep(1.5)  # the server notices at its next poll and ends the stream
    assert (await env.client.get("/_ping")).status == 200


@pytest.mark.parametrize("upgrade", [True, False])
async def test_attach_hijacks_and_survives_half_close(env: Env, upgrade: bool) -> None:
    await container(env, "at")
    stream = await raw_request(
        env, "/v1.47/containers/at/attach?stream=1&stdin=1&stdout=1&stderr=1", upgrade=upgrade
    )
    if upgrade:
        assert stream.status == 101
        assert stream.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
        assert stream.headers["Upgrade"] == "tcp"
    else:
        assert stream.status == 200
        assert stream.headers["Content-Type"] == "application/vnd.docker.raw-stream"
    assert stream.headers["Api-Version"] == "1.47"
    assert await stream.frame() == (STDOUT, b"hello\n")
    assert await stream.frame() == (STDERR, b"oops\n")
    stream.writer.write(b"ping\n")
    assert await stream.frame() == (STDOUT, b"PING\n")
    stream.writer.write_eof()  # the docker CLI half-closes when its stdin ends...
    assert await stream.frames() == []  # ...and the output still ends cleanly
    stream.writer.close()
    assert env.containers.attachments[-1].closed


async def test_attach_tty_is_raw_and_errors_come_first(env: Env) -> None:
    await container(env, "tty", tty=True)
    stream = await raw_request(env, "/containers/tty/attach?stream=1&stdin=1&stdout=1")
    assert stream.headers["Content-Type"] == "application/vnd.docker.raw-stream"
    assert await stream.reader.readexactly(11) == b"hello\noops\n"
    stream.writer.close()
    missing = await raw_request(env, "/containers/nope/attach?stream=1&stdout=1")
    assert missing.status == 404  # an ordinary error, before any hijack
    missing.writer.close()


async def test_exec_create_start_inspect(env: Env) -> None:
    await container(env, "ex")
    r = await env.client.post(
        "/containers/ex/exec",
        json={
            "User": "",
            "Privileged": False,
            "Tty": False,
            "ConsoleSize": None,
            "AttachStdin": True,
            "AttachStderr": True,
            "AttachStdout": True,
            "Detach": False,
            "DetachKeys": "",
            "Env": ["X=1"],
            "WorkingDir": "/tmp",
            "Cmd": ["cat"],
        },
    )
    assert r.status == 201
    exec_id = (await r.json())["Id"]
    body = json.dumps({"Detach": False, "Tty": False, "ConsoleSize": None}).encode()
    stream = await raw_request(env, f"/exec/{exec_id}/start", body)
    assert stream.status == 101
    assert await stream.frame() == (STDOUT, b"exec says hi\n")
    assert await stream.frame() == (STDERR, b"oops\n")
    stream.writer.write(b"abc")
    assert await stream.frame() == (STDOUT, b"ABC")
    stream.writer.write_eof()
    assert await stream.frames() == []
    stream.writer.close()
    data = await (await env.client.get(f"/exec/{exec_id}/json")).json()
    assert data["ID"] == exec_id and data["OpenStdin"] and data["Running"]
    assert data["ProcessConfig"]["entrypoint"] == "cat" and data["ContainerID"]
    assert (await env.client.post(f"/exec/{exec_id}/resize?h=10&w=20")).status == 200
    assert (await env.client.post(f"/exec/{exec_id}/resize?h=-1&w=20")).status == 400
    assert (await env.client.get("/exec/nope/json")).status == 404


async def test_exec_detached_and_errors(env: Env) -> None:
    await container(env, "exd")
    r = await env.client.post("/containers/exd/exec", json={"Cmd": ["true"]})
    exec_id = (await r.json())["Id"]
    r = await env.client.post(f"/exec/{exec_id}/start", json={"Detach": True})
    assert r.status == 200 and await r.read() == b""
    r = await env.client.post("/containers/exd/exec", json={"Cmd": []})
    assert r.status == 400 and (await r.json())["message"] == "No exec command specified"
    await container(env, "stopped", start=False)
    r = await env.client.post("/containers/stopped/exec", json={"Cmd": ["ls"]})
    assert r.status == 409


async def read_events(env: Env, query: str, count: int) -> list[dict[str, Any]]:
    r = await env.client.get(f"/events{query}")
    assert r.headers["Content-Type"] == "application/json"
    found = []
    for _ in range(count):
        line = await asyncio.wait_for(r.content.readline(), 5)
        found.append(json.loads(line))
    r.close()
    return found


async def test_events_stream_with_filters(env: Env) -> None:
    query = "?filters=" + json.dumps({"type": ["network"], "event": ["create", "destroy"]})
    reader = asyncio.create_task(read_events(env, query, 2))
    await asyncio.sleep(0.2)
    await container(env, "noise")  # container events and connects are filtered out
    await env.client.post("/networks/create", json={"Name": "evnet"})
    await env.client.delete("/networks/evnet")
    created, destroyed = await reader
    assert created["Type"] == "network" and created["Action"] == "create"
    assert created["Actor"]["Attributes"] == {"name": "evnet", "type": "bridge"}
    assert created["scope"] == "local" and "status" not in created
    assert destroyed["Action"] == "destroy"
    assert created["time"] == created["timeNano"] // 10**9


async def test_events_since_until_and_container_legacy_fields(env: Env) -> None:
    since = time.time() - 5
    cid = await container(env, "evc")
    until = time.time_ns() // 10**9 + 1
    query = f"?since={since:.3f}&until={until}&filters=" + json.dumps({"container": ["evc"]})
    r = await env.client.get(f"/events{query}")
    lines = [json.loads(line) for line in (await r.read()).splitlines()]  # ends at `until`
    assert [e["Action"] for e in lines] == ["create", "start"]
    assert lines[0]["status"] == "create" and lines[0]["id"] == cid
    assert lines[0]["from"] == "busybox"


async def test_events_label_and_network_filters(env: Env) -> None:
    await env.client.post("/networks/create", json={"Name": "n1"})
    since = int(time.time()) - 5
    until = int(time.time()) + 1
    query = f"?since={since}&until={until}&filters=" + json.dumps({"network": ["n1"]})
    lines = (await (await env.client.get(f"/events{query}")).read()).splitlines()
    assert [json.loads(line)["Actor"]["Attributes"]["name"] for line in lines] == ["n1"]
    query = f"?since={since}&until={until}&filters=" + json.dumps({"label": ["type=bridge"]})
    lines = (await (await env.client.get(f"/events{query}")).read()).splitlines()
    assert len(lines) >= 1
