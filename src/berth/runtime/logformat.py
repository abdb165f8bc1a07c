"""Docker's json-file log format: one JSON object per line,
``{"log": "<text>", "stream": "stdout"|"stderr", "time": "<RFC3339Nano>"}``.

Pure encoding, decoding and filtering, plus reading a log file. Imported by the shim, so it uses
the standard library only.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

# Docker cuts a line that grows past 16 KiB into partial messages of that size.
MAX_LINE = 16 * 1024
ZERO_TIME = "0001-01-01T00:00:00Z"

Entry = tuple[str, bytes, int]  # (stream, data, time_ns)

_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)$")


def rfc3339nano(time_ns: int) -> str:
    """Go's RFC3339Nano in UTC: trailing zeros of the fraction dropped, no fraction if zero."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def parse_rfc3339nano(text: str) -> int:
    """Nanoseconds since the epoch for an RFC 3339 timestamp (any offset, up to 9 digits)."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    base, fraction, zone = match.groups()
    when = datetime.fromisoformat(base + ("+00:00" if zone in ("Z", "z") else zone))
    return int(when.timestamp()) * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def encode(stream: str, data: bytes, time_ns: int) -> bytes:
    """One log line (bytes, newline-terminated). Invalid UTF-8 becomes U+FFFD, like Docker."""
    record = {
        "log": data.decode("utf-8", errors="replace"),
        "stream": stream,
        "time": rfc3339nano(time_ns),
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> Entry | None:
    """The entry of one log line, or None for a line that is not one (torn by a crash)."""
    try:
        record = json.loads(line)
        return record["stream"], record["log"].encode(), parse_rfc3339nano(record["time"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class LineSplitter:
    """Cuts an output stream into log messages: complete lines (newline kept), and pieces of
    MAX_LINE for lines that never end. ``flush`` returns what is left at end of stream."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        messages: list[bytes] = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                break
            messages.append(self._buf[: end + 1])
            self._buf = self._buf[end + 1 :]
        while len(self._buf) >= MAX_LINE:
            messages.append(self._buf[:MAX_LINE])
            self._buf = self._buf[MAX_LINE:]
        return messages

    def flush(self) -> bytes:
        rest, self._buf = self._buf, b""
        return rest


def selected(entry: Entry, streams: frozenset[str], since_ns: int, until_ns: int) -> bool:
    stream, _data, when = entry
    return stream in streams and when >= since_ns and (until_ns <= 0 or when < until_ns)


def read_entries(
    path: str,
    streams: frozenset[str],
    since_ns: int = 0,
    until_ns: int = 0,
    tail: int | None = None,
) -> tuple[list[Entry], int]:
    """The selected entries of a log file (the last ``tail`` of them if given) and the offset
    where reading stopped, for following the file from there."""
    kept: deque[Entry] = deque(maxlen=tail if tail is not None and tail >= 0 else None)
    try:
        with open(path, "rb") as f:
            for line in iter_complete_lines(f):
                entry = decode(line)
                if entry is not None and selected(entry, streams, since_ns, until_ns):
                    kept.append(entry)
            offset = f.tell()
    except FileNotFoundError:
        return [], 0
    return list(kept), offset


def iter_complete_lines(f: BinaryIO) -> Iterator[bytes]:
    """The newline-terminated lines of a binary file object, leaving it positioned after the
    last complete one (a line still being written is read again later)."""
    while True:
        line = f.readline()
        if not line:
            return
        if not line.endswith(b"\n"):
            f.seek(-len(line), os.SEEK_CUR)
            return
        yield line
