"""Reading requests: bodies (size-limited JSON), typed fields, and query parameters.

A ``Fields`` reader wraps one JSON object: each typed getter consumes a key and names the
field in its error ("Name must be a string", "IPAM.Config[0].Subnet must be a string"), and
``done()`` rejects whatever nobody consumed, so a misplaced or misspelled field is a 400 rather
than silently ignored. ``null`` counts as "not given" for every optional field (docker-py sends
``"Options": null``).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from berth.api.errors import BadRequest, PayloadTooLarge

_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    dict: "an object",
    list: "an array",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in _TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return "a number"


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes before reading them when the length
    is announced, and as soon as it is exceeded when the body is chunked."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(length, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(None, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_content_type(request: web.Request) -> None:
    """Docker's CheckForJSON, except that a missing Content-Type is tolerated."""
    header = request.headers.get("Content-Type", "")
    if header and header.split(";", 1)[0].strip().lower() != "application/json":
        raise BadRequest(f"unsupported Content-Type header ({header}): must be 'application/json'")


async def read_json(request: web.Request, limit: int, what: str) -> Fields:
    """The body as a ``Fields`` reader; an empty body is an empty object, like Docker."""
    raw = await read_body(request, limit)
    if not raw.strip():
        return Fields({}, what)
    _check_content_type(request)
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise BadRequest("invalid JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as err:
        raise BadRequest(
            f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    if not isinstance(data, dict):
        raise BadRequest(f"invalid JSON: the {what} must be a JSON object, not {_describe(data)}")
    return Fields(data, what)


class Fields:
    """One JSON object read field by field (see module docstring)."""

    def __init__(self, data: dict[str, Any], what: str, prefix: str = "") -> None:
        self._data = data
        self._what = what
        self._prefix = prefix
        self._seen: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def raw(self, key: str) -> Any:
        self._seen.add(key)
        return self._data.get(key)

    def _typed(self, key: str, kind: type, default: Any) -> Any:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadRequest(
                f"{self.name(key)} must be {_TYPE_NAMES[kind]}, not {_describe(value)}"
            )
        return value

    def text(self, key: str, default: str = "") -> str:
        return str(self._typed(key, str, default))

    def opt_text(self, key: str) -> str | None:
        value = self._typed(key, str, None)
        return None if value is None else str(value)

    def required_text(self, key: str) -> str:
        value = self.text(key)
        if not value:
            raise BadRequest(f"{self.name(key)} is required")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        return bool(self._typed(key, bool, default))

    def opt_flag(self, key: str) -> bool | None:
        value = self._typed(key, bool, None)
        return None if value is None else bool(value)

    def number(self, key: str, default: int = 0) -> int:
        return int(self._typed(key, int, default))

    def strings(self, key: str, *, allow_string: bool = False) -> tuple[str, ...]:
        """An array of strings; ``allow_string`` also takes one string (Docker's StrSlice)."""
        value = self.raw(key)
        if value is None:
            return ()
        if allow_string and isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            raise BadRequest(
                f"{self.name(key)} must be an array of strings, not {_describe(value)}"
            )
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise BadRequest(f"{self.name(key)}[{i}] must be a string, not {_describe(item)}")
        return tuple(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise BadRequest(f"{self.name(key)} must be an object, not {_describe(value)}")
        for k, v in value.items():
            if not isinstance(v, str):
                raise BadRequest(f"{self.name(key)}.{k} must be a string, not {_describe(v)}")
        return dict(value)

    def obj(self, key: str) -> Fields | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise BadRequest(f"{self.name(key)} must be an object, not {_describe(value)}")
        return Fields(value, self._what, f"{self.name(key)}.")

    def obj_list(self, key: str) -> list[Fields]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise BadRequest(f"{self.name(key)} must be an array, not {_describe(value)}")
        found = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise BadRequest(f"{self.name(key)}[{i}] must be an object, not {_describe(item)}")
            found.append(Fields(item, self._what, f"{self.name(key)}[{i}]."))
        return found

    def obj_map(self, key: str) -> dict[str, Fields | None]:
        """An object whose values are objects (or null), e.g. EndpointsConfig."""
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise BadRequest(f"{self.name(key)} must be an object, not {_describe(value)}")
        found: dict[str, Fields | None] = {}
        for k, item in value.items():
            if item is not None and not isinstance(item, dict):
                raise BadRequest(f"{self.name(key)}.{k} must be an object, not {_describe(item)}")
            found[k] = None if item is None else Fields(item, self._what, f"{self.name(key)}.{k}.")
        return found

    def ignore(self, *keys: str) -> None:
        """Fields Docker clients send that carry nothing for berth (e.g. operational data)."""
        self._seen.update(keys)

    def done(self) -> None:
        unknown = [k for k in self._data if k not in self._seen]
        if unknown:
            names = ", ".join(self.name(k) for k in sorted(unknown))
            raise BadRequest(f"unknown field(s) in the {self._what}: {names}")


# --- query parameters -------------------------------------------------------------------------


def query_bool(request: web.Request, key: str, default: bool = False) -> bool:
    """Docker's BoolValue: absent -> default; "", 0, no, false, none -> False; else True."""
    if key not in request.query:
        return default
    value = request.query[key].strip().lower()
    return value not in ("", "0", "no", "false", "none")


def query_int(request: web.Request, key: str, default: int | None = None) -> int | None:
    value = request.query.get(key, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"invalid value for {key!r}: {value!r} is not an integer") from None


def query_uint(request: web.Request, key: str, what: str) -> int:
    """A non-negative integer (Docker's Uint32Value for resize h/w)."""
    value = request.query.get(key, "")
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number < 1 << 32:
        raise BadRequest(f"invalid {what} {value!r}")
    return number
