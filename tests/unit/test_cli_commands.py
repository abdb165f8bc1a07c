"""The `berth` command end to end against a scripted stand-in daemon on a unix socket: the
requests each command sends (paths, API version, queries, bodies, order), what it prints, and
its exit status. The real daemon is driven in tests/integration/test_cli_*.py.

This module holds the stand-in (``StubDaemon``, the ``daemon`` fixture, ``berth()``,
``hijacked()``) and the network, system and general tests; test_cli_containers.py imports them.
"""

from __future__ import annotations

import http.server
import io
import json
import re
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from berth.cli.hijack import encode_frame
from berth.cli.main import run

CID = "c0ffee00" * 8
EXEC_ID = "e1e1e1e1" * 8


@dataclass
class Request:
    method: str
    path: str  # without the /vX.Y prefix
    version: str | None
    query: dict[str, str]
    body: Any
    handler: http.server.BaseHTTPRequestHandler | None = None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Route = Callable[[Request], Reply | None]


class StubDaemon:
    """Answers from a table of (method, path regex) -> Reply or function; records requests."""

    def __init__(self, path: str, api_version: str | None = "1.47") -> None:
        self.path = path
        self.api_version = api_version
        self.routes: list[tuple[str, re.Pattern[str], Reply | Route]] = []
        self.requests: list[Request] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def handle_any(self) -> None:
                stub.handle(self)

            do_GET = do_POST = do_DELETE = do_HEAD = handle_any

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        self.server = Server(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def on(self, method: str, pattern: str, reply: Reply | Route) -> None:
        self.routes.insert(0, (method, re.compile(pattern + "$"), reply))

    def calls(self, method: str | None = None) -> list[str]:
        return [
            f"{r.method} {r.path}"
            for r in self.requests
            if r.path != "/_ping" and (method is None or r.method == method)
        ]

    def find(self, method: str, path: str) -> Request:
        return next(r for r in self.requests if r.method == method and r.path == path)

    def handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        m = re.match(r"^/v([0-9.]+)(/.*)$", url.path)
        version, path = (m.group(1), m.group(2)) if m else (None, url.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        req = Request(h.command, path, version, query, json.loads(raw) if raw else None, h)
        self.requests.append(req)
        reply = self.dispatch(req)
        if reply is None:  # the route took over the connection
            h.close_connection = True
            return
        data = reply.raw if reply.raw is not None else b""
        if reply.body is not None:
            data = json.dumps(reply.body).encode()
        h.send_response(reply.status)
        if self.api_version:
            h.send_header("Api-Version", self.api_version)
        for key, value in {"Content-Type": "application/json", **reply.headers}.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def dispatch(self, req: Request) -> Reply | None:
        if req.path == "/_ping":
            return Reply(raw=b"" if req.method == "HEAD" else b"OK")
        for method, pattern, reply in self.routes:
            if method == req.method and pattern.match(req.path):
                return reply(req) if callable(reply) else reply
        return Reply(404, {"message": "page not found"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="daemon")
def daemon_fixture(tmp_path: Path) -> Iterator[StubDaemon]:
    stub = StubDaemon(str(tmp_path / "berth.sock"))
    yield stub
    stub.close()


def berth(
    daemon: StubDaemon | str, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    path = daemon if isinstance(daemon, str) else daemon.path
    status = run(["-H", f"unix://{path}", *args])
    out, err = capsys.readouterr()
    return status, out, err


def hijacked(frames: list[bytes], echo_stdin: bool = False) -> Route:
    """An attach/exec-start route: 101, the frames, then stdin echoed until its EOF."""

    def route(req: Request) -> None:
        h = req.handler
        assert h is not None
        assert h.headers["Upgrade"] == "tcp" and h.headers["Connection"] == "Upgrade"
        h.wfile.write(
            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream"
            b"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        for frame in frames:
            h.wfile.write(frame)
        h.wfile.flush()
        if echo_stdin:
            while data := h.rfile.read1(4096):  # type: ignore[attr-defined]
                h.wfile.write(encode_frame(1, b"echo:" + data))
                h.wfile.flush()
        h.connection.shutdown(2)

    return route


NETWORK = {"Name": "front", "Id": "ab" * 32, "Driver": "bridge", "Scope": "local"}


def test_network_ls_pings_once_and_uses_the_negotiated_version(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.api_version = "1.41"
    daemon.on("GET", "/networks", Reply(body=[NETWORK]))
    status, out, _ = berth(daemon, "network", "ls", "-f", "driver=bridge", capsys=capsys)
    assert status == 0
    assert out == (
        "NETWORK ID     NAME      DRIVER    SCOPE\nabababababab   front     bridge    local\n"
    )
    assert [(r.method, r.path) for r in daemon.requests] == [
        ("HEAD", "/_ping"),
        ("GET", "/networks"),
    ]
    assert daemon.requests[1].version == "1.41"
    assert json.loads(daemon.requests[1].query["filters"]) == {"driver": {"bridge": True}}


def test_versions_above_ours_and_missing_headers(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon.on("GET", "/networks", Reply(body=[]))
    daemon.api_version = "1.52"
    berth(daemon, "network", "ls", capsys=capsys)
    assert daemon.requests[-1].version == "1.47"
    daemon.api_version = None
    berth(daemon, "network", "ls", capsys=capsys)
    assert daemon.requests[-1].version == "1.24"
    monkeypatch.setenv("BERTH_API_VERSION", "1.44")
    daemon.requests.clear()
    berth(daemon, "network", "ls", capsys=capsys)
    assert [(r.path, r.version) for r in daemon.requests] == [("/networks", "1.44")]


def test_daemon_errors_are_one_line(daemon: StubDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.on(
        "POST",
        "/networks/create",
        Reply(409, {"message": "network with name front already exists"}),
    )
    status, out, err = berth(daemon, "network", "create", "front", capsys=capsys)
    assert (status, out) == (1, "")
    assert err == "Error response from daemon: network with name front already exists\n"
    daemon.on("GET", "/networks/.*", Reply(500, raw=b"plain text failure"))
    status, _, err = berth(daemon, "network", "inspect", "x", capsys=capsys)
    assert status == 1
    assert err == "Error response from daemon: plain text failure\n"


def test_no_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "nobody.sock")
    status, _, err = berth(path, "network", "ls", capsys=capsys)
    assert status == 1
    assert err == f"Cannot connect to the berth daemon at unix://{path}: Is berthd running?\n"
    status, _, err = berth(path, "run", "-d", "busybox", "true", capsys=capsys)
    assert status == 125
    assert "Is berthd running?" in err


def test_host_from_environment(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon.on("GET", "/networks", Reply(body=[]))
    monkeypatch.setenv("BERTH_HOST", f"unix://{daemon.path}")
    assert run(["network", "ls", "-q"]) == 0
    assert daemon.calls() == ["GET /networks"]
    monkeypatch.setenv("BERTH_HOST", "tcp://1.2.3.4:2375")
    assert run(["network", "ls"]) == 1
    assert "unix:///path sockets only" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["network", "ls", "--bogus"],
        ["network", "create"],
        ["nosuchcommand"],
        ["run"],
        ["stop"],
        ["logs", "--tail"],
    ],
)
def test_usage_errors_exit_125(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    status, _, err = berth(daemon, *args, capsys=capsys)
    assert status == 125
    assert "Error:" in err
    assert daemon.requests == []


def test_bad_flag_values_are_reported_before_any_request(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = berth(daemon, "network", "create", "--gateway", "10.0.0.1", "x", capsys=capsys)
    assert (status, err) == (1, "every ip-range or gateway must have a corresponding subnet\n")
    status, _, err = berth(daemon, "run", "-p", "80/icmp", "busybox", "true", capsys=capsys)
    assert status == 125 and "unknown protocol" in err
    status, _, err = berth(daemon, "network", "ls", "--format", "{{.Nope}}", capsys=capsys)
    assert status == 1
    assert daemon.calls() == ["GET /networks"]


def test_network_rm_carries_on_and_force(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.on("DELETE", "/networks/a", Reply(204))
    daemon.on("DELETE", "/networks/missing", Reply(404, {"message": "network missing not found"}))
    status, out, err = berth(daemon, "network", "rm", "missing", "a", capsys=capsys)
    assert (status, out, err) == (
        1,
        "a\n",
        "Error response from daemon: network missing not found\n",
    )
    status, out, err = berth(daemon, "network", "rm", "-f", "missing", "a", capsys=capsys)
    assert (status, out, err) == (0, "a\n", "")


def test_network_create_connect_disconnect(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.on("POST", "/networks/create", Reply(201, {"Id": "ab" * 32, "Warning": "careful"}))
    daemon.on("POST", "/networks/front/(connect|disconnect)", Reply(200))
    status, out, err = berth(
        daemon,
        "network",
        "create",
        "-d",
        "bridge",
        "--subnet",
        "10.9.0.0/24",
        "front",
        capsys=capsys,
    )
    assert (status, out, err) == (0, "ab" * 32 + "\n", "WARNING: careful\n")
    assert daemon.find("POST", "/networks/create").body["IPAM"]["Config"] == [
        {"Subnet": "10.9.0.0/24"}
    ]
    berth(
        daemon,
        "network",
        "connect",
        "--ip",
        "10.9.0.5",
        "--alias",
        "db",
        "front",
        "web",
        capsys=capsys,
    )
    connect = daemon.find("POST", "/networks/front/connect").body
    assert connect["Container"] == "web"
    assert connect["EndpointConfig"]["IPAMConfig"] == {"IPv4Address": "10.9.0.5"}
    assert connect["EndpointConfig"]["Aliases"] == ["db"]
    assert berth(daemon, "network", "disconnect", "-f", "front", "web", capsys=capsys)[0] == 0
    assert daemon.find("POST", "/networks/front/disconnect").body == {
        "Container": "web",
        "Force": True,
    }


@pytest.mark.parametrize(("answer", "pruned"), [("y\n", True), ("n\n", False), ("", False)])
def test_network_prune_asks_first(
    daemon: StubDaemon,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    pruned: bool,
) -> None:
    daemon.on("POST", "/networks/prune", Reply(body={"NetworksDeleted": ["old1", "old2"]}))
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer))
    status, out, _ = berth(daemon, "network", "prune", "--filter", "until=24h", capsys=capsys)
    assert status == 0
    assert out.startswith("WARNING! This will remove all custom networks")
    assert ("Deleted Networks:\nold1\nold2\n\n" in out) is pruned
    assert daemon.calls() == (["POST /networks/prune"] if pruned else [])
    if pruned:
        assert json.loads(daemon.requests[-1].query["filters"]) == {"until": {"24h": True}}


def test_network_prune_force(daemon: StubDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.on("POST", "/networks/prune", Reply(body={"NetworksDeleted": None}))
    assert berth(daemon, "network", "prune", "-f", capsys=capsys)[:2] == (0, "")


def test_events(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    event = {
        "Type": "network",
        "Action": "connect",
        "Actor": {
            "ID": "ab" * 32,
            "Attributes": {"name": "front", "container": CID, "type": "bridge"},
        },
        "scope": "local",
        "time": 1700000000,
        "timeNano": 1700000000123456789,
    }
    payload = (json.dumps(event) + "\n").encode() * 2
    daemon.on("GET", "/events", Reply(raw=payload))
    import time

    time.tzset()
    try:
        status, out, _ = berth(daemon, "events", "--filter", "type=network", capsys=capsys)
    finally:
        monkeypatch.undo()
        time.tzset()
    line = (
        f"2023-11-14T22:13:20.123456789Z network connect {'ab' * 32} "
        f"(container={CID}, name=front, type=bridge)\n"
    )
    assert (status, out) == (0, line * 2)
    assert json.loads(daemon.requests[-1].query["filters"]) == {"type": {"network": True}}
    status, out, _ = berth(daemon, "events", "--format", "{{.Type}}/{{.Action}}", capsys=capsys)
    assert out == "network/connect\n" * 2


def test_version(daemon: StubDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.on(
        "GET",
        "/version",
        Reply(body={"Version": "9.9", "ApiVersion": "1.47", "MinAPIVersion": "1.24"}),
    )
    status, out, _ = berth(
        daemon, "version", "--format", "{{.Server.Version}} {{.Client.ApiVersion}}", capsys=capsys
    )
    assert (status, out) == (0, "9.9 1.47\n")
    status, out, _ = berth(  # docker's Go field names work too
        daemon,
        "version",
        "--format",
        "{{.Server.APIVersion}}/{{.Client.APIVersion}}",
        capsys=capsys,
    )
    assert (status, out) == (0, "1.47/1.47\n")
    status, out, _ = berth(daemon, "version", capsys=capsys)
    assert "Client:" in out and "Server:" in out and "1.47 (minimum version 1.24)" in out


HEAVY = ("aiohttp", "pyroute2", "berth.controller", "berth.api", "berth.daemon", "berth.runtime")


@pytest.mark.parametrize("args", [["--help"], ["network", "ls"], ["ps"], ["run", "--help"]])
def test_light_imports(daemon: StubDaemon, args: list[str]) -> None:
    """The CLI never loads the daemon's stack; `--help` does not even load the HTTP client."""
    daemon.on("GET", "/networks", Reply(body=[]))
    daemon.on("GET", "/containers/json", Reply(body=[]))
    code = (
        "import sys\nfrom berth.cli.main import run\n"
        f"status = run(['-H', 'unix://{daemon.path}', *{args!r}])\n"
        "print(sorted(m for m in sys.modules if m.startswith(" + repr(HEAVY) + ")"
        " or m == 'http.client'), file=sys.stderr)\nsys.exit(status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stderr.strip().splitlines()[-1]
    assert loaded == ("[]" if args == ["--help"] else "['http.client']")
