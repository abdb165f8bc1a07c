"""The shim's view of one process it started (the container's PID 1 or an exec'd process):
its stdio fds, exit status and attached clients, plus the helpers to create them."""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import termios
import time
from dataclasses import dataclass, field
from typing import Any

from berth.runtime.protocol import STDERR, STDOUT

DEFAULT_WINSIZE = (24, 80)


class SetupFailed(Exception):
    """The process failed before exec (bad working dir, missing executable, ...)."""

    def __init__(self, message: str, exit_code: int = 255) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def from_status(cls, status: bytes) -> SetupFailed:
        try:
            report = json.loads(status)
            return cls(str(report["error"]), int(report["exit_code"]))
        except (ValueError, KeyError, TypeError):
            return cls("the container process exited before it could start", 255)


def read_status(fd: int, timeout: float, *, first_byte_only: bool = False) -> bytes:
    """Read a child's status pipe: one byte (READY or the start of an error), or everything up
    to EOF (exec closes the pipe: empty means success)."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SetupFailed("the container process did not report back in time")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 if first_byte_only and not data else 4096)
        if not chunk:
            return data
        data += chunk
        if first_byte_only and data == b"R":
            return data


def exit_code_of(status: int) -> int:
    """Docker's convention: the exit status, or 128 + n for death by signal n."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def set_winsize(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


@dataclass
class Stdio:
    child: tuple[int, int, int]  # what becomes the child's fds 0, 1, 2
    child_side: tuple[int, ...]  # the parent closes these after fork
    outputs: dict[int, int]  # parent's read ends -> STDOUT/STDERR
    stdin_fd: int | None  # parent's write end (None: stdin is /dev/null)
    master: int | None  # the pty master with tty

    @property
    def parent_side(self) -> tuple[int, ...]:
        fds = {*self.outputs, *(fd for fd in (self.stdin_fd, self.master) if fd is not None)}
        return tuple(sorted(fds))


def make_stdio(tty: bool, stdin: bool) -> Stdio:
    """A pty (one stream, reported as stdout) or three pipes; parent ends non-blocking."""
    if tty:
        master, slave = os.openpty()
        set_winsize(master, *DEFAULT_WINSIZE)
        os.set_blocking(master, False)
        return Stdio((slave,) * 3, (slave,), {master: STDOUT}, master if stdin else None, master)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    if stdin:
        in_r, in_w = os.pipe()
        os.set_blocking(in_w, False)
    else:
        in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), -1
    for fd in (out_r, err_r):
        os.set_blocking(fd, False)
    return Stdio(
        (in_r, out_w, err_w),
        (in_r, out_w, err_w),
        {out_r: STDOUT, err_r: STDERR},
        in_w if stdin else None,
        None,
    )


@dataclass(eq=False)
class Proc:
    pid: int
    tty: bool
    outputs: dict[int, int]
    stdin_fd: int | None
    master: int | None
    exec_id: str | None = None
    exit_code: int | None = None
    drain_deadline: float = 0.0
    subscribers: list[Any] = field(default_factory=list)

    def exited(self, code: int, drain_deadline: float) -> None:
        self.exit_code = code
        self.drain_deadline = drain_deadline

    def finished(self, now: float) -> bool:
        """Exited, and its output read to the end (or given up on after the drain time: a
        process it left behind may hold the pipe)."""
        return self.exit_code is not None and (not self.outputs or now >= self.drain_deadline)

    def close_output(self, fd: int) -> None:
        del self.outputs[fd]
        if fd == self.stdin_fd:
            self.stdin_fd = None
        if fd == self.master:
            self.master = None
        os.close(fd)

    def fds(self) -> list[int]:
        fds = set(self.outputs)
        fds |= {fd for fd in (self.stdin_fd, self.master) if fd is not None}
        return sorted(fds)

    def close_all(self) -> None:
        for fd in self.fds():
            os.close(fd)
        self.outputs.clear()
        self.stdin_fd = self.master = None
