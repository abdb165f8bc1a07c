"""Checks of single daemon configuration values (paths, sockets, subnets, DNS, labels, pools).

Each check takes the key it is checking (for the message) and a well-typed value, and returns
the value berthd uses or raises ``InvalidConfig`` naming the key, the value and the reason.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from berth.ipam.pools import PredefinedPool, parse_subnet
from berth.model.errors import InvalidConfig, InvalidParameter

UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")


def fmt(value: object) -> str:
    """A value as the user wrote it: JSON for file values and lists, plain for strings."""
    if isinstance(value, str):
        return json.dumps(value)
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


def absolute_path(key: str, value: str) -> str:
    if not value or not os.path.isabs(value) or "\0" in value:
        raise InvalidConfig(key, fmt(value), "must be an absolute path")
    return os.path.normpath(value)


def host_socket(key: str, value: str, default: str) -> str:
    """dockerd's -H syntax, unix sockets only: ``unix:///path`` (``unix://`` = the default)."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        raise InvalidConfig(key, fmt(value), "expected unix:///path/to/socket")
    if scheme != "unix":
        raise InvalidConfig(key, fmt(value), f"berthd listens on unix sockets only, not {scheme}")
    path = absolute_path(key, rest) if rest else default
    if len(path.encode()) > UNIX_PATH_MAX:
        raise InvalidConfig(
            key, fmt(value), f"a unix socket path is at most {UNIX_PATH_MAX} bytes long"
        )
    return path


def subnet(key: str, value: str, version: int) -> IPv4Network | IPv6Network:
    try:
        net = parse_subnet(value, key)
    except InvalidParameter as err:
        raise InvalidConfig(key, fmt(value), str(err)) from None
    if net.version != version:
        raise InvalidConfig(key, fmt(value), f"expected an IPv{version} subnet")
    return net


def dns_search(key: str, value: str) -> str:
    """dockerd's ValidateDNSSearch: "." (no search) or a domain name of at most 255 bytes."""
    value = value.strip()
    if value == ".":
        return value
    if len(value) > 255 or not _DOMAIN.match(value) or any(len(p) > 63 for p in value.split(".")):
        raise InvalidConfig(key, fmt(value), "not a valid domain name")
    return value


def dns_option(key: str, value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise InvalidConfig(key, fmt(value), "a resolv.conf option is one word, e.g. ndots:2")
    return value


def pool(key: str, value: Mapping[str, object] | str) -> PredefinedPool:
    try:
        return PredefinedPool.parse(value)
    except InvalidParameter as err:
        raise InvalidConfig(key, fmt(value), str(err)) from None


def check_labels(key: str, values: Sequence[str]) -> tuple[str, ...]:
    """``key=value`` each; the same key twice with different values is an error (dockerd's
    "conflict labels for key"); exact duplicates are dropped."""
    seen: dict[str, str] = {}
    for label in values:
        name, sep, value = label.partition("=")
        if not sep or not name.strip():
            raise InvalidConfig(key, fmt(label), "expected key=value")
        if seen.get(name, value) != value:
            raise InvalidConfig(key, fmt(label), f"conflicts with {name}={seen[name]}")
        seen[name] = value
    return tuple(f"{name}={value}" for name, value in seen.items())


def one_of(key: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InvalidConfig(key, fmt(value), "expected one of " + ", ".join(allowed))
    return value


def parse_file(text: str, path: str) -> dict[str, Any]:
    """The daemon.json object; an empty file is an empty configuration."""
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidParameter(
            f"{path} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidParameter(f"{path} must hold a JSON object, not {type(doc).__name__}")
    return doc
