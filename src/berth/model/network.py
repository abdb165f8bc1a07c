"""Networks as the controller knows them: the user's request, and the live (frozen) record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, Literal

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Scope = Literal["local", "global", "swarm"]

DEFAULT_IPAM = "default"


@dataclass(frozen=True)
class IpamPoolConfig:
    """One entry of Docker's IPAM.Config: what the user asked for one address family."""

    subnet: IPNetwork | None = None
    ip_range: IPNetwork | None = None
    gateway: IPAddress | None = None
    aux_addresses: Mapping[str, IPAddress] = field(default_factory=dict)


@dataclass(frozen=True)
class IpamConfig:
    driver: str = DEFAULT_IPAM
    options: Mapping[str, str] = field(default_factory=dict)
    config: tuple[IpamPoolConfig, ...] = ()


@dataclass(frozen=True)
class NetworkSpec:
    """A request to create a network, as the user gave it (validated by the controller)."""

    name: str
    driver: str = "bridge"
    ipam: IpamConfig = field(default_factory=IpamConfig)
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    scope: Scope | None = None
    id: str | None = None  # predefined networks and restores may fix the id


@dataclass(frozen=True)
class AllocatedPool:
    """An address pool the IPAM driver reserved for a network (one per family)."""

    pool_id: str
    subnet: IPNetwork
    gateway: IPAddress | None
    ip_range: IPNetwork | None = None
    aux_addresses: Mapping[str, IPAddress] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.subnet.version


@dataclass(frozen=True)
class Network:
    """The controller's one live record of a network."""

    id: str
    name: str
    driver: str
    scope: Scope
    created: str
    ipam: IpamConfig
    pools: tuple[AllocatedPool, ...]
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    driver_state: Mapping[str, Any] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def pool(self, version: int) -> AllocatedPool | None:
        return next((p for p in self.pools if p.version == version), None)


def parse_pool_config(
    subnet: str | None = None,
    ip_range: str | None = None,
    gateway: str | None = None,
    aux_addresses: Mapping[str, str] | None = None,
) -> IpamPoolConfig:
    """Docker's IPAM.Config strings -> IpamPoolConfig; a subnet with host bits set, or any value
    that is not an address, is an InvalidSubnet/InvalidAddress naming the value."""
    from berth.model.errors import InvalidAddress, InvalidSubnet  # noqa: PLC0415 - no cycle

    def network(value: str | None, what: str) -> IPNetwork | None:
        if value is None:
            return None
        try:
            return ip_network(value)
        except ValueError as err:
            raise InvalidSubnet(value, f"{what}: {err}") from None

    def address(value: str | None, what: str) -> IPAddress | None:
        if value is None:
            return None
        try:
            return ip_address(value)
        except ValueError:
            raise InvalidAddress(value, f"{what} is not an IP address") from None

    aux = {k: address(v, f"aux address {k}") for k, v in (aux_addresses or {}).items()}
    return IpamPoolConfig(
        subnet=network(subnet, "subnet"),
        ip_range=network(ip_range, "ip-range"),
        gateway=address(gateway, "gateway"),
        aux_addresses={k: v for k, v in aux.items() if v is not None},
    )
