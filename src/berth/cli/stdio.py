"""Relaying a terminal or pipes to a hijacked connection, as `docker run`/`exec` do.

stdin is copied by a daemon thread and half-closed (SHUT_WR) at its end, so the process sees
EOF while its output keeps flowing; the caller's thread copies output until the daemon ends the
stream. With a tty and a terminal on stdin, the terminal is put in raw mode and restored on
every way out (normal end, error, SIGTERM/SIGHUP). Without a tty, SIGINT/SIGTERM/... are
forwarded to the container (Docker's --sig-proxy) instead of killing the CLI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import termios
import threading
import tty
from collections.abc import Callable, Iterator
from types import FrameType
from typing import IO, Any

from berth.cli.hijack import STDERR, Hijacked, StreamDecoder

PROXIED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def _fileno(stream: IO[Any]) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _read_chunk(stream: IO[Any]) -> bytes:
    fd = _fileno(stream)
    if fd is not None:
        return os.read(fd, 32768)
    binary = getattr(stream, "buffer", stream)
    reader = getattr(binary, "read1", binary.read)
    data = reader(32768)
    return data.encode() if isinstance(data, str) else bytes(data)


def _binary(stream: IO[Any]) -> IO[bytes]:
    binary: IO[bytes] = getattr(stream, "buffer", stream)
    return binary


def _pump_stdin(conn: Hijacked, stdin: IO[Any]) -> None:
    try:
        while True:
            data = _read_chunk(stdin)
            if not data:
                break
            conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close_write()


class OutputSink:
    """Writes a process's output to stdout/stderr: raw bytes (tty) or demultiplexed frames."""

    def __init__(self, tty: bool, stdout: IO[Any] | None = None, stderr: IO[Any] | None = None):
        self.out = _binary(stdout or sys.stdout)
        self.err = _binary(stderr or sys.stderr)
        self.decoder = None if tty else StreamDecoder()

    def feed(self, data: bytes) -> None:
        if self.decoder is None:
            self.out.write(data)
            self.out.flush()
            return
        for stream, payload in self.decoder.feed(data):
            target = self.err if stream == STDERR else self.out
            target.write(payload)
            target.flush()

    def finish(self) -> None:
        if self.decoder is not None:
            self.decoder.finish()


def relay(
    conn: Hijacked,
    *,
    tty: bool,
    stdin: IO[Any] | None,
    stdout: IO[Any] | None = None,
    stderr: IO[Any] | None = None,
) -> None:
    """Copy stdin to the connection (if given) and its output to stdout/stderr until the
    daemon ends the stream. Raises StreamError if the multiplexed framing is broken."""
    sink = OutputSink(tty, stdout, stderr)
    if stdin is not None:
        threading.Thread(target=_pump_stdin, args=(conn, stdin), daemon=True).start()
    while True:
        try:
            data = conn.recv()
        except ConnectionResetError:
            data = b""
        if not data:
            break
        sink.feed(data)
    sink.finish()


@contextlib.contextmanager
def raw_terminal(stream: IO[Any], enabled: bool) -> Iterator[None]:
    """Raw mode on ``stream`` when it is a terminal and ``enabled``; restored on the way out,
    including when SIGTERM or SIGHUP end the CLI."""
    fd = _fileno(stream)
    if not enabled or fd is None or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)

    def leave(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def forwarding_signals(forward: Callable[[str], None], enabled: bool) -> Iterator[None]:
    """While active, the signals in PROXIED_SIGNALS are sent to the container, not obeyed."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        threading.Thread(target=_quietly, args=(forward, name), daemon=True).start()

    previous = {}
    for name in PROXIED_SIGNALS:
        sig = getattr(signal, name)
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _quietly(fn: Callable[[str], None], arg: str) -> None:
    with contextlib.suppress(Exception):
        fn(arg)


@contextlib.contextmanager
def following_size(
    stream: IO[Any], resize: Callable[[int, int], None], enabled: bool
) -> Iterator[None]:
    """Tell the daemon the terminal's size now and whenever it changes (SIGWINCH)."""
    fd = _fileno(stream)
    if not enabled or fd is None or not os.isatty(fd):
        yield
        return

    def send() -> None:
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(fd)
            _quietly(lambda _: resize(size.lines, size.columns), "")

    send()
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGWINCH, lambda *_: send()) if on_main else None
    try:
        yield
    finally:
        if on_main:
            signal.signal(signal.SIGWINCH, previous)


def stdin_is_terminal() -> bool:
    fd = _fileno(sys.stdin)
    return fd is not None and os.isatty(fd)
