"""Port publishing: parsing Docker's `-p` forms into requested mappings, and resolved bindings.

A ``PortMapping`` is what the user asked for (a host port range may be open: "any free port");
a ``PublishedPort`` is one concrete (host ip, host port) -> (container port) binding after the
controller's port allocator picked the host port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Literal

from berth.model.errors import InvalidPortSpec

Proto = Literal["tcp", "udp", "sctp"]
PROTOCOLS: tuple[Proto, ...] = ("tcp", "udp", "sctp")
IPAddress = IPv4Address | IPv6Address

ANY_V4 = IPv4Address("0.0.0.0")
ANY_V6 = IPv6Address("::")


@dataclass(frozen=True, order=True)
class PortMapping:
    """One requested container port, with an optional host IP and an optional host port range.

    ``host_ports`` is an inclusive (first, last) range: (8080, 8080) for a fixed port,
    (8000, 8010) for "any free port in this range", None for "any ephemeral port".
    """

    container_port: int
    proto: Proto = "tcp"
    host_ip: IPAddress | None = None
    host_ports: tuple[int, int] | None = None

    def __str__(self) -> str:
        host = ""
        if self.host_ip is not None:
            ip = f"[{self.host_ip}]" if self.host_ip.version == 6 else str(self.host_ip)
            host = f"{ip}:"
        if self.host_ports is not None:
            first, last = self.host_ports
            host += f"{first}" if first == last else f"{first}-{last}"
        if host:
            host += ":"
        return f"{host}{self.container_port}/{self.proto}"


@dataclass(frozen=True, order=True)
class PublishedPort:
    """A concrete binding: traffic to host_ip:host_port/proto goes to the endpoint's container_port.

    ``host_ip`` is 0.0.0.0 or :: for "every address of that family on the host".
    """

    proto: Proto
    host_ip: IPAddress
    host_port: int
    container_port: int

    @property
    def wildcard(self) -> bool:
        return self.host_ip.is_unspecified

    def __str__(self) -> str:
        ip = f"[{self.host_ip}]" if self.host_ip.version == 6 else str(self.host_ip)
        return f"{ip}:{self.host_port}/{self.proto}"


_NUMS = re.compile(r"^[0-9]+(-[0-9]+)?$")


def _split(spec: str) -> tuple[str | None, str | None, str, str]:
    """'[ip:][host:]ctr[/proto]' -> (ip, host, ctr, proto); IPv6 addresses come in brackets."""
    body, _, proto = spec.strip().partition("/")
    ip: str | None = None
    if body.startswith("["):
        ip, bracket, body = body[1:].partition("]")
        if not bracket or not body.startswith(":"):
            raise InvalidPortSpec(spec, "expected [ipv6]:hostPort:containerPort")
        body = body[1:]
        parts = body.split(":")
        if len(parts) != 2:
            raise InvalidPortSpec(spec, "expected [ipv6]:hostPort:containerPort")
        return ip, parts[0], parts[1], proto or "tcp"
    parts = body.split(":")
    if len(parts) == 1:
        return None, None, parts[0], proto or "tcp"
    if len(parts) == 2:
        return None, parts[0], parts[1], proto or "tcp"
    if len(parts) == 3:
        return parts[0], parts[1], parts[2], proto or "tcp"
    raise InvalidPortSpec(
        spec,
        "expected [ip:][hostPort:]containerPort[/proto] (write IPv6 host addresses in brackets)",
    )


def _port(spec: str, text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise InvalidPortSpec(spec, f"port {value} is outside 1-65535")
    return value


def _range(spec: str, text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    lo = _port(spec, first)
    hi = _port(spec, last) if last else lo
    if hi < lo:
        raise InvalidPortSpec(spec, f"range {text} ends before it starts")
    return lo, hi


def parse_port_spec(spec: str) -> tuple[PortMapping, ...]:
    """Parse one `-p` value: 80, 8080:80, 127.0.0.1:8080:80, 127.0.0.1::80, [::1]:80:80,
    8000-8005:80-85, 8000-8010:80, with an optional /tcp, /udp or /sctp suffix."""
    raw_ip, raw_host, raw_ctr, raw_proto = _split(spec)
    proto = raw_proto.lower()
    if proto not in PROTOCOLS:
        raise InvalidPortSpec(spec, f"unknown protocol {proto!r} (tcp, udp or sctp)")
    host_ip: IPAddress | None = None
    if raw_ip is not None:
        try:
            host_ip = ip_address(raw_ip)
        except ValueError:
            raise InvalidPortSpec(spec, f"{raw_ip!r} is not an IP address") from None
    for part in (raw_ctr, raw_host or "0"):
        if not _NUMS.match(part):
            raise InvalidPortSpec(spec, f"{part!r} is not a port or port range")
    ctr_lo, ctr_hi = _range(spec, raw_ctr)
    host = _range(spec, raw_host) if raw_host else None
    count = ctr_hi - ctr_lo + 1
    if host is None:
        return tuple(PortMapping(p, proto, host_ip, None) for p in range(ctr_lo, ctr_hi + 1))
    host_count = host[1] - host[0] + 1
    if count == 1:
        # "8000-8010:80": any one free port of the host range
        return (PortMapping(ctr_lo, proto, host_ip, host),)
    if host_count != count:
        raise InvalidPortSpec(
            spec, f"host range has {host_count} ports but container range has {count}"
        )
    return tuple(
        PortMapping(ctr_lo + i, proto, host_ip, (host[0] + i, host[0] + i)) for i in range(count)
    )


def parse_exposed(spec: str) -> tuple[int, Proto]:
    """An EXPOSEd port (`80`, `53/udp`) for publish-all."""
    mappings = parse_port_spec(spec)
    if len(mappings) != 1 or mappings[0].host_ports or mappings[0].host_ip:
        raise InvalidPortSpec(spec, "an exposed port is containerPort[/proto]")
    return mappings[0].container_port, mappings[0].proto
