"""Docker's json-file log format, and reading it back (tail, since, until, follow)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from berth.runtime import logformat
from berth.runtime.logs import read_log

STREAMS = frozenset({"stdout", "stderr"})


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (1_700_000_000_000_000_000, "2023-11-14T22:13:20Z"),
        (1_700_000_000_120_000_000, "2023-11-14T22:13:20.12Z"),
        (1_700_000_000_000_000_001, "2023-11-14T22:13:20.000000001Z"),
    ],
)
def test_rfc3339nano_like_go(ns: int, text: str) -> None:
    assert logformat.rfc3339nano(ns) == text
    assert logformat.parse_rfc3339nano(text) == ns


def test_parse_rfc3339_offsets_and_errors() -> None:
    assert logformat.parse_rfc3339nano("2023-11-14T23:13:20.5+01:00") == 1_700_000_000_500_000_000
    with pytest.raises(ValueError, match="RFC 3339"):
        logformat.parse_rfc3339nano("yesterday")


def test_encode_is_dockers_json_file_line() -> None:
    line = logformat.encode("stderr", b"caf\xc3\xa9 \xff\n", 1_700_000_000_000_000_000)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "log": "café \ufffd\n",
        "stream": "stderr",
        "time": "2023-11-14T22:13:20Z",
    }
    assert logformat.decode(line) == ("stderr", "café \ufffd\n".encode(), 1_700_000_000 * 10**9)


def test_decode_ignores_torn_lines() -> None:
    assert logformat.decode(b'{"log":"x') is None
    assert logformat.decode(b'{"log": 1, "stream": "stdout"}') is None


def test_line_splitter() -> None:
    splitter = logformat.LineSplitter()
    assert splitter.feed(b"a\nb") == [b"a\n"]
    assert splitter.feed(b"c\n\nd") == [b"bc\n", b"\n"]
    long = splitter.feed(b"x" * (logformat.MAX_LINE + 5))
    assert long == [b"d" + b"x" * (logformat.MAX_LINE - 1)]
    assert splitter.flush() == b"x" * 6
    assert splitter.flush() == b""


def write_log(path: Path, entries: list[tuple[str, bytes, int]], partial: bytes = b"") -> None:
    with open(path, "wb") as f:
        for stream, data, when in entries:
            f.write(logformat.encode(stream, data, when))
        f.write(partial)


ENTRIES = [("stdout" if i % 2 else "stderr", f"{i}\n".encode(), i * 1000) for i in range(1, 7)]


def test_read_entries_filters(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_log(path, ENTRIES, partial=b'{"log":"half')
    entries, offset = logformat.read_entries(str(path), STREAMS)
    assert entries == ENTRIES
    assert offset == path.stat().st_size - len(b'{"log":"half')
    only_out, _ = logformat.read_entries(str(path), frozenset({"stdout"}))
    assert [e[1] for e in only_out] == [b"1\n", b"3\n", b"5\n"]
    tail, _ = logformat.read_entries(str(path), STREAMS, tail=2)
    assert [e[1] for e in tail] == [b"5\n", b"6\n"]
    assert logformat.read_entries(str(path), STREAMS, tail=0)[0] == []
    window, _ = logformat.read_entries(str(path), STREAMS, since_ns=2000, until_ns=4000)
    assert [e[1] for e in window] == [b"2\n", b"3\n"]
    assert logformat.read_entries(str(tmp_path / "missing"), STREAMS) == ([], 0)


def test_iter_complete_lines_stops_before_a_partial_line() -> None:
    f = io.BytesIO(b"one\ntwo\nthr")
    assert list(logformat.iter_complete_lines(f)) == [b"one\n", b"two\n"]
    assert f.tell() == 8


async def test_follow_reads_new_entries_until_stopped(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_log(path, ENTRIES[:2])
    running = [True]

    async def blocking(fn: Any, *args: Any) -> Any:
        return fn(*args)

    async def writer() -> None:
        await asyncio.sleep(0.1)
        with open(path, "ab") as f:
            f.write(logformat.encode("stdout", b"late\n", 99_000))
        await asyncio.sleep(0.1)
        running[0] = False

    task = asyncio.ensure_future(writer())
    seen = [
        e.data
        async for e in read_log(
            str(path),
            streams=STREAMS,
            since_ns=0,
            until_ns=0,
            tail=1,
            follow=True,
            running=lambda: running[0],
            blocking=blocking,
        )
    ]
    await task
    assert seen == [b"2\n", b"late\n"]
