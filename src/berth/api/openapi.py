"""GET /openapi.json: the OpenAPI document of every route berthd serves.

The document is a file next to this module (openapi.json), written by hand and kept honest by a
unit test that compares its paths and methods with the application's router, both ways.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from aiohttp import web

from berth.api.base import Route, reply


@functools.cache
def document() -> dict[str, Any]:
    text = resources.files("berth.api").joinpath("openapi.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


async def get_openapi(request: web.Request) -> web.Response:
    return reply(document())


ROUTES = [Route("GET", "/openapi.json", get_openapi)]
