"""The shim's side of ``attach.sock``: accepting clients, answering requests, relaying stdio.

Requests and streams are described in ``protocol``; the shim's process management is called
through the small ``ShimOps`` protocol, so this module only knows about connections.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Protocol

from berth.runtime.launch import ExecSpec
from berth.runtime.protocol import (
    CONTROL,
    STDERR,
    STDIN,
    STDIN_EOF,
    STDOUT,
    FrameBuffer,
    ProtocolError,
    control,
    frame,
    parse_control,
)
from berth.runtime.shimloop import Loop
from berth.runtime.shimproc import Proc, set_winsize

FLUSH_TIMEOUT_S = 1.0
EOT = b"\x04"  # "end of input" typed on a terminal


class ShimOps(Protocol):
    loop: Loop
    listener: socket.socket
    main: Proc | None
    execs: dict[int, Proc]
    state: str

    @property
    def stdin_once(self) -> bool: ...

    def start(self) -> dict[str, Any]: ...

    def signal_main(self, sig: int) -> dict[str, Any]: ...

    def snapshot(self) -> dict[str, Any]: ...

    def spawn_exec(self, spec: ExecSpec) -> tuple[dict[str, Any], Proc | None]: ...


class Client:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.frames = FrameBuffer()
        self.proc: Proc | None = None
        self.streams: set[int] = set()
        self.stdin = False
        self.watch = False
        self.greeted = False


class Clients:
    def __init__(self, shim: ShimOps) -> None:
        self.shim = shim
        self.all: dict[int, Client] = {}

    @property
    def loop(self) -> Loop:
        return self.shim.loop

    def accept(self) -> None:
        try:
            conn, _ = self.shim.listener.accept()
        except BlockingIOError:
            return
        fd = conn.detach()
        os.set_blocking(fd, False)
        client = Client(fd)
        self.all[fd] = client
        self.loop.add_reader(fd, lambda: self._on_readable(client))
        self.loop.on_write_error(fd, lambda: self.drop(client))

    def drop(self, client: Client) -> None:
        if self.all.pop(client.fd, None) is None:
            return
        self.loop.forget(client.fd)
        os.close(client.fd)
        if client.proc is not None and client in client.proc.subscribers:
            client.proc.subscribers.remove(client)

    def _send(self, client: Client, message: dict[str, Any]) -> None:
        self.loop.send(client.fd, control(message))

    def _reply_and_close(self, client: Client, message: dict[str, Any]) -> None:
        if self.all.pop(client.fd, None) is None:
            return  # already dropped
        if client.proc is not None and client in client.proc.subscribers:
            client.proc.subscribers.remove(client)
        self.loop.remove_reader(client.fd)
        self.loop.close_after(client.fd, control(message))

    # --- incoming -------------------------------------------------------------------------

    def _on_readable(self, client: Client) -> None:
        try:
            data = os.read(client.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop(client)
            return
        try:
            for kind, payload in client.frames.feed(data):
                if client.fd not in self.all:
                    return
                if kind == CONTROL:
                    self._request(client, parse_control(payload))
                elif not client.greeted:
                    raise ProtocolError("the first frame must be a request")
                elif kind == STDIN:
                    self._stdin(client, payload)
                elif kind == STDIN_EOF:
                    self._stdin_eof(client)
        except (ProtocolError, KeyError, TypeError, ValueError) as err:
            self._reply_and_close(client, {"ok": False, "error": f"bad request: {err}"})

    def _request(self, client: Client, msg: dict[str, Any]) -> None:
        client.greeted = True
        op = msg.get("op")
        if op == "watch":
            client.watch = True
            self._send(client, self.shim.snapshot())
        elif op == "attach":
            self._attach(client, msg)
        elif op == "exec":
            reply, proc = self.shim.spawn_exec(ExecSpec.from_dict(msg["spec"]))
            if proc is None or msg.get("detach"):
                self._reply_and_close(client, reply)
                return
            self._subscribe(client, proc, {STDOUT, STDERR}, proc.stdin_fd is not None)
            self._send(client, reply)
        elif op == "resize":
            self._reply_and_close(client, self._resize(msg))
        elif op == "start":
            self._reply_and_close(client, self.shim.start())
        elif op == "signal":
            self._reply_and_close(client, self.shim.signal_main(int(msg["signal"])))
        elif op == "state":
            self._reply_and_close(client, self.shim.snapshot())
        else:
            self._reply_and_close(client, {"ok": False, "error": f"unknown request {op!r}"})

    def _attach(self, client: Client, msg: dict[str, Any]) -> None:
        main = self.shim.main
        if main is None or main.exit_code is not None or self.shim.state == "exited":
            self._reply_and_close(client, {"ok": False, "error": "container is not running"})
            return
        wanted = ((STDOUT, msg.get("stdout")), (STDERR, msg.get("stderr")))
        streams = {kind for kind, want in wanted if want}
        self._subscribe(client, main, streams, bool(msg.get("stdin")))
        self._send(client, {"ok": True, "tty": main.tty})

    def _subscribe(self, client: Client, proc: Proc, streams: set[int], stdin: bool) -> None:
        client.proc = proc
        client.streams = {STDOUT} if proc.tty and streams else streams
        client.stdin = stdin
        proc.subscribers.append(client)

    def _resize(self, msg: dict[str, Any]) -> dict[str, Any]:
        exec_id = msg.get("exec")
        procs = [self.shim.main, *self.shim.execs.values()]
        proc = next((p for p in procs if p is not None and p.exec_id == exec_id), None)
        if proc is None or proc.master is None:
            return {"ok": False, "error": "no terminal to resize"}
        set_winsize(proc.master, int(msg["height"]), int(msg["width"]))
        return {"ok": True}

    def _stdin(self, client: Client, data: bytes) -> None:
        proc = client.proc
        if client.stdin and proc is not None and proc.stdin_fd is not None:
            fd = proc.stdin_fd
            self.loop.on_write_error(fd, lambda: self._stdin_gone(proc, fd))
            self.loop.send(fd, data)

    def _stdin_gone(self, proc: Proc, fd: int) -> None:
        """The process closed its stdin: stop writing to it."""
        if proc.stdin_fd == fd and fd != proc.master:
            proc.stdin_fd = None
            os.close(fd)

    def _stdin_eof(self, client: Client) -> None:
        """The client's input ended. An exec'd process, or a container created with
        StdinOnce, gets EOF (on a terminal: the EOT character); otherwise stdin stays open
        for the next attachment."""
        proc = client.proc
        if not client.stdin or proc is None or proc.stdin_fd is None:
            return
        client.stdin = False
        if proc.exec_id is None and not self.shim.stdin_once:
            return
        if proc.tty:
            self.loop.send(proc.stdin_fd, EOT)
            return
        fd, proc.stdin_fd = proc.stdin_fd, None
        self.loop.close_after(fd)

    # --- outgoing -------------------------------------------------------------------------

    def relay(self, proc: Proc, kind: int, data: bytes) -> None:
        for client in list(proc.subscribers):
            if kind in client.streams:
                self.loop.send(client.fd, frame(kind, data))

    def broadcast(self, event: dict[str, Any], *, attached: bool = False) -> None:
        """To every watcher; with ``attached`` also to the main process's attachments."""
        main = self.shim.main
        for client in list(self.all.values()):
            if client.watch or (attached and main is not None and client.proc is main):
                self._send(client, event)

    def exec_finished(self, proc: Proc) -> None:
        event = {"event": "exit", "exit_code": proc.exit_code}
        for client in list(proc.subscribers):
            self._reply_and_close(client, event)
        self.broadcast({"event": "exec_exit", "id": proc.exec_id, "exit_code": proc.exit_code})

    def flush_and_close(self, loop: Loop) -> None:
        """At exit: give every client a moment to take what is still buffered for it."""
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while time.monotonic() < deadline and loop.has_pending():
            loop.run_once(max(0.0, deadline - time.monotonic()))
        for client in list(self.all.values()):
            self.drop(client)
