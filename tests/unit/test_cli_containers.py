"""Container commands (run, create, start, exec, logs, ps, inspect, stop...) against the
scripted stand-in daemon of test_cli_commands.py: the order of the requests that make a
foreground `run` lose nothing, stdin relaying, and Docker's exit statuses."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from berth.cli.hijack import encode_frame
from tests.unit.test_cli_commands import (  # noqa: F401 - daemon_fixture is a fixture
    CID,
    EXEC_ID,
    NETWORK,
    Reply,
    StubDaemon,
    berth,
    daemon_fixture,
    hijacked,
)


def test_run_detached(daemon: StubDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.on("POST", "/containers/create", Reply(201, {"Id": CID, "Warnings": ["w1"]}))
    daemon.on("POST", f"/containers/{CID}/start", Reply(204))
    status, out, err = berth(
        daemon,
        "run", "-d", "--name", "web", "--net", "front", "-p", "8080:80", "busybox",
        "python3", "-c", "print(1)", "-d",
        capsys=capsys,
    )  # fmt: skip
    assert (status, out, err) == (0, CID + "\n", "WARNING: w1\n")
    assert daemon.calls() == ["POST /containers/create", f"POST /containers/{CID}/start"]
    create = daemon.find("POST", "/containers/create")
    assert create.query == {"name": "web"}
    assert create.body["Cmd"] == ["python3", "-c", "print(1)", "-d"]  # after IMAGE: the command's
    assert create.body["Image"] == "busybox"
    assert create.body["HostConfig"]["NetworkMode"] == "front"


def foreground(daemon: StubDaemon, wait_reply: dict[str, Any], echo: bool = False) -> None:
    daemon.on("POST", "/containers/create", Reply(201, {"Id": CID, "Warnings": []}))
    frames = [encode_frame(1, b"to stdout\n"), encode_frame(2, b"to stderr\n")]
    daemon.on("POST", f"/containers/{CID}/attach", hijacked(frames, echo_stdin=echo))
    daemon.on("POST", f"/containers/{CID}/wait", Reply(body=wait_reply))
    daemon.on("POST", f"/containers/{CID}/start", Reply(204))


def test_run_foreground_exit_status_and_order(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    foreground(daemon, {"StatusCode": 3, "Error": None})
    status, out, err = berth(daemon, "run", "--rm", "busybox", "sh", "-c", "exit 3", capsys=capsys)
    assert (status, out, err) == (3, "to stdout\n", "to stderr\n")
    assert daemon.calls() == [
        "POST /containers/create",
        f"POST /containers/{CID}/attach",
        f"POST /containers/{CID}/wait",
        f"POST /containers/{CID}/start",
    ]
    assert daemon.find("POST", f"/containers/{CID}/attach").query == {
        "stream": "1", "stdin": "0", "stdout": "1", "stderr": "1",
    }  # fmt: skip
    assert daemon.find("POST", f"/containers/{CID}/wait").query == {"condition": "removed"}
    assert daemon.find("POST", "/containers/create").body["HostConfig"]["AutoRemove"] is True


def test_run_interactive_relays_stdin(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    foreground(daemon, {"StatusCode": 0}, echo=True)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello\n")))
    status, out, _ = berth(daemon, "run", "-i", "busybox", "cat", capsys=capsys)
    assert status == 0
    assert out == "to stdout\necho:hello\n"
    assert daemon.find("POST", f"/containers/{CID}/wait").query == {"condition": "next-exit"}
    body = daemon.find("POST", "/containers/create").body
    assert body["AttachStdin"] and body["OpenStdin"] and body["StdinOnce"]


def test_run_interactive_tty_needs_a_terminal(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    status, _, err = berth(daemon, "run", "-it", "busybox", "sh", capsys=capsys)
    assert (status, err) == (125, "the input device is not a TTY\n")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("No such network: nope", 125),
        ('exec: "nosuch": executable file not found in $PATH', 127),
        ("exec /etc/passwd: permission denied", 126),
    ],
)
def test_run_failures_exit_like_docker(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str], message: str, expected: int
) -> None:
    foreground(daemon, {"StatusCode": 0})
    daemon.on("POST", f"/containers/{CID}/start", Reply(400, {"message": message}))
    status, _, err = berth(daemon, "run", "busybox", "nosuch", capsys=capsys)
    assert (status, err) == (expected, f"Error response from daemon: {message}\n")


def test_run_wait_error(daemon: StubDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    foreground(daemon, {"StatusCode": -1, "Error": {"Message": "container vanished"}})
    status, _, err = berth(daemon, "run", "busybox", "true", capsys=capsys)
    assert status == 125
    assert err.endswith("Error waiting for container: container vanished\n")


def test_start_attach(daemon: StubDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    foreground(daemon, {"StatusCode": 7})
    info = {"Id": CID, "Config": {"Tty": False, "OpenStdin": False}, "State": {"Running": False}}
    daemon.on("GET", "/containers/web/json", Reply(body=info))
    status, out, _ = berth(daemon, "start", "-a", "web", capsys=capsys)
    assert (status, out) == (7, "to stdout\n")
    daemon.on("POST", "/containers/(a|b)/start", Reply(204))
    assert berth(daemon, "start", "a", "b", capsys=capsys)[:2] == (0, "a\nb\n")


def test_exec_returns_the_process_status(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon.on("POST", "/containers/web/exec", Reply(201, {"Id": EXEC_ID}))
    daemon.on("POST", f"/exec/{EXEC_ID}/start", hijacked([encode_frame(1, b"out\n")], True))
    running = iter([True, False])
    daemon.on(
        "GET",
        f"/exec/{EXEC_ID}/json",
        lambda req: Reply(body={"Running": (r := next(running)), "ExitCode": None if r else 5}),
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"in\n")))
    status, out, _ = berth(
        daemon, "exec", "-i", "-e", "A=1", "web", "sh", "-c", "exit 5", capsys=capsys
    )
    assert (status, out) == (5, "out\necho:in\n")
    body = daemon.find("POST", "/containers/web/exec").body
    assert body["Cmd"] == ["sh", "-c", "exit 5"] and body["Env"] == ["A=1"]
    assert daemon.find("POST", f"/exec/{EXEC_ID}/start").body == {"Detach": False, "Tty": False}


def test_exec_detached(daemon: StubDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    daemon.on("POST", "/containers/web/exec", Reply(201, {"Id": EXEC_ID}))
    daemon.on("POST", f"/exec/{EXEC_ID}/start", Reply(200))
    assert berth(daemon, "exec", "-d", "web", "sleep", "1", capsys=capsys)[:2] == (0, "")
    assert daemon.find("POST", f"/exec/{EXEC_ID}/start").body == {"Detach": True, "Tty": False}


def test_logs(daemon: StubDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    frames = (
        encode_frame(1, b"line 1\n") + encode_frame(2, b"warn\n") + encode_frame(1, b"line 2\n")
    )
    multiplexed = {"Content-Type": "application/vnd.docker.multiplexed-stream"}
    daemon.on("GET", "/containers/web/logs", Reply(raw=frames, headers=multiplexed))
    status, out, err = berth(
        daemon, "logs", "-t", "--tail", "5", "--since", "1700000000", "web", capsys=capsys
    )
    assert (status, out, err) == (0, "line 1\nline 2\n", "warn\n")
    assert daemon.find("GET", "/containers/web/logs").query == {
        "stdout": "1", "stderr": "1", "tail": "5", "since": "1700000000", "timestamps": "1",
    }  # fmt: skip
    daemon.on(
        "GET", "/containers/tty/logs", Reply(raw=b"raw\r\n", headers={"Content-Type": "text/plain"})
    )
    daemon.on("GET", "/containers/tty/json", Reply(body={"Config": {"Tty": True}}))
    assert berth(daemon, "logs", "tty", capsys=capsys)[:2] == (0, "raw\r\n")


def test_container_lifecycle_requests(
    daemon: StubDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.on("POST", "/containers/[^/]+/(stop|restart|kill|rename)", Reply(204))
    daemon.on("DELETE", "/containers/[^/]+", Reply(204))
    daemon.on("POST", "/containers/[^/]+/wait", Reply(body={"StatusCode": 137}))
    assert berth(daemon, "stop", "-t", "3", "-s", "SIGUSR1", "a", "b", capsys=capsys)[:2] == (
        0,
        "a\nb\n",
    )
    assert berth(daemon, "restart", "a", capsys=capsys)[0] == 0
    assert berth(daemon, "kill", "-s", "HUP", "a", capsys=capsys)[0] == 0
    assert berth(daemon, "rm", "-f", "a", capsys=capsys)[0] == 0
    assert berth(daemon, "wait", "a", capsys=capsys)[:2] == (0, "137\n")
    assert berth(daemon, "rename", "a", "b", capsys=capsys)[:2] == (0, "")
    queries = [(f"{r.method} {r.path}", r.query) for r in daemon.requests if r.path != "/_ping"]
    assert queries == [
        ("POST /containers/a/stop", {"t": "3", "signal": "SIGUSR1"}),
        ("POST /containers/b/stop", {"t": "3", "signal": "SIGUSR1"}),
        ("POST /containers/a/restart", {}),
        ("POST /containers/a/kill", {"signal": "HUP"}),
        ("DELETE /containers/a", {"force": "1"}),
        ("POST /containers/a/wait", {}),
        ("POST /containers/a/rename", {"name": "b"}),
    ]


def test_ps_and_inspect(daemon: StubDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    item = {"Id": CID, "Names": ["/web"], "Image": "busybox", "Command": "sh", "Created": 0,
            "State": "running", "Status": "Up 1 second", "Ports": []}  # fmt: skip
    daemon.on("GET", "/containers/json", Reply(body=[item]))
    status, out, _ = berth(daemon, "ps", "-a", "-q", "-f", "name=web", capsys=capsys)
    assert (status, out) == (0, CID[:12] + "\n")
    assert daemon.requests[-1].query["all"] == "1"
    assert berth(daemon, "ps", "--format", "{{.Names}} {{.Status}}", capsys=capsys)[1] == (
        "web Up 1 second\n"
    )
    daemon.on("GET", "/containers/front/json", Reply(404, {"message": "No such container: front"}))
    daemon.on("GET", "/networks/front", Reply(body=NETWORK))
    status, out, _ = berth(daemon, "inspect", "-f", "{{.Name}} {{.Driver}}", "front", capsys=capsys)
    assert (status, out) == (0, "front bridge\n")
    daemon.on("GET", "/networks/nope", Reply(404, {"message": "network nope not found"}))
    daemon.on("GET", "/containers/nope/json", Reply(404, {"message": "No such container: nope"}))
    status, out, err = berth(daemon, "inspect", "nope", capsys=capsys)
    assert (status, out, err) == (1, "[]\n", "Error: No such object: nope\n")
    status, _, err = berth(daemon, "inspect", "--type", "container", "nope", capsys=capsys)
    assert err == "Error response from daemon: No such container: nope\n"
