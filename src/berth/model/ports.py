"""Port publishing: parsing Docker's `-p` forms into requested mappings, and resolved bindings.

A ``PortMapping`` is what the user asked for (a host port range may be open: "any free port");
a ``PublishedPort`` is one concrete (host ip, host port) -> (container port) binding after the
controller's port allocator picked the host port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Literal, cast

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


_SPEC = re.compile(
    r"""^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?      # optional host ip, IPv6 in brackets
         (?:(?P<host>[0-9]*(?:-[0-9]+)?):)?            # optional host port or range (may be empty)
         (?P<ctr>[0-9]+(?:-[0-9]+)?)                   # container port or range
         (?:/(?P<proto>[a-zA-Z]+))?$""",
    re.VERBOSE,
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
    match = _SPEC.match(spec.strip())
    if match is None:
        raise InvalidPortSpec(spec, "expected [ip:][hostPort:]containerPort[/proto]")
    proto = (match["proto"] or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidPortSpec(spec, f"unknown protocol {proto!r} (tcp, udp or sctp)")
    host_ip: IPAddress | None = None
    if match["ip"]:
        raw = match["ip"].strip("[]")
        try:
            host_ip = ip_address(raw)
        except ValueError:
            raise InvalidPortSpec(spec, f"{raw!r} is not an IP address") from None
        if match["ip"].startswith("[") != (host_ip.version == 6):
            raise InvalidPortSpec(spec, "IPv6 host addresses must be written in brackets")
    ctr_lo, ctr_hi = _range(spec, match["ctr"])
    host = _range(spec, match["host"]) if match["host"] else None
    count = ctr_hi - ctr_lo + 1
    typed_proto = cast(Proto, proto)
    if host is None:
        return tuple(PortMapping(p, typed_proto, host_ip, None) for p in range(ctr_lo, ctr_hi + 1))
    host_count = host[1] - host[0] + 1
    if count == 1:
        # "8000-8010:80": any one free port of the host range
        return (PortMapping(ctr_lo, typed_proto, host_ip, host),)
    if host_count != count:
        raise InvalidPortSpec(
            spec, f"host range has {host_count} ports but container range has {count}"
        )
    return tuple(
        PortMapping(ctr_lo + i, typed_proto, host_ip, (host[0] + i, host[0] + i))
        for i in range(count)
    )


def parse_exposed(spec: str) -> tuple[int, Proto]:
    """An EXPOSEd port (`80`, `53/udp`) for publish-all."""
    mappings = parse_port_spec(spec)
    if len(mappings) != 1 or mappings[0].host_ports or mappings[0].host_ip:
        raise InvalidPortSpec(spec, "an exposed port is containerPort[/proto]")
    return mappings[0].container_port, mappings[0].proto
