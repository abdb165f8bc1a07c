"""One allocated pool as the default IPAM stores it: its store document and its address rules.

A ``PoolState`` is loaded from the ``ipam_pool`` document at the start of a call, changed, and put
back in the same store transaction; nothing is cached between calls, so every process sharing
the store sees the same allocations. The bitmap spans the whole subnet (an aux address or a
requested ``--ip`` may lie outside the ip range); the range only bounds automatic picks.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address, ip_interface, ip_network

from berth.ipam.api import IPAddress, IPInterface, IPNetwork
from berth.ipam.bitmap import Bitmap
from berth.model.errors import AddressInUse, AddressOutOfRange, NoAvailableAddress
from berth.store.api import Doc

KIND = "ipam_pool"


def make_pool_id(address_space: str, subnet: IPNetwork, ip_range: IPNetwork | None) -> str:
    """Opaque to callers; like Docker's ``LocalDefault/10.0.0.0/16/10.0.1.0/24``."""
    tail = f"/{ip_range}" if ip_range is not None else ""
    return f"{address_space}/{subnet}{tail}"


def reserved_offsets(subnet: IPNetwork) -> tuple[int, ...]:
    """Offsets never handed out (Docker's newPoolData): the IPv4 network and broadcast
    addresses except on /31 and /32 point-to-point links (RFC 3021), and the IPv6 subnet-router
    anycast address (RFC 4291 2.6.1), which is the first address of every IPv6 subnet."""
    if subnet.version == 6:
        return (0,)
    if subnet.max_prefixlen - subnet.prefixlen > 1:
        return (0, subnet.num_addresses - 1)
    return ()


@dataclass
class PoolState:
    pool_id: str
    address_space: str
    owner: str
    subnet: IPNetwork
    ip_range: IPNetwork | None
    gateway: IPAddress | None
    aux_addresses: dict[str, IPAddress]
    options: dict[str, str]
    serial: bool
    bitmap: Bitmap

    @classmethod
    def create(
        cls,
        *,
        address_space: str,
        owner: str,
        subnet: IPNetwork,
        ip_range: IPNetwork | None,
        options: dict[str, str],
        serial: bool,
    ) -> PoolState:
        """A fresh pool with its reserved addresses already set."""
        bitmap = Bitmap(subnet.num_addresses)
        for offset in reserved_offsets(subnet):
            bitmap.set(offset)
        pool_id = make_pool_id(address_space, subnet, ip_range)
        return cls(
            pool_id, address_space, owner, subnet, ip_range, None, {}, options, serial, bitmap
        )

    # --- addresses -----------------------------------------------------------------------------

    def label(self) -> str:
        """How errors name the pool: its subnet, range and network."""
        in_range = f" (range {self.ip_range})" if self.ip_range is not None else ""
        return f"{self.subnet}{in_range} of network {self.owner}"

    def allocate(self) -> IPAddress:
        """The lowest free address of the range (or the next one in serial mode)."""
        span = self.ip_range or self.subnet
        lo = self._offset(span.network_address)
        found = self.bitmap.allocate(lo, lo + span.num_addresses - 1, serial=self.serial)
        if found is None:
            raise NoAvailableAddress(self.label())
        return self._address(found)

    def reserve(self, address: IPAddress) -> None:
        """Take one given address: anywhere in the subnet, even outside the ip range."""
        if not self.contains(address):
            raise AddressOutOfRange(str(address), self.label())
        offset = self._offset(address)
        if self.bitmap.is_set(offset):
            raise AddressInUse(str(address), self.label())
        self.bitmap.set(offset)

    def release(self, address: IPAddress) -> bool:
        """Free an address; False if it was not taken. Reserved addresses stay reserved."""
        if not self.contains(address):
            raise AddressOutOfRange(str(address), self.label())
        offset = self._offset(address)
        if offset in reserved_offsets(self.subnet):
            return False
        return self.bitmap.release(offset)

    def contains(self, address: IPAddress) -> bool:
        return address.version == self.subnet.version and address in self.subnet

    def interface(self, address: IPAddress) -> IPInterface:
        return ip_interface(f"{address}/{self.subnet.prefixlen}")

    def _offset(self, address: IPAddress) -> int:
        return int(address) - int(self.subnet.network_address)

    def _address(self, offset: int) -> IPAddress:
        return self.subnet.network_address + offset

    # --- store document ------------------------------------------------------------------------

    def to_doc(self) -> Doc:
        return {
            "pool_id": self.pool_id,
            "address_space": self.address_space,
            "owner": self.owner,
            "subnet": str(self.subnet),
            "ip_range": None if self.ip_range is None else str(self.ip_range),
            "gateway": None if self.gateway is None else str(self.gateway),
            "aux_addresses": {name: str(ip) for name, ip in self.aux_addresses.items()},
            "options": dict(self.options),
            "serial": self.serial,
            "bitmap": self.bitmap.to_json(),
        }

    @classmethod
    def from_doc(cls, doc: Doc) -> PoolState:
        """Raises KeyError/ValueError/TypeError on a corrupt document; the caller wraps them."""
        subnet = ip_network(doc["subnet"])
        bitmap = Bitmap.from_json(doc["bitmap"])
        if bitmap.size != subnet.num_addresses:
            raise ValueError(f"bitmap size {bitmap.size} does not match subnet {subnet}")
        return cls(
            pool_id=str(doc["pool_id"]),
            address_space=str(doc["address_space"]),
            owner=str(doc["owner"]),
            subnet=subnet,
            ip_range=None if doc["ip_range"] is None else ip_network(doc["ip_range"]),
            gateway=None if doc["gateway"] is None else ip_address(doc["gateway"]),
            aux_addresses={str(k): ip_address(v) for k, v in doc["aux_addresses"].items()},
            options={str(k): str(v) for k, v in doc["options"].items()},
            serial=bool(doc["serial"]),
            bitmap=bitmap,
        )
