"""The container shim: one small process per running container, forked by ``forkserver`` into
its own session so that it outlives berthd (SIGTERM or kill -9 of the daemon leaves containers
running). It:

- forks the container's process (PID 1 of a new PID namespace, see ``nsproc``) and holds it
  before exec until the daemon says ``start``, so attachments made before start miss nothing;
- writes the process's output to the json-file log and relays stdio to attached clients over
  ``attach.sock`` (see ``protocol``); forks exec'd processes into the container on request;
- forwards signals (the shim is the process's parent: until it reaps the process, the pid cannot
  be reused, so signalling through it is race-free);
- writes ``state.json`` at start and ``exit.json`` at exit, tells its watchers, and exits.

Standard library and small berth modules only: the fork server imports all of this once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from functools import partial

from berth.kernel.netns import unshare
from berth.runtime import logformat
from berth.runtime.launch import (
    EXIT_NAME,
    STATE_NAME,
    ExecSpec,
    LaunchSpec,
    write_json_atomic,
)
from berth.runtime.nsproc import CLONE_NEWPID, READY, container_main, exec_main
from berth.runtime.protocol import SOCKET_NAME, STDERR, STREAM_NAMES
from berth.runtime.shimclients import Clients
from berth.runtime.shimloop import Loop
from berth.runtime.shimproc import Proc, SetupFailed, exit_code_of, make_stdio, read_status

READY_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0  # a daemon that never sends "start" has died: give up
DRAIN_S = 2.0  # after PID 1 exits, how long to wait for the rest of its output


class Shim:
    def __init__(self, spec: LaunchSpec) -> None:
        self.spec = spec
        self.loop = Loop()
        self.state = "created"
        self.started_at = ""
        self.finished_at = ""
        self.error = ""
        self.done = False
        self.main: Proc | None = None
        self.execs: dict[int, Proc] = {}
        self.splitters = {kind: logformat.LineSplitter() for kind in STREAM_NAMES}
        self.log_fd = -1
        self.go_w = self.status_r = -1
        self.start_deadline = time.monotonic() + START_TIMEOUT_S
        self.clients = Clients(self)

    # --- start-up -------------------------------------------------------------------------

    def prepare(self) -> dict[str, object]:
        """Fork the container process and wait until it is set up; then listen."""
        spec = self.spec
        self.log_fd = os.open(
            spec.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640
        )
        stdio = make_stdio(spec.tty, spec.open_stdin)
        netns_fd = os.open(spec.netns, os.O_RDONLY | os.O_CLOEXEC)
        status_r, status_w = os.pipe()
        go_r, go_w = os.pipe()
        unshare(CLONE_NEWPID)  # for our children only: the next fork is the container's PID 1
        pid = os.fork()
        if pid == 0:
            container_main(spec, netns_fd, stdio.child, status_w, go_r)
        for fd in (*stdio.child_side, status_w, go_r, netns_fd):
            os.close(fd)
        self.main = Proc(pid, spec.tty, stdio.outputs, stdio.stdin_fd, stdio.master)
        try:
            status = read_status(status_r, READY_TIMEOUT_S, first_byte_only=True)
        except SetupFailed:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        if status != READY:
            os.waitpid(pid, 0)
            raise SetupFailed.from_status(status)
        self.go_w, self.status_r = go_w, status_r
        self._listen()
        for fd in list(stdio.outputs):
            self.loop.add_reader(fd, partial(self.on_output, self.main, fd))
        return {"ok": True, "shim_pid": os.getpid(), "pid": pid}

    def _listen(self) -> None:
        # relative name: the container dir's absolute path may exceed sun_path's 108 bytes
        if os.path.lexists(SOCKET_NAME):
            os.unlink(SOCKET_NAME)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(SOCKET_NAME)
        os.chmod(SOCKET_NAME, 0o600)
        sock.listen(16)
        sock.setblocking(False)
        self.listener = sock
        self.loop.add_reader(sock.fileno(), self.clients.accept)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: None)
        self.loop.add_reader(wake_r, lambda: self._on_signals(wake_r))

    # --- the container process ------------------------------------------------------------

    def start(self) -> dict[str, object]:
        """Release the held process into exec; report exec's success or its error."""
        main = self.main
        assert main is not None
        if self.state != "created":
            return {"ok": False, "error": f"container process is {self.state}"}
        with contextlib.suppress(OSError):  # if it died meanwhile, its status says so
            os.write(self.go_w, READY)
        os.close(self.go_w)
        try:
            status = read_status(self.status_r, READY_TIMEOUT_S)
        except SetupFailed as err:
            status = json.dumps({"error": str(err), "exit_code": 255}).encode()
            os.kill(main.pid, signal.SIGKILL)
        os.close(self.status_r)
        if status:
            failure = SetupFailed.from_status(status)
            if main.exit_code is None:
                os.waitpid(main.pid, 0)
                main.exit_code = failure.exit_code
            self._log(STDERR, f"{failure}\n".encode())
            self._main_exited(failure.exit_code, str(failure))
            return {"ok": False, "error": str(failure), "exit_code": failure.exit_code}
        self.state = "running"
        self.started_at = logformat.rfc3339nano(time.time_ns())
        write_json_atomic(
            STATE_NAME, {"pid": main.pid, "shim_pid": os.getpid(), "started_at": self.started_at}
        )
        event = {"event": "start", "pid": main.pid, "started_at": self.started_at}
        self.clients.broadcast(event)
        return {"ok": True, "pid": main.pid, "started_at": self.started_at}

    @property
    def stdin_once(self) -> bool:
        return self.spec.stdin_once

    def snapshot(self) -> dict[str, object]:
        main = self.main
        return {
            "ok": True,
            "shim_pid": os.getpid(),
            "state": self.state,
            "pid": main.pid if main is not None else 0,
            "started_at": self.started_at,
            "execs": {p.exec_id: p.pid for p in self.execs.values()},
        }

    def spawn_exec(self, spec: ExecSpec) -> tuple[dict[str, object], Proc | None]:
        """Fork a process into the container (the fork lands in its PID namespace already)."""
        main = self.main
        if main is None or main.exit_code is not None or self.state != "running":
            return {"ok": False, "error": "container is not running", "exit_code": 126}, None
        stdio = make_stdio(spec.tty, spec.stdin)
        status_r, status_w = os.pipe()
        try:
            pid = os.fork()  # ENOMEM once PID 1 is gone
        except OSError as err:
            for fd in (*stdio.child_side, *stdio.parent_side, status_r, status_w):
                os.close(fd)
            return {"ok": False, "error": f"cannot fork: {err}", "exit_code": 126}, None
        if pid == 0:
            exec_main(spec, main.pid, stdio.child, status_w)
        for fd in (*stdio.child_side, status_w):
            os.close(fd)
        proc = Proc(pid, spec.tty, stdio.outputs, stdio.stdin_fd, stdio.master, exec_id=spec.id)
        try:
            status = read_status(status_r, READY_TIMEOUT_S)
        except SetupFailed as err:
            os.kill(pid, signal.SIGKILL)
            status = json.dumps({"error": str(err), "exit_code": 126}).encode()
        finally:
            os.close(status_r)
        if status:
            os.waitpid(pid, 0)
            proc.close_all()
            failure = SetupFailed.from_status(status)
            code = failure.exit_code
            self.clients.broadcast({"event": "exec_exit", "id": spec.id, "exit_code": code})
            return {"ok": False, "error": str(failure), "exit_code": failure.exit_code}, None
        self.execs[pid] = proc
        for fd in list(proc.outputs):
            self.loop.add_reader(fd, partial(self.on_output, proc, fd))
        return {"ok": True, "pid": pid}, proc

    def signal_main(self, sig: int) -> dict[str, object]:
        main = self.main
        if main is None or main.exit_code is not None or self.state != "running":
            return {"ok": False, "error": "container is not running"}
        os.kill(main.pid, sig)  # not reaped yet, so the pid is still ours
        return {"ok": True}

    def on_output(self, proc: Proc | None, fd: int) -> None:
        assert proc is not None
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: a pty whose other side is closed
        if not data:
            self.loop.forget(fd)
            proc.close_output(fd)
            return
        kind = proc.outputs[fd]
        if proc is self.main:
            self._log(kind, data)
        self.clients.relay(proc, kind, data)

    def _log(self, kind: int, data: bytes) -> None:
        for message in self.splitters[kind].feed(data):
            self._write_log(kind, message)

    def _write_log(self, kind: int, message: bytes) -> None:
        try:
            os.write(self.log_fd, logformat.encode(STREAM_NAMES[kind], message, time.time_ns()))
        except OSError as err:  # a full disk must not stop the relay to attached clients
            print(f"shim: cannot write the log: {err}", file=sys.stderr)

    def _on_signals(self, wake_r: int) -> None:
        try:
            received = os.read(wake_r, 512)
        except BlockingIOError:
            return
        for sig in received:
            if sig in (signal.SIGTERM, signal.SIGINT):
                self.signal_main(sig)
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = exit_code_of(status)
            if self.main is not None and pid == self.main.pid:
                self.main.exit_code = code
                reason = "" if self.state == "running" else "container process died before start"
                self._main_exited(code, reason)
            elif pid in self.execs:
                self.execs[pid].exited(code, time.monotonic() + DRAIN_S / 4)

    def _main_exited(self, code: int, error: str) -> None:
        assert self.main is not None
        self.main.exited(code, time.monotonic() + DRAIN_S)
        self.state = "exited"
        self.error = self.error or error
        self.finished_at = logformat.rfc3339nano(time.time_ns())

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        self._reap()
        while not self.done:
            self.loop.run_once(0.2)
            self._check_deadlines()
        self._finish()

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for pid, proc in list(self.execs.items()):
            if proc.finished(now):
                self.clients.exec_finished(proc)
                self._close_proc(proc)
                del self.execs[pid]
        main = self.main
        if main is None:
            return
        if self.state == "created" and now > self.start_deadline:
            os.kill(main.pid, signal.SIGKILL)
        if main.finished(now) and not self.execs:
            self._close_proc(main)
            self.done = True

    def _close_proc(self, proc: Proc) -> None:
        for fd in proc.fds():
            self.loop.forget(fd)
        proc.close_all()

    def _finish(self) -> None:
        main = self.main
        assert main is not None and main.exit_code is not None
        for kind, splitter in self.splitters.items():
            rest = splitter.flush()
            if rest:
                self._write_log(kind, rest)
        result = {
            "exit_code": main.exit_code,
            "pid": main.pid,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
        }
        write_json_atomic(EXIT_NAME, result)
        self.clients.broadcast({"event": "exit", **result}, attached=True)
        self.clients.flush_and_close(self.loop)
        os.unlink(SOCKET_NAME)
