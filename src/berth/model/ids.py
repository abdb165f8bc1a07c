"""Object identifiers and name rules shared by networks, endpoints and sandboxes."""

from __future__ import annotations

import re
import secrets

from berth.model.errors import InvalidName

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
MAX_NAME = 128
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def new_id() -> str:
    """A 64-hex identifier like Docker's network and container ids."""
    return secrets.token_hex(32)


def is_full_id(ref: str) -> bool:
    return bool(_HEX64.match(ref))


def validate_name(kind: str, name: str) -> str:
    """Docker's rule for object names: a letter or digit, then letters, digits, `_`, `.`, `-`."""
    if not name:
        raise InvalidName(kind, name, "must not be empty")
    if len(name) > MAX_NAME:
        raise InvalidName(kind, name, f"longer than {MAX_NAME} characters")
    if not _NAME.match(name):
        raise InvalidName(kind, name, "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name


def validate_ifname(name: str) -> str:
    """Linux interface names: 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'."""
    if not name or len(name.encode()) > 15:
        raise InvalidName("interface", name, "must be 1 to 15 characters")
    if name in (".", "..") or any(c in name for c in "/:") or any(c.isspace() for c in name):
        raise InvalidName("interface", name, "must not contain '/', ':' or whitespace")
    return name
