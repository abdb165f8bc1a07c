"""nftables scripts run in sandboxes' namespaces by a small helper process.

Why not in berthd: libnftables waits for the kernel's replies with select(), which aborts the
whole process (glibc: "bit out of range 0 - FD_SETSIZE on fd_set") when the context's netlink
socket gets a descriptor above 1023, and a berthd serving a few hundred sandboxes has no low
descriptor left by the time a new sandbox joins a network. A context is per namespace, so it
has to be made at that moment. The helper holds nothing but its pipes: its contexts always get
low descriptors. It is started on first use and again if it died; each request is one line of
JSON each way (about 1 ms with the nft transaction).

    python -m berth.dns.nfthelper    (reads {"netns": path, "script": text} lines on stdin)
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from typing import IO

from berth.model.errors import KernelError

TIMEOUT_S = 10.0


class NftHelper:
    """The berthd side: ``run(netns, script)`` from any thread (one request at a time)."""

    def __init__(self, command: list[str] | None = None) -> None:
        self._command = command or [sys.executable, "-m", "berth.dns.nfthelper"]
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def run(self, netns: str, script: str) -> None:
        """Apply ``script`` in ``netns``; KernelError with nft's message if it fails."""
        request = json.dumps({"netns": netns, "script": script}) + "\n"
        with self._lock:
            for attempt in (1, 2):  # a helper that died is started again, once
                proc = self._started()
                try:
                    reply = _exchange(proc, request)
                    break
                except (OSError, ValueError) as err:
                    self._stop()
                    if attempt == 2:
                        raise KernelError("nft helper process", err) from err
        if "error" in reply:
            raise KernelError(f"nft in {netns}: {reply['error']}")

    def start(self) -> None:
        """Start the helper now rather than on the first request (it takes ~80 ms)."""
        with self._lock:
            self._started()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                close_fds=True,
            )
        return self._proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        try:
            proc.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _exchange(proc: subprocess.Popen[str], request: str) -> dict[str, str]:
    stdin, stdout = proc.stdin, proc.stdout
    assert stdin is not None and stdout is not None
    stdin.write(request)
    stdin.flush()
    line = stdout.readline()
    if not line:
        raise ValueError(f"the helper exited ({proc.poll()})")
    reply: dict[str, str] = json.loads(line)
    return reply


def serve(requests: IO[str], replies: IO[str]) -> None:
    """The helper's loop: one reply line per request line, until stdin closes."""
    from berth.dns.binding import run_nft  # noqa: PLC0415

    for line in requests:
        try:
            request = json.loads(line)
            run_nft(request["netns"], request["script"])
            reply = {"ok": "1"}
        except Exception as err:
            reply = {"error": str(err)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    # a Ctrl-C meant for berthd reaches its whole process group; the helper ends when berthd
    # closes its stdin instead
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin, sys.stdout)
