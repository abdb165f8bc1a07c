"""The IPAM driver protocol (Docker's IpamDriver calls, in Python).

The default IPAM keeps its state in the controller's store and takes the open write transaction
as its first argument, so its changes commit or roll back with the rest of the operation. A remote
IPAM (later) ignores ``txn`` and the controller records releases as undo steps instead; that is
what ``transactional`` says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import Literal, Protocol

from berth.model.network import AllocatedPool
from berth.store.api import StoreTxn

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface
IPNetwork = IPv4Network | IPv6Network
AddressSpace = Literal["local", "global"]


@dataclass(frozen=True)
class PoolRequest:
    """Docker's RequestPool + the gateway and aux reservations that follow it.

    With ``subnet`` None the IPAM picks a free pool of family ``version`` from its defaults,
    avoiding every pool of the address space and every prefix in ``exclude`` (host addresses,
    routes, nameservers).
    """

    owner: str  # name of the network, used in error messages (PoolOverlap ...)
    version: Literal[4, 6] = 4
    address_space: AddressSpace = "local"
    subnet: IPNetwork | None = None
    ip_range: IPNetwork | None = None
    gateway: IPAddress | None = None
    aux_addresses: Mapping[str, IPAddress] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    exclude: Sequence[IPNetwork] = ()
    reserve_gateway: bool = True  # False for drivers that put no gateway on the network


class IpamDriver(Protocol):
    transactional: bool

    def request_pool(self, txn: StoreTxn, req: PoolRequest) -> AllocatedPool:
        """Reserve a pool, its gateway (given, or the first usable address) and aux addresses.
        Undone by ``release_pool``."""

    def release_pool(self, txn: StoreTxn, pool_id: str) -> None:
        """Release the pool with every address still allocated in it."""

    def request_address(
        self, txn: StoreTxn, pool_id: str, address: IPAddress | None = None
    ) -> IPInterface:
        """The lowest free address of the pool's range (or ``address`` if free and inside the
        subnet), with the pool's prefix length. Undone by ``release_address``."""

    def release_address(self, txn: StoreTxn, pool_id: str, address: IPAddress) -> None: ...
