"""Docker's time formats: RFC3339Nano output, "Up 3 seconds" durations, and the inputs
`since`/`until` accept (unix timestamps, Go durations, RFC3339 dates)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from berth.api.errors import BadRequest

ZERO_TIME = "0001-01-01T00:00:00Z"

_RFC3339NANO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_datetime(value: str) -> datetime | None:
    """An ISO/RFC3339 time as stored by berth (isoformat) or written by Go; None if not one.
    Fractions longer than microseconds (Go writes nanoseconds) are truncated."""
    if not value or value.startswith("0001-01-01"):
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
    if match:
        text = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rfc3339nano(value: str | datetime | None) -> str:
    """Go's time.RFC3339Nano in UTC: fraction without trailing zeros, "Z" suffix. A value
    already in that form keeps its nanoseconds."""
    if isinstance(value, str) and _RFC3339NANO_UTC.match(value):
        return value
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        return ZERO_TIME
    moment = moment.astimezone(UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def rfc3339nano_ns(time_ns: int) -> str:
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def unix_seconds(value: str) -> int:
    moment = parse_datetime(value)
    return int(moment.timestamp()) if moment else 0


def since(value: str) -> float:
    """Seconds elapsed since an RFC3339 time (0 for the zero time)."""
    moment = parse_datetime(value)
    return 0.0 if moment is None else max(0.0, time.time() - moment.timestamp())


def parse_unix_ns(value: str, what: str) -> int:
    """Docker's ParseUnixTimestamp ("seconds[.nanoseconds]") -> nanoseconds; "" -> 0."""
    if value == "":
        return 0
    seconds, _, nanos = value.partition(".")
    if not seconds.lstrip("-").isdigit() or (nanos and not nanos.isdigit()):
        raise BadRequest(f"invalid value for {what!r}: invalid timestamp {value!r}")
    return int(seconds) * 1_000_000_000 + int((nanos or "0")[:9].ljust(9, "0"))


def _go_duration(value: str) -> float | None:
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if not text or _DURATION_PART.sub("", text):
        return None
    return sign * sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))


def parse_time_filter(value: str, what: str) -> datetime:
    """Docker's timestamp.Parse for filters like prune's `until`: a Go duration before now
    ("24h", "90m"), an RFC3339 date or time, or a unix timestamp."""
    if not value.strip():
        raise BadRequest(f"invalid {what} filter: value is empty")
    now = datetime.now(UTC)
    duration = _go_duration(value) if value != "0" else None
    if duration is not None:
        return now - timedelta(seconds=duration)
    moment = parse_datetime(value)
    if moment is None and re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
    if moment is not None:
        return moment
    try:
        return datetime.fromtimestamp(parse_unix_ns(value, what) / 1e9, UTC)
    except BadRequest:
        raise BadRequest(
            f"invalid {what} filter {value!r}: expected a duration (24h), an RFC3339 time or a "
            "unix timestamp"
        ) from None
