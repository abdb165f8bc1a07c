"""Pieces of the shim that need no root: frames, launch specs, environments, executable lookup,
exit statuses, the shim's write-buffering loop, and its client side over a socketpair."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest

from berth.runtime.launch import DEFAULT_PATH, ExecSpec, LaunchSpec, container_env, merge_env
from berth.runtime.nsproc import SetupError, find_executable
from berth.runtime.protocol import (
    CONTROL,
    STDOUT,
    FrameBuffer,
    ProtocolError,
    control,
    frame,
    parse_control,
)
from berth.runtime.shimloop import MAX_PENDING, Loop
from berth.runtime.shimproc import SetupFailed, exit_code_of, make_stdio


def test_frames_like_dockers_stream_headers() -> None:
    assert frame(STDOUT, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    buffer = FrameBuffer()
    data = control({"op": "watch"}) + frame(STDOUT, b"abc")
    assert buffer.feed(data[:5]) == []
    frames = buffer.feed(data[5:])
    assert frames == [(CONTROL, b'{"op":"watch"}'), (STDOUT, b"abc")]
    assert parse_control(frames[0][1]) == {"op": "watch"}


@pytest.mark.parametrize(
    "raw", [b"\x09\x00\x00\x00\x00\x00\x00\x01", struct.pack(">B3xI", 1, 1 << 30)]
)
def test_bad_frames(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        FrameBuffer().feed(raw)


def test_control_must_be_an_object() -> None:
    with pytest.raises(ProtocolError):
        parse_control(b"[1]")
    with pytest.raises(ProtocolError):
        parse_control(b"{")


def test_launch_spec_round_trip() -> None:
    spec = LaunchSpec(
        id="x",
        args=["sh"],
        env=["A=1"],
        netns="/run/netns/x",
        log_path="/l",
        tty=True,
        etc_files={"/etc/hosts": "/d/hosts"},
    )
    assert LaunchSpec.from_json(spec.to_json()) == spec
    exec_spec = ExecSpec(id="e", args=["ls"], env=[], stdin=True)
    assert ExecSpec.from_dict(exec_spec.to_dict()) == exec_spec


def test_environment_like_docker() -> None:
    assert container_env(("A=1",), "web", tty=False) == [
        f"PATH={DEFAULT_PATH}",
        "HOSTNAME=web",
        "A=1",
        "HOME=/root",
    ]
    env = container_env(("PATH=/bin", "HOME=/srv"), "web", tty=True)
    assert env == ["PATH=/bin", "HOSTNAME=web", "TERM=xterm", "HOME=/srv"]
    assert merge_env(["A=1", "B=2"], ("A=3", "C=4")) == ["A=3", "B=2", "C=4"]


def test_find_executable(tmp_path: Path) -> None:
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "data").write_text("")
    env = [f"PATH=/nonexistent:{tmp_path}"]
    assert find_executable("tool", env) == str(tool)
    assert find_executable("/abs/path", env) == "/abs/path"
    with pytest.raises(SetupError, match='exec: "data": executable file not found') as err:
        find_executable("data", env)
    assert err.value.exit_code == 127


def test_exit_codes() -> None:
    assert exit_code_of(3 << 8) == 3
    assert exit_code_of(9) == 137  # killed by SIGKILL
    assert SetupFailed.from_status(b'{"error": "boom", "exit_code": 126}').exit_code == 126
    assert SetupFailed.from_status(b"garbage").exit_code == 255


def test_stdio_pipes_and_pty() -> None:
    pipes = make_stdio(tty=False, stdin=True)
    assert pipes.master is None and pipes.stdin_fd is not None and len(pipes.outputs) == 2
    pty = make_stdio(tty=True, stdin=False)
    assert pty.master is not None and pty.stdin_fd is None and pty.child == (pty.child[0],) * 3
    for stdio in (pipes, pty):
        for fd in {*stdio.child_side, *stdio.parent_side}:
            os.close(fd)


def test_loop_buffers_writes_and_reports_overflow() -> None:
    loop = Loop()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    received: list[bytes] = []
    failed: list[bool] = []
    loop.add_reader(theirs.fileno(), lambda: received.append(theirs.recv(1 << 20)))
    loop.on_write_error(ours.fileno(), lambda: failed.append(True))
    loop.send(ours.fileno(), b"x" * 100)
    loop.run_once(1)
    assert received == [b"x" * 100]
    loop.remove_reader(theirs.fileno())
    loop.send(ours.fileno(), b"y" * (MAX_PENDING + 1))  # nobody reads: the buffer overflows
    assert failed == [True]
    assert not loop.has_pending()
    ours.close()
    theirs.close()


def test_loop_closes_after_flush() -> None:
    loop = Loop()
    r, w = os.pipe()
    os.set_blocking(w, False)
    loop.send(w, b"da")
    loop.close_after(w, b"ta")
    assert os.read(r, 10) == b"data"
    assert os.read(r, 10) == b""  # closed: EOF
    os.close(r)
