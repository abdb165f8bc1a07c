"""Docker's `filters` query parameter: parsing (both JSON forms) and its match rules.

The docker CLI sends ``{"driver":{"bridge":true}}``; docker-py sends the legacy list form
``{"driver":["bridge"]}``. Every route declares the keys it accepts; any other key is a 400
(Docker's "invalid filter 'x'"), so a typo never silently matches everything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from aiohttp import web

from berth.api.errors import BadRequest


class Filters:
    def __init__(self, fields: Mapping[str, Iterable[str]] | None = None) -> None:
        self._fields: dict[str, set[str]] = {k: set(v) for k, v in (fields or {}).items()}

    @classmethod
    def parse(cls, raw: str, accepted: Iterable[str]) -> Filters:
        fields = _decode(raw)
        allowed = set(accepted)
        for key in sorted(fields):
            if key not in allowed:
                raise BadRequest(
                    f"invalid filter '{key}' (accepted here: {', '.join(sorted(allowed))})"
                )
        return cls(fields)

    @classmethod
    def from_query(cls, request: web.Request, accepted: Iterable[str]) -> Filters:
        return cls.parse(request.query.get("filters", ""), accepted)

    def __bool__(self) -> bool:
        return bool(self._fields)

    def contains(self, key: str) -> bool:
        return key in self._fields

    def get(self, key: str) -> set[str]:
        return set(self._fields.get(key, ()))

    def single(self, key: str) -> str | None:
        values = self._fields.get(key)
        if not values:
            return None
        if len(values) > 1:
            raise BadRequest(f'got more than one value for filter key "{key}"')
        return next(iter(values))

    def exact(self, key: str, source: str) -> bool:
        """True if no value is given for ``key`` or one equals ``source``."""
        values = self._fields.get(key)
        return not values or source in values

    def match(self, key: str, source: str) -> bool:
        """Exact, or any value as an (unanchored) regular expression, like Go's MatchString."""
        values = self._fields.get(key)
        if not values or source in values:
            return True
        for pattern in values:
            try:
                if re.search(pattern, source):
                    return True
            except re.error:
                continue
        return False

    def fuzzy(self, key: str, source: str) -> bool:
        """Exact, or a value is a prefix of ``source``."""
        values = self._fields.get(key)
        return not values or any(source.startswith(v) for v in values)

    def labels(self, key: str, labels: Mapping[str, str]) -> bool:
        """Every `k` or `k=v` value is present in ``labels`` (Docker's MatchKVList)."""
        values = self._fields.get(key)
        if not values:
            return True
        if not labels:
            return False
        for value in values:
            name, has_value, wanted = value.partition("=")
            if name not in labels or (has_value and labels[name] != wanted):
                return False
        return True


def _decode(raw: str) -> dict[str, set[str]]:
    if raw == "":
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise BadRequest(f"invalid filter: filters is not JSON: {raw!r}") from None
    if not isinstance(data, dict):
        raise BadRequest("invalid filter: filters must be a JSON object")
    fields: dict[str, set[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict) and all(isinstance(v, bool) for v in value.values()):
            fields[key] = {k for k, v in value.items() if v}
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            fields[key] = set(value)
        else:
            raise BadRequest(
                f"invalid filter '{key}': values must be a map of strings to true "
                '({"key":{"value":true}}) or a list of strings ({"key":["value"]})'
            )
    return fields
