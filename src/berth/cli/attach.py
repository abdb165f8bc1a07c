"""Running a container in the foreground: Docker's order of operations for `run` and
`start -a`, so that no output and no exit status can be missed.

1. attach (hijacked connection) before the process starts, so its first bytes arrive;
2. send `POST /wait?condition=next-exit` (or `removed` with --rm) and wait for its response
   headers: the daemon sends them once the waiter is registered, so even a process that
   exits at once is seen;
3. start; relay stdio until the daemon ends the stream; 4. read the wait's StatusCode.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from berth.cli.client import Client, ref
from berth.cli.errors import CliError
from berth.cli.stdio import following_size, forwarding_signals, raw_terminal, relay

WAIT_REGISTER_TIMEOUT = 10.0


class Waiter:
    """POST /containers/{id}/wait on its own connection, in a thread."""

    def __init__(self, client: Client, cid: str, condition: str) -> None:
        self.client = client
        self.path = f"/containers/{ref(cid)}/wait"
        self.condition = condition
        self.registered = threading.Event()
        self.done = threading.Event()
        self.status: int | None = None
        self.error: CliError | None = None
        threading.Thread(target=self._run, daemon=True).start()
        self.registered.wait(WAIT_REGISTER_TIMEOUT)

    def _run(self) -> None:
        try:
            resp = self.client.stream("POST", self.path, query={"condition": self.condition})
            self.registered.set()
            reply: dict[str, Any] = json.loads(resp.read() or b"{}")
            failure = reply.get("Error") or {}
            if failure.get("Message"):
                self.error = CliError(f"Error waiting for container: {failure['Message']}")
            self.status = int(reply.get("StatusCode", 0))
        except CliError as exc:
            self.error = exc
        except (ValueError, OSError) as exc:
            self.error = CliError(f"Error waiting for container: {exc}")
        finally:
            self.registered.set()
            self.done.set()

    def result(self) -> int:
        self.done.wait()
        if self.error is not None:
            self.error.status = 125
            raise self.error
        return self.status or 0


def run_attached(
    client: Client,
    cid: str,
    *,
    tty: bool,
    stdin: bool,
    auto_remove: bool,
    sig_proxy: bool = True,
    start: bool = True,
) -> int:
    """Attach, start (unless already running), relay stdio; the container's exit status."""
    path = f"/containers/{ref(cid)}"
    conn = client.hijack(
        f"{path}/attach", None, {"stream": 1, "stdin": stdin, "stdout": 1, "stderr": 1}
    )
    try:
        waiter = Waiter(client, cid, "removed" if auto_remove else "next-exit")
        if start:
            client.post(f"{path}/start")

        def kill(signame: str) -> None:
            client.clone().post(f"{path}/kill", signal=signame)

        def resize(height: int, width: int) -> None:
            client.clone().post(f"{path}/resize", h=height, w=width)

        with (
            raw_terminal(sys.stdin, tty and stdin),
            forwarding_signals(kill, sig_proxy and not tty),
            following_size(sys.stdout, resize, tty),
        ):
            relay(conn, tty=tty, stdin=sys.stdin if stdin else None)
    finally:
        conn.close()
    return waiter.result()
