"""MAC addresses for endpoints."""

from __future__ import annotations

import re
import secrets
from ipaddress import IPv4Address

from berth.model.errors import InvalidAddress

_MAC = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")


def mac_from_ipv4(address: IPv4Address) -> str:
    """Docker's (<= 27) deterministic MAC: 02:42 followed by the four address bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def bridge_mac(network_id: str) -> str:
    """A network's bridge MAC: locally administered, unicast, from the network's id, so that
    a bridge re-created after a crash keeps the address its containers have cached for their
    gateway (Docker gives its bridges a random one for the same reason: a fixed address)."""
    return "02:" + ":".join(network_id[i : i + 2] for i in range(0, 10, 2))


def random_mac() -> str:
    """A random locally administered unicast MAC."""
    first = (secrets.randbits(8) & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in (first, *secrets.token_bytes(5)))


def validate_mac(value: str) -> str:
    if not _MAC.match(value):
        raise InvalidAddress(value, "not a MAC address (xx:xx:xx:xx:xx:xx)")
    mac = value.replace("-", ":").lower()
    if int(mac[:2], 16) & 0x01:
        raise InvalidAddress(value, "a multicast MAC cannot be an interface address")
    if mac == "00:00:00:00:00:00":
        raise InvalidAddress(value, "the all-zero MAC cannot be an interface address")
    return mac
