"""Reading a container's json-file log: selected entries, then (with ``follow``) new ones as the
shim appends them, until the container stops.

Following polls the file: the shim appends whole lines, so a reader that keeps its offset after
the last complete line never sees half an entry.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, cast

from berth.runtime import logformat
from berth.runtime.api import LogEntry

POLL_S = 0.05


def log_path(log_dir: str, container_id: str) -> str:
    """Docker's name for it, under <data_root>/containers/<id>/."""
    return os.path.join(log_dir, container_id, f"{container_id}-json.log")


def _entry(raw: logformat.Entry) -> LogEntry:
    stream, data, when = raw
    return LogEntry(cast(Literal["stdout", "stderr"], stream), data, when)


def _read_from(path: str, offset: int) -> tuple[list[logformat.Entry], int]:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            entries = [e for e in map(logformat.decode, logformat.iter_complete_lines(f)) if e]
            return entries, f.tell()
    except FileNotFoundError:
        return [], offset


async def read_log(
    path: str,
    *,
    streams: frozenset[str],
    since_ns: int,
    until_ns: int,
    tail: int | None,
    follow: bool,
    running: Callable[[], bool],
    blocking: Callable[..., Awaitable[Any]],
) -> AsyncIterator[LogEntry]:
    """``running`` says whether the container still runs (following stops when it does not);
    ``blocking`` runs file reads in the executor."""
    entries, offset = await blocking(
        logformat.read_entries, path, streams, since_ns, until_ns, tail
    )
    for raw in entries:
        yield _entry(raw)
    while follow:
        alive = running()  # asked before reading: output written before the exit is not lost
        entries, offset = await blocking(_read_from, path, offset)
        for raw in entries:
            if until_ns and raw[2] >= until_ns:
                return
            if logformat.selected(raw, streams, since_ns, until_ns):
                yield _entry(raw)
        if not entries:
            if not alive:
                return
            await asyncio.sleep(POLL_S)
