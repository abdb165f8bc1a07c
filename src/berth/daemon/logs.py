"""Structured logging for berthd: one line per event on stderr (journald keeps it), either
logfmt text (``time=... level=info msg="..." key=value``) or JSON lines.

Fields come from ``extra=`` (``log.info("listening", extra={"socket": path})``): every record
attribute that the stdlib does not define itself becomes a key. Library code keeps using plain
``logging``; only the daemon's composition root configures handlers, here.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}
# Per-request lines from aiohttp are noise at info (dockerd logs API calls at debug only);
# pyroute2 and asyncio log every netlink message and selector at debug: warnings only, always.
_ACCESS = "aiohttp.access"
_CHATTY = ("pyroute2", "asyncio")


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """time, level, msg, then the record's extra fields, then the error if any."""
    stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")
    out: dict[str, Any] = {
        "time": stamp.replace("+00:00", "Z"),
        "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
        "msg": record.getMessage(),
    }
    if not record.name.startswith("berth.daemon"):
        out["logger"] = record.name
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = value
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        out["error"] = f"{type(error).__name__}: {error}"
        if record.levelno >= logging.ERROR or logging.getLogger().isEnabledFor(logging.DEBUG):
            out["traceback"] = "".join(traceback.format_exception(error)).rstrip()
    return out


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and not any(c in text for c in ' ="\\') and text.isprintable():
        return text
    return json.dumps(text)  # quotes and escapes newlines: still one line


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(fields(record), default=str, separators=(",", ":"))


_handler: logging.Handler | None = None


def setup(level: int, log_format: str, stream: TextIO | None = None) -> None:
    """Route every logger to one handler on ``stream`` (stderr) with the chosen format."""
    global _handler  # noqa: PLW0603 - one process, one log handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(stream or sys.stderr)
    root.addHandler(_handler)
    configure(level, log_format)


def configure(level: int, log_format: str) -> None:
    """Change level and format of the running handler (SIGHUP)."""
    if _handler is not None:
        _handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.getLogger().setLevel(level)
    logging.getLogger(_ACCESS).setLevel(logging.INFO if level <= logging.DEBUG else logging.WARNING)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
