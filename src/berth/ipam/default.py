"""The default IPAM driver: Docker's built-in allocation rules over berth's store.

All state lives in ``ipam_pool`` documents (one per pool, see ``poolstate``) read and written
inside the caller's write transaction. The driver object only holds configuration (the
predefined pools), so any number of processes can share one store: the store's exclusive
``write()`` is what keeps two of them from handing out the same address or subnet, and a failed
operation rolls the IPAM back with everything else.

Rules follow libnetwork's ``defaultipam``: first-fit subnets from the predefined pools avoiding
other pools of the same address space and the host's prefixes; lowest free address (or serial
with ``com.docker.network.ipam.serial=true``); reserved network/broadcast/anycast addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_network

from berth.ipam.api import IPAddress, IPInterface, IPNetwork, PoolRequest
from berth.ipam.pools import GLOBAL_DEFAULTS, LOCAL_DEFAULTS, PredefinedPool, first_fit, ula_pool
from berth.ipam.poolstate import KIND, PoolState, reserved_offsets
from berth.model.errors import (
    InvalidAddress,
    InvalidOption,
    InvalidSubnet,
    PoolNotFound,
    PoolOverlap,
    PoolsExhausted,
    StoreError,
)
from berth.model.network import AllocatedPool
from berth.store.api import Doc, StoreTxn

SERIAL_OPTION = "com.docker.network.ipam.serial"


class DefaultIpam:
    """``IpamDriver`` with Docker's default semantics; see the module docstring.

    ``local_pools``/``global_pools`` are the predefined pools of each address space (either
    family; None = Docker's defaults). Local IPv6 pools are ``v6_pools`` if given, else the IPv6
    entries of ``local_pools``, else the ULA /48 derived from ``host_id`` (as dockerd does).
    """

    transactional = True

    def __init__(
        self,
        *,
        host_id: str,
        local_pools: Sequence[PredefinedPool] | None = None,
        global_pools: Sequence[PredefinedPool] | None = None,
        v6_pools: Sequence[PredefinedPool] | None = None,
    ) -> None:
        local = tuple(LOCAL_DEFAULTS if local_pools is None else local_pools)
        glob = tuple(GLOBAL_DEFAULTS if global_pools is None else global_pools)
        if v6_pools is not None and any(p.version != 6 for p in v6_pools):
            raise InvalidOption("v6_pools", [str(p.base) for p in v6_pools], "must all be IPv6")
        local6 = tuple(v6_pools or ()) or _family(local, 6) or (ula_pool(host_id),)
        self._pools: dict[tuple[str, int], tuple[PredefinedPool, ...]] = {
            ("local", 4): _family(local, 4),
            ("local", 6): local6,
            ("global", 4): _family(glob, 4),
            ("global", 6): _family(glob, 6),
        }

    def predefined(self, address_space: str, version: int) -> tuple[PredefinedPool, ...]:
        """The pools automatic selection draws from, in first-fit order."""
        return self._pools.get((address_space, version), ())

    # --- IpamDriver --------------------------------------------------------------------------

    def request_pool(self, txn: StoreTxn, req: PoolRequest) -> AllocatedPool:
        validate_request(req)
        pool = PoolState.create(
            address_space=req.address_space,
            owner=req.owner,
            subnet=self._choose_subnet(txn, req),
            ip_range=req.ip_range,
            options=dict(req.options),
            serial=_serial(req),
        )
        # Explicit addresses first, so an automatic gateway steps around the aux addresses.
        if req.gateway is not None:
            pool.reserve(req.gateway)
            pool.gateway = req.gateway
        for name, address in req.aux_addresses.items():
            pool.reserve(address)
            pool.aux_addresses[name] = address
        if pool.gateway is None and req.reserve_gateway:
            pool.gateway = pool.allocate()
        txn.put(KIND, pool.pool_id, pool.to_doc())
        return AllocatedPool(
            pool_id=pool.pool_id,
            subnet=pool.subnet,
            gateway=pool.gateway,
            ip_range=pool.ip_range,
            aux_addresses=dict(pool.aux_addresses),
        )

    def release_pool(self, txn: StoreTxn, pool_id: str) -> None:
        if not txn.delete(KIND, pool_id):
            raise PoolNotFound(pool_id)

    def request_address(
        self, txn: StoreTxn, pool_id: str, address: IPAddress | None = None
    ) -> IPInterface:
        pool = _load(txn, pool_id)
        if address is None:
            address = pool.allocate()
        else:
            pool.reserve(address)
        txn.put(KIND, pool_id, pool.to_doc())
        return pool.interface(address)

    def release_address(self, txn: StoreTxn, pool_id: str, address: IPAddress) -> None:
        pool = _load(txn, pool_id)
        if pool.release(address):
            txn.put(KIND, pool_id, pool.to_doc())

    # --- subnet selection ----------------------------------------------------------------------

    def _choose_subnet(self, txn: StoreTxn, req: PoolRequest) -> IPNetwork:
        """The user's subnet if it overlaps no pool of the space, else the first free
        predefined one. ``0.0.0.0/24``-style subnets (Docker 29) ask for a predefined /24."""
        taken = _space_subnets(txn, req.address_space)
        if req.subnet is not None and not _is_size_hint(req.subnet):
            for subnet, owner in taken:
                if subnet.version == req.subnet.version and subnet.overlaps(req.subnet):
                    raise PoolOverlap(str(req.subnet), other=owner)
            return req.subnet
        candidates = self._candidates(req)
        found = first_fit(candidates, [s for s, _ in taken], req.exclude)
        if found is None:
            raise PoolsExhausted(req.version, sum(p.count for p in candidates))
        return found

    def _candidates(self, req: PoolRequest) -> tuple[PredefinedPool, ...]:
        pools = self.predefined(req.address_space, req.version)
        if req.subnet is None or req.subnet.prefixlen == 0:
            return pools
        size = req.subnet.prefixlen
        resized = tuple(p for p in (pool.resized(size) for pool in pools) if p is not None)
        if not resized:
            raise InvalidSubnet(
                str(req.subnet),
                f"no predefined IPv{req.version} pool of the {req.address_space} address space "
                f"can hold a /{size} (network {req.owner})",
            )
        return resized


def validate_request(req: PoolRequest) -> None:
    """Every check that needs no state, before anything is allocated (Docker 25+ rejects these
    at network creation with 400). Errors name the value and the network."""
    where = f"(network {req.owner})"
    subnet = req.subnet
    if subnet is None or _is_size_hint(subnet):
        if subnet is not None and subnet.version != req.version:
            raise InvalidSubnet(str(subnet), f"is not an IPv{req.version} subnet {where}")
        _refuse_without_subnet(req, where)
        return
    if subnet.version != req.version:
        raise InvalidSubnet(str(subnet), f"is not an IPv{req.version} subnet {where}")
    if req.ip_range is not None:
        if req.ip_range.version != subnet.version:
            raise InvalidSubnet(str(req.ip_range), f"ip range is not IPv{subnet.version} {where}")
        if not _inside(req.ip_range, subnet):
            raise InvalidSubnet(str(req.ip_range), f"ip range is not inside {subnet} {where}")
    if req.gateway is not None:
        _check_address("gateway", req.gateway, subnet, where)
    for name, address in req.aux_addresses.items():
        _check_address(f"aux address {name!r}", address, subnet, where)


def _refuse_without_subnet(req: PoolRequest, where: str) -> None:
    if req.ip_range is not None:
        raise InvalidSubnet(str(req.ip_range), f"an ip range needs an explicit subnet {where}")
    if req.gateway is not None:
        raise InvalidAddress(str(req.gateway), f"a gateway needs an explicit subnet {where}")
    if req.aux_addresses:
        name, address = next(iter(req.aux_addresses.items()))
        raise InvalidAddress(str(address), f"aux address {name!r} needs an explicit subnet {where}")


def _check_address(what: str, address: IPAddress, subnet: IPNetwork, where: str) -> None:
    if address.version != subnet.version:
        raise InvalidAddress(str(address), f"{what} is not IPv{subnet.version} {where}")
    if address not in subnet:
        raise InvalidAddress(str(address), f"{what} is not inside subnet {subnet} {where}")
    offset = int(address) - int(subnet.network_address)
    if offset in reserved_offsets(subnet):
        raise InvalidAddress(
            str(address), f"{what} is the {_reserved_kind(subnet, offset)} of {subnet} {where}"
        )


def _reserved_kind(subnet: IPNetwork, offset: int) -> str:
    if subnet.version == 6:
        return "subnet-router anycast address"
    return "network address" if offset == 0 else "broadcast address"


def _serial(req: PoolRequest) -> bool:
    value = req.options.get(SERIAL_OPTION, "false")
    if value.lower() not in ("true", "false"):
        raise InvalidOption(SERIAL_OPTION, value, f"must be true or false (network {req.owner})")
    return value.lower() == "true"


def _inside(inner: IPNetwork, outer: IPNetwork) -> bool:
    return int(outer.network_address) <= int(inner.network_address) and int(
        inner.broadcast_address
    ) <= int(outer.broadcast_address)


def _is_size_hint(subnet: IPNetwork) -> bool:
    return subnet.network_address.is_unspecified


def _family(pools: tuple[PredefinedPool, ...], version: int) -> tuple[PredefinedPool, ...]:
    return tuple(p for p in pools if p.version == version)


def _space_subnets(txn: StoreTxn, address_space: str) -> list[tuple[IPNetwork, str]]:
    """(subnet, owning network) of every pool of the address space; spaces may overlap.
    Reads only those fields: parsing every pool's bitmap here would be wasted work."""
    taken: list[tuple[IPNetwork, str]] = []
    for doc in txn.list(KIND):
        try:
            if doc["address_space"] == address_space:
                taken.append((ip_network(doc["subnet"]), str(doc["owner"])))
        except (KeyError, ValueError, TypeError) as err:
            raise _corrupt(doc, err) from err
    return taken


def _load(txn: StoreTxn, pool_id: str) -> PoolState:
    doc = txn.get(KIND, pool_id)
    if doc is None:
        raise PoolNotFound(pool_id)
    return _parse(doc)


def _parse(doc: Doc) -> PoolState:
    try:
        return PoolState.from_doc(doc)
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise _corrupt(doc, err) from err


def _corrupt(doc: Doc, err: Exception) -> StoreError:
    return StoreError(f"corrupt {KIND} document {doc.get('pool_id')!r}: {err!r}")
