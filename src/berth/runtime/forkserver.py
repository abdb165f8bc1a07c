"""The shim fork server: ``python -m berth.runtime.forkserver <exec root>``.

Starting a Python process per container costs ~100-150 ms (interpreter start and imports); this
small single-threaded server pays that once and forks every shim from its already-imported
state (a fork costs ~2 ms). The daemon writes a container directory per line on stdin; the
server forks twice (the shim becomes the child of init, in its own session, never of the server
or the daemon) and answers with the shim's ready line on stdout. It exits when the daemon closes
its stdin (the daemon stopped or died); the shims it started keep running.

The exec root argument only labels the process (and its shims) in ``ps`` output.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

from berth.runtime.launch import CONFIG_NAME, SHIM_LOG_NAME, LaunchSpec
from berth.runtime.nsproc import set_process_name
from berth.runtime.shim import Shim
from berth.runtime.shimproc import SetupFailed

MAX_READY_LINE = 1 << 16
SHIM_PROCESS_NAME = "berth-shim"


def serve(requests: int, replies: int) -> int:
    with os.fdopen(requests, "rb", buffering=0) as source:
        while line := source.readline():
            path = line.decode().strip()
            reply = _fork_shim(path)
            os.write(replies, reply.rstrip(b"\n") + b"\n")
    return 0


def _fork_shim(path: str) -> bytes:
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() == 0:
                _run_shim(path, ready_w)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.waitpid(pid, 0)
    reply = b""
    with os.fdopen(ready_r, "rb") as ready:
        reply = ready.readline(MAX_READY_LINE)
    if not reply.strip():
        error = f"the shim exited before it was ready (see {path}/{SHIM_LOG_NAME})"
        return json.dumps({"ok": False, "error": error}).encode()
    return reply


def _run_shim(path: str, ready_w: int) -> None:
    """The shim process: never returns."""
    code = 1
    try:
        set_process_name(SHIM_PROCESS_NAME)
        os.chdir(path)
        log_fd = os.open(SHIM_LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        null = os.open(os.devnull, os.O_RDWR)
        for fd, target in ((null, 0), (null, 1), (log_fd, 2)):
            os.dup2(fd, target)
        with open(CONFIG_NAME) as f:
            shim = Shim(LaunchSpec.from_json(f.read()))
        try:
            ready = shim.prepare()
        except (OSError, SetupFailed) as err:
            exit_code = err.exit_code if isinstance(err, SetupFailed) else 255
            failure = {"ok": False, "error": str(err), "exit_code": exit_code}
            os.write(ready_w, json.dumps(failure).encode() + b"\n")
            return
        os.write(ready_w, json.dumps(ready).encode() + b"\n")
        os.close(ready_w)
        shim.run()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(serve(0, 1))
