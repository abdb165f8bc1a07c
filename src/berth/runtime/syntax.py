"""Syntax checks on container options that end up as fields of files or names: ``--dns-search``
and ``--dns-option`` (HostConfig.DnsSearch/DnsOptions, lines of resolv.conf) and ``--link``
(HostConfig.Links and EndpointSettings.Links, names in /etc/hosts and in variables). Pure, and
light to import: the API checks requests with them before anything reaches the runtime.

A resolv.conf value becomes one field of that file, so a blank, a newline or a comment sign
would change what the file says (``x\\nnameserver 192.0.2.1`` must not add a nameserver). The
domain rule is Docker's (``opts.ValidateDNSSearch``); Docker takes any option text and checks
only the number of ``ndots``, berth also refuses option text that is not one ``name[:value]``
token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from berth.model.errors import InvalidParameter

_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_OPTION = re.compile(r"^([a-z][a-z0-9_-]*)(?::([A-Za-z0-9._-]+))?$")
_NUMERIC = ("ndots", "timeout", "attempts")
_LINK_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def validate_dns_search(domains: Iterable[str]) -> None:
    """Docker's rule: "." (no search domains), or a domain name with at least one letter,
    shorter than 255 characters."""
    for domain in domains:
        if domain == ".":
            continue
        if len(domain) >= 255 or not _DOMAIN.match(domain) or not re.search("[a-zA-Z]", domain):
            raise InvalidParameter(f"{domain} is not a valid domain")


def validate_dns_options(options: Iterable[str]) -> None:
    for option in options:
        match = _OPTION.match(option)
        if match is None:
            raise InvalidParameter(f"invalid DNS option {option!r}: expected name or name:value")
        name, value = match.groups()
        if name in _NUMERIC and (value is None or not value.isdigit()):
            raise InvalidParameter(f"invalid number for {name} option: {value or ''!r}")


def parse_link(text: str) -> tuple[str, str]:
    """Docker's opts.ParseLink: ``name:alias``, ``name`` (the alias is the name), and the form
    Docker itself stores, ``/name:/parent/alias``. Raises InvalidParameter."""
    if not text:
        raise InvalidParameter("empty string specified for links")
    parts = text.split(":")
    if len(parts) > 2:
        raise InvalidParameter(f"bad format for links: {text}")
    name, alias = (text, text) if len(parts) == 1 else parts
    if name.startswith("/"):
        name, alias = name[1:], alias.rsplit("/", 1)[-1]
    for part in (name, alias):  # they become /etc/hosts names and variable names
        if not part or not part[0].isalnum() or not set(part) <= _LINK_CHARS:
            raise InvalidParameter(f"bad format for links: {text}")
    return name, alias
