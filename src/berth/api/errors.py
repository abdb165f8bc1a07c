"""The ONE place where errors become HTTP answers: category -> status, and Docker's wording.

Routes raise berth.model.errors types (or the few API-only ones below) and never pick a status
themselves. Categories map to Docker's statuses (errdefs -> httpstatus in dockerd):
InvalidParameter 400, Forbidden 403, NotFound 404, Conflict 409, NotImplementedYet 501,
Unavailable 503; anything else is a 500 whose traceback is logged. Where Docker has its own
message for a condition (clients and scripts match on some of them), that message is used.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from berth.model.errors import (
    AmbiguousReference,
    BerthError,
    Conflict,
    Forbidden,
    InvalidParameter,
    NotFound,
    NotImplementedYet,
    PredefinedNetwork,
    Unavailable,
)

log = logging.getLogger(__name__)

JSON = "application/json"  # exactly: the docker CLI only parses error bodies with this type


class BadRequest(InvalidParameter):
    """The request itself is malformed (JSON, types, unknown fields, query values)."""


class PayloadTooLarge(InvalidParameter):
    def __init__(self, size: int | None, limit: int) -> None:
        got = f"{size} bytes" if size is not None else "more"
        super().__init__(f"request body too large: {got}, the limit is {limit} bytes")


class Unsupported(InvalidParameter):
    """A field Docker has but berth does not implement, given a non-default value."""

    def __init__(self, field: str, why: str = "") -> None:
        super().__init__(f"berth does not support {field}{f': {why}' if why else ''}")
        self.field = field


class NotModified(BerthError):
    """The object is already in the requested state (Docker answers 304 without a body)."""


class PageNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("page not found")


class VersionUnsupported(InvalidParameter):
    """Docker's version middleware message, word for word."""

    def __init__(self, version: str, *, minimum: str = "", maximum: str = "") -> None:
        if minimum:
            text = (
                f"client version {version} is too old. Minimum supported API version is "
                f"{minimum}, please upgrade your client to a newer version"
            )
        else:
            text = (
                f"client version {version} is too new. Maximum supported API version is {maximum}"
            )
        super().__init__(text)


_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (NotModified, 304),
    (PayloadTooLarge, 413),
    (AmbiguousReference, 400),  # Docker: "network x is ambiguous" is an invalid parameter
    (InvalidParameter, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (NotImplementedYet, 501),
    (Unavailable, 503),
)


def status_of(exc: BaseException) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def message_of(exc: BaseException) -> str:
    """Docker's message where Docker has one, berth's otherwise."""
    if isinstance(exc, PredefinedNetwork) and str(exc).endswith("cannot be created"):
        return f"operation is not permitted on predefined {exc.name} network "
    if isinstance(exc, AmbiguousReference):
        return f"{exc.kind} {exc.ref} is ambiguous ({str(exc).rsplit('(', 1)[-1]}"
    text = str(exc)
    return text or type(exc).__name__


def error_response(exc: BaseException, *, plain: bool = False) -> web.Response:
    """The answer for ``exc``; ``plain`` for API versions below 1.24 (Docker answers those
    in text so that old clients print something readable)."""
    status = status_of(exc)
    if status == 304:
        return web.Response(status=304)
    message = message_of(exc)
    if status >= 500:
        log.error("request failed: %s", message, exc_info=exc)
    if plain:
        return web.Response(status=status, text=message + "\n")
    body = json.dumps({"message": message}, separators=(",", ":")) + "\n"
    return web.Response(status=status, body=body.encode(), content_type=JSON)
