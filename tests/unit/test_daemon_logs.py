"""Structured logs: one line per event, logfmt text or JSON, fields from ``extra``, errors kept
on the line, levels and formats changed while running."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from berth.daemon import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    logs.setup(logging.INFO, "text", out)
    yield out
    if logs._handler is not None:
        root.removeHandler(logs._handler)
        logs._handler = None
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_lines_are_logfmt(stream: io.StringIO) -> None:
    log = logging.getLogger("berth.daemon.test")
    log.info("listening", extra={"socket": "/run/berth/berth.sock", "count": 2, "ok": True})
    log.warning('odd "value"', extra={"path": "/a b", "empty": ""})
    first, second = lines(stream)
    assert first.startswith("time=") and first.split()[0].endswith("Z")
    assert first.split(" ", 1)[1] == (
        "level=info msg=listening socket=/run/berth/berth.sock count=2 ok=true"
    )
    assert second.split(" ", 1)[1] == ('level=warning msg="odd \\"value\\"" path="/a b" empty=""')


def test_other_loggers_are_named_and_messages_formatted(stream: io.StringIO) -> None:
    logging.getLogger("berth.controller.controller").info("created network %s", "front")
    assert lines(stream)[0].endswith(
        'msg="created network front" logger=berth.controller.controller'
    )


def test_errors_stay_on_one_line(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError as err:
        logging.getLogger("berth.daemon.x").error("failed", exc_info=err)
    (line,) = lines(stream)
    assert 'error="ValueError: bad\\nthing"' in line and "traceback=" in line


def test_json_lines_and_live_reconfiguration(stream: io.StringIO) -> None:
    log = logging.getLogger("berth.daemon.test")
    log.debug("hidden")
    logs.configure(logging.DEBUG, "json")
    log.debug("shown", extra={"n": 1})
    logs.configure(logging.ERROR, "text")
    log.warning("hidden too")
    (line,) = lines(stream)
    doc = json.loads(line)
    assert (doc["level"], doc["msg"], doc["n"]) == ("debug", "shown", 1)


def test_request_lines_only_at_debug_and_chatty_libraries_quiet(stream: io.StringIO) -> None:
    logging.getLogger("aiohttp.access").info("GET /_ping")
    logging.getLogger("pyroute2.netlink.core").warning("kept")
    logging.getLogger("pyroute2.netlink.core").info("dropped")
    logs.configure(logging.DEBUG, "text")
    logging.getLogger("aiohttp.access").info("GET /networks")
    logging.getLogger("pyroute2.netlink.core").debug("every message")
    text = stream.getvalue()
    assert "GET /networks" in text and "GET /_ping" not in text
    assert "kept" in text and "dropped" not in text and "every message" not in text
