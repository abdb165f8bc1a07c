"""Host-port allocation for published ports (pure logic; the kernel probe is passed in).

Rules (Docker's): a binding is (proto, host ip, host port); a wildcard address (0.0.0.0 or ::)
conflicts with every address of its family on the same proto/port. No host IP means the
network's default binding address; the default 0.0.0.0 publishes on IPv4 and, for endpoints
with an IPv6 address, on :: as well. An open host port picks a free port: the first free one of
a given range, or a random one of the ephemeral range (ip_local_port_range minus reserved ports).
"""

from __future__ import annotations

import errno as errno_mod
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from berth.model.errors import (
    InvalidAddress,
    InvalidParameter,
    KernelError,
    NoAvailablePort,
    PortInUse,
)
from berth.model.ports import ANY_V4, ANY_V6, PortMapping, Proto, PublishedPort

IPAddress = IPv4Address | IPv6Address
Probe = Callable[[Proto, IPAddress, int], bool]

RANDOM_TRIES = 64


@dataclass
class PortTable:
    """Every host binding berth holds, indexed by (proto, port) for O(1) conflict checks."""

    _by_port: dict[tuple[Proto, int], dict[IPAddress, str]] = field(default_factory=dict)

    def holder(self, proto: Proto, ip: IPAddress, port: int) -> str | None:
        for held_ip, who in self._by_port.get((proto, port), {}).items():
            if held_ip.version == ip.version and (
                held_ip == ip or held_ip.is_unspecified or ip.is_unspecified
            ):
                return who
        return None

    def add(self, binding: PublishedPort, holder: str) -> None:
        self._by_port.setdefault((binding.proto, binding.host_port), {})[binding.host_ip] = holder

    def remove(self, binding: PublishedPort) -> None:
        held = self._by_port.get((binding.proto, binding.host_port))
        if held is not None:
            held.pop(binding.host_ip, None)
            if not held:
                del self._by_port[(binding.proto, binding.host_port)]

    def copy(self) -> PortTable:
        return PortTable({k: dict(v) for k, v in self._by_port.items()})


@dataclass(frozen=True)
class PortContext:
    default_host_ip: IPAddress = ANY_V4
    has_v4: bool = True
    has_v6: bool = False
    ephemeral: tuple[int, int] = (32768, 60999)
    reserved: frozenset[int] = frozenset()


def parse_port_range(text: str) -> tuple[int, int]:
    """/proc/sys/net/ipv4/ip_local_port_range: 'first<TAB>last'."""
    first, last = (int(x) for x in text.split())
    return first, last


def parse_reserved_ports(text: str) -> frozenset[int]:
    """/proc/sys/net/ipv4/ip_local_reserved_ports: '8080,9000-9010' or empty."""
    ports: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        ports.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(ports)


def requested_mappings(
    ports: Sequence[PortMapping], exposed: Iterable[tuple[int, Proto]], publish_all: bool
) -> list[PortMapping]:
    """Explicit mappings, plus every exposed port not mapped explicitly when publishing all."""
    mappings = list(dict.fromkeys(ports))
    if publish_all:
        mapped = {(m.container_port, m.proto) for m in mappings}
        mappings += [PortMapping(p, proto) for p, proto in exposed if (p, proto) not in mapped]
    return mappings


def _targets(mapping: PortMapping, ctx: PortContext, who: str) -> list[IPAddress]:
    ip = mapping.host_ip if mapping.host_ip is not None else ctx.default_host_ip
    if ip == ANY_V4 and mapping.host_ip is None:
        targets: list[IPAddress] = [ANY_V4] if ctx.has_v4 else []
        return targets + ([ANY_V6] if ctx.has_v6 else [])
    if (ip.version == 4 and not ctx.has_v4) or (ip.version == 6 and not ctx.has_v6):
        raise InvalidParameter(
            f"cannot publish {mapping} on {ip}: {who} has no IPv{ip.version} address "
            "(berth forwards ports in the kernel and does not translate between families)"
        )
    return [ip]


class PortAllocator:
    def __init__(
        self, table: PortTable, probe: Probe, ctx: PortContext, rng: random.Random | None = None
    ) -> None:
        self._table = table.copy()  # bindings made by this request count as taken too
        self._probe = probe
        self._ctx = ctx
        self._rng = rng or random.Random()

    def allocate(self, mappings: Sequence[PortMapping], who: str) -> tuple[PublishedPort, ...]:
        result: list[PublishedPort] = []
        for mapping in mappings:
            targets = _targets(mapping, self._ctx, who)
            if not targets:
                continue
            port = self._pick(mapping, targets)
            for ip in targets:
                binding = PublishedPort(mapping.proto, ip, port, mapping.container_port)
                self._table.add(binding, who)
                result.append(binding)
        return tuple(dict.fromkeys(result))

    def _pick(self, mapping: PortMapping, targets: list[IPAddress]) -> int:
        if mapping.host_ports is not None:
            first, last = mapping.host_ports
            if first == last:
                self._check(mapping.proto, targets, first, raise_conflict=True)
                return first
            for port in range(first, last + 1):
                if self._check(mapping.proto, targets, port):
                    return port
            raise NoAvailablePort(f"{mapping} (every port of {first}-{last} is taken)")
        return self._ephemeral(mapping, targets)

    def _ephemeral(self, mapping: PortMapping, targets: list[IPAddress]) -> int:
        first, last = self._ctx.ephemeral
        for _ in range(RANDOM_TRIES):
            port = self._rng.randint(first, last)
            if port not in self._ctx.reserved and self._check(mapping.proto, targets, port):
                return port
        start = self._rng.randint(first, last)
        for offset in range(last - first + 1):
            port = first + (start - first + offset) % (last - first + 1)
            if port not in self._ctx.reserved and self._check(mapping.proto, targets, port):
                return port
        raise NoAvailablePort(f"{mapping} in the ephemeral range {first}-{last}")

    def _check(
        self, proto: Proto, targets: list[IPAddress], port: int, raise_conflict: bool = False
    ) -> bool:
        for ip in targets:
            holder = self._table.holder(proto, ip, port)
            if holder is None and self._in_use(proto, ip, port):
                holder = "another program on the host"
            if holder is not None:
                if raise_conflict:
                    shown = f"[{ip}]" if ip.version == 6 else str(ip)
                    raise PortInUse(f"{shown}:{port}/{proto}", holder)
                return False
        return True

    def _in_use(self, proto: Proto, ip: IPAddress, port: int) -> bool:
        try:
            return self._probe(proto, ip, port)
        except KernelError as err:
            if err.errno == errno_mod.EADDRNOTAVAIL:
                raise InvalidAddress(str(ip), "is not an address of this host") from err
            raise
