"""Predefined address pools (Docker's ``default-address-pools``) and first-fit subnet selection.

Pure: no store, no state. ``DefaultIpam`` hands ``first_fit`` what is already taken and records
the answer itself. Selection jumps over taken prefixes instead of enumerating candidates, so a
/8 split into /24s or a ULA /48 split into /64s costs O(taken prefixes), not O(candidates).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_interface, ip_network

from berth.ipam.api import IPNetwork
from berth.model.errors import InvalidOption, InvalidSubnet

POOLS_OPTION = "default-address-pools"


def parse_subnet(text: str, what: str = "subnet") -> IPNetwork:
    """Parse a CIDR that must be canonical: Docker (25.0+) refuses host bits instead of
    silently masking them, because ``10.1.2.3/16`` usually means the user mistyped."""
    value = text.strip()
    try:
        interface = ip_interface(value)
    except ValueError as err:
        raise InvalidSubnet(text, f"not a valid {what} in CIDR notation") from err
    if "/" not in value:
        raise InvalidSubnet(text, f"{what} needs a prefix length, e.g. {interface.network}")
    if interface.ip != interface.network.network_address:
        raise InvalidSubnet(text, f"{what} has host bits set, did you mean {interface.network}?")
    return interface.network


@dataclass(frozen=True)
class PredefinedPool:
    """A base prefix split into subnets of prefix length ``size``, in address order."""

    base: IPNetwork
    size: int

    def __post_init__(self) -> None:
        if not self.base.prefixlen <= self.size <= self.base.max_prefixlen:
            raise InvalidOption(
                POOLS_OPTION,
                f"base={self.base},size={self.size}",
                f"size must be between the base prefix length /{self.base.prefixlen} and "
                f"/{self.base.max_prefixlen}",
            )

    @property
    def version(self) -> int:
        return self.base.version

    @property
    def count(self) -> int:
        """How many subnets the pool yields."""
        return 1 << (self.size - self.base.prefixlen)

    def resized(self, size: int) -> PredefinedPool | None:
        """The same base split into /``size`` subnets, or None if the base cannot hold one."""
        if not self.base.prefixlen <= size <= self.base.max_prefixlen:
            return None
        return PredefinedPool(self.base, size)

    @classmethod
    def parse(cls, value: Mapping[str, object] | str) -> PredefinedPool:
        """Docker's two spellings: ``{"base": "172.80.0.0/16", "size": 24}`` (daemon.json) and
        ``base=172.80.0.0/16,size=24`` (``--default-address-pool``)."""
        fields = _split_cli(value) if isinstance(value, str) else dict(value)
        unknown = sorted(set(fields) - {"base", "size"})
        if unknown:
            raise InvalidOption(POOLS_OPTION, value, f"unexpected key(s) {', '.join(unknown)}")
        base, size = fields.get("base"), fields.get("size")
        if not isinstance(base, str):
            raise InvalidOption(POOLS_OPTION, value, "'base' must be a CIDR string")
        if isinstance(size, str) and size.isdigit():
            size = int(size)
        if not isinstance(size, int) or isinstance(size, bool):
            raise InvalidOption(POOLS_OPTION, value, "'size' must be a prefix length (integer)")
        return cls(parse_subnet(base, "pool base"), size)


def _split_cli(text: str) -> dict[str, object]:
    fields: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, val = part.partition("=")
        if not sep:
            raise InvalidOption(POOLS_OPTION, text, f"{part!r} is not key=value")
        fields[key.strip().lower()] = val.strip()
    return fields


def _pool(base: str, size: int) -> PredefinedPool:
    return PredefinedPool(ip_network(base), size)


# Docker's built-in lists (libnetwork ipamutils): 15 /16s then 16 /20s for local scope.
LOCAL_DEFAULTS: tuple[PredefinedPool, ...] = (
    _pool("172.17.0.0/16", 16),
    _pool("172.18.0.0/16", 16),
    _pool("172.19.0.0/16", 16),
    _pool("172.20.0.0/14", 16),
    _pool("172.24.0.0/14", 16),
    _pool("172.28.0.0/14", 16),
    _pool("192.168.0.0/16", 20),
)
GLOBAL_DEFAULTS: tuple[PredefinedPool, ...] = (_pool("10.0.0.0/8", 24),)


def ula_pool(host_id: str) -> PredefinedPool:
    """The per-host IPv6 ULA pool Docker adds when no IPv6 pool is configured: ``fd00::/8`` plus
    the low 40 bits of the first 8 bytes of SHA-256(host id) as the global ID (RFC 4193-ish),
    split into /64s. Stable for a host, different between hosts."""
    digest = hashlib.sha256(host_id.encode()).digest()
    global_id = int.from_bytes(digest[:8], "big") & ((1 << 40) - 1)
    base = IPv6Network(((0xFD << 120) | (global_id << 80), 48))
    return PredefinedPool(base, 64)


def first_fit(
    pools: Sequence[PredefinedPool],
    allocated: Iterable[IPNetwork],
    exclude: Iterable[IPNetwork] = (),
) -> IPNetwork | None:
    """The first subnet, pool by pool in the given order and by address within a pool, that
    overlaps no ``allocated`` subnet and no ``exclude`` prefix; None when there is none.

    Excluded default routes (prefix length 0) are ignored: they would rule out everything.
    """
    taken = list(allocated) + [p for p in exclude if p.prefixlen > 0]
    spans = {v: _merged(p for p in taken if p.version == v) for v in (4, 6)}
    for pool in pools:
        found = _first_free_in(pool, *spans[pool.version])
        if found is not None:
            return found
    return None


def _merged(prefixes: Iterable[IPNetwork]) -> tuple[list[int], list[int]]:
    """Taken prefixes as sorted, disjoint, inclusive integer spans (parallel start/end lists)."""
    starts: list[int] = []
    ends: list[int] = []
    for first, last in sorted((int(p.network_address), int(p.broadcast_address)) for p in prefixes):
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return starts, ends


def _first_free_in(pool: PredefinedPool, starts: list[int], ends: list[int]) -> IPNetwork | None:
    step = 1 << (pool.base.max_prefixlen - pool.size)
    candidate = int(pool.base.network_address)
    last = int(pool.base.broadcast_address)
    i = bisect_left(ends, candidate)  # first span that ends at or after the candidate
    while candidate + step - 1 <= last:
        while i < len(ends) and ends[i] < candidate:
            i += 1
        if i == len(ends) or starts[i] > candidate + step - 1:
            return _network(pool.version, candidate, pool.size)
        # Jump past the whole taken span, to the next subnet boundary after it.
        candidate = -(-(ends[i] + 1) // step) * step
    return None


def _network(version: int, value: int, prefixlen: int) -> IPNetwork:
    if version == 4:
        return IPv4Network((value, prefixlen))
    return IPv6Network((value, prefixlen))
