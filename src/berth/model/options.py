"""Parsing of Docker's string-valued driver options (`-o key=value`)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

from berth.model.errors import InvalidOption

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(key: str, value: str | bool) -> bool:
    """Go's strconv.ParseBool, which Docker uses for boolean options."""
    if isinstance(value, bool):
        return value
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidOption(key, value, "expected a boolean (true/false/1/0)")


def parse_int(key: str, value: str | int, lo: int, hi: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidOption(key, value, "expected an integer") from None
    if not lo <= number <= hi:
        raise InvalidOption(key, value, f"must be between {lo} and {hi}")
    return number


def parse_ipv4(key: str, value: str) -> IPv4Address:
    try:
        return IPv4Address(value)
    except ValueError:
        raise InvalidOption(key, value, "expected an IPv4 address") from None


def parse_ipv6(key: str, value: str) -> IPv6Address:
    try:
        return IPv6Address(value)
    except ValueError:
        raise InvalidOption(key, value, "expected an IPv6 address") from None


def parse_ip(key: str, value: str) -> IPv4Address | IPv6Address:
    try:
        return ip_address(value)
    except ValueError:
        raise InvalidOption(key, value, "expected an IP address") from None
