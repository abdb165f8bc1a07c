"""A container's stdio as clients see it: logs (with follow) and attachments, including the
ones made before the container starts (bound to the shim before its process runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from berth.runtime.api import Attachment, Container, LogEntry
from berth.runtime.attachments import DeferredAttachment, ReplayAttachment, ShimAttachment
from berth.runtime.base import RuntimeBase
from berth.runtime.logs import log_path, read_log
from berth.runtime.shimclient import ShimGone, ShimStream


class StdioMixin(RuntimeBase):
    _deferred: dict[str, list[DeferredAttachment]]

    def _init_stdio(self) -> None:
        self._deferred = {}

    def _log_stream(
        self,
        container: Container,
        streams: frozenset[str],
        *,
        follow: bool = False,
        since_ns: int = 0,
        until_ns: int = 0,
        tail: int | None = None,
    ) -> AsyncIterator[LogEntry]:
        def running() -> bool:
            record = self._records.find(container.id)
            return record is not None and record.container.state.running

        return read_log(
            log_path(self._logs_dir, container.id),
            streams=streams,
            since_ns=since_ns,
            until_ns=until_ns,
            tail=tail,
            follow=follow,
            running=running,
            blocking=self._blocking,
        )

    async def attach(
        self,
        ref: str,
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        logs: bool = False,
        stream: bool = True,
    ) -> Attachment:
        """Attach to the running process, or (not running) to the next start, like Docker."""
        container = self.get(ref)
        tty = container.config.tty
        replay: list[LogEntry] = []
        if logs:
            streams = frozenset(s for s, on in (("stdout", stdout), ("stderr", stderr)) if on)
            entries = self._log_stream(container, streams)
            replay = [entry async for entry in entries]
        live: Attachment | None = None
        if stream:
            stdin = stdin and container.config.open_stdin
            live = await self._attach_live(container, stdin, stdout, stderr)
            if live is None:
                deferred = DeferredAttachment(tty=tty, stdin=stdin, stdout=stdout, stderr=stderr)
                self._deferred.setdefault(container.id, []).append(deferred)
                live = deferred
        if logs or live is None:
            return ReplayAttachment(replay, live, tty=tty)
        return live

    async def _attach_live(
        self, container: Container, stdin: bool, stdout: bool, stderr: bool
    ) -> ShimAttachment | None:
        if container.id not in self._live:
            return None
        message = {"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr}
        try:
            stream, reply = await ShimStream.open(container.path, message)
        except ShimGone:
            return None
        if not reply.get("ok"):
            stream.close()
            return None
        return ShimAttachment(
            stream, tty=container.config.tty, stdin=stdin, stdout=stdout, stderr=stderr
        )

    async def _bind_deferred(self, container: Container) -> None:
        """Connect the attachments waiting for this start (the process is still held)."""
        for deferred in self._deferred.pop(container.id, []):
            if deferred.closed:
                continue
            message = {
                "op": "attach",
                "stdin": deferred.stdin,
                "stdout": deferred.stdout,
                "stderr": deferred.stderr,
            }
            try:
                stream, _reply = await ShimStream.open(container.path, message)
            except ShimGone:
                await deferred.close()
                continue
            await deferred.bind(stream)

    async def _close_deferred(self, container_id: str) -> None:
        for deferred in self._deferred.pop(container_id, []):
            await deferred.close()
