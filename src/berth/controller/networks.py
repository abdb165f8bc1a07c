"""Network creation plans: validate a NetworkSpec completely, then allocate its pools.

Validation is pure (no kernel, no store): family consistency, one pool per family, driver
options, IPv6 settings. Allocation asks the IPAM driver inside the controller's transaction and
steers automatic pools clear of prefixes already on the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal

from berth.controller.transaction import Transaction
from berth.drivers.api import NetworkDriver
from berth.ipam.api import IpamDriver, PoolRequest
from berth.kernel.api import Kernel
from berth.model.errors import DriverNotFound, InvalidParameter, InvalidSubnet, PoolNotFound
from berth.model.network import AllocatedPool, IpamPoolConfig, Network, NetworkSpec, Scope
from berth.store.api import StoreTxn

IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True)
class NetworkPlan:
    spec: NetworkSpec
    scope: Scope
    uses_ipam: bool
    reserve_gateway: bool
    v4: IpamPoolConfig | None
    v6: IpamPoolConfig | None


def _by_family(spec: NetworkSpec) -> dict[int, IpamPoolConfig]:
    found: dict[int, IpamPoolConfig] = {}
    for cfg in spec.ipam.config:
        versions = {a.version for a in (cfg.subnet, cfg.ip_range, cfg.gateway) if a is not None}
        versions |= {a.version for a in cfg.aux_addresses.values()}
        if len(versions) > 1:
            raise InvalidParameter(
                f"network {spec.name}: IPAM config mixes IPv4 and IPv6 values: {cfg}"
            )
        if cfg.subnet is None and (cfg.ip_range or cfg.gateway or cfg.aux_addresses):
            raise InvalidSubnet(
                "",
                f"network {spec.name}: ip-range, gateway and aux addresses need an explicit subnet",
            )
        version = versions.pop() if versions else 4
        if version in found:
            raise InvalidParameter(
                f"network {spec.name}: more than one IPv{version} pool; berth supports one "
                "IPv4 and one IPv6 pool per network"
            )
        found[version] = cfg
    return found


class NetworkPlanner:
    def __init__(self, kernel: Kernel, ipam: Mapping[str, IpamDriver]) -> None:
        self._kernel = kernel
        self._ipam = ipam

    def validate(
        self, spec: NetworkSpec, driver: NetworkDriver, *, predefined: bool
    ) -> NetworkPlan:
        caps = driver.capabilities
        if spec.ipam.driver not in self._ipam:
            raise DriverNotFound(spec.ipam.driver, kind="IPAM")
        families = _by_family(spec)
        if 6 in families and not spec.enable_ipv6:
            raise InvalidParameter(
                f"network {spec.name}: an IPv6 subnet was given but IPv6 is not enabled "
                "(use --ipv6)"
            )
        if not caps.uses_ipam and families:
            raise InvalidParameter(f"driver {driver.name} takes no IPAM configuration")
        if spec.scope not in (None, caps.scope):
            raise InvalidParameter(
                f"driver {driver.name} creates {caps.scope}-scope networks, not {spec.scope}"
            )
        driver.validate_network(
            spec.options,
            internal=spec.internal,
            enable_ipv6=spec.enable_ipv6,
            predefined=predefined,
        )
        return NetworkPlan(
            spec=spec,
            scope=caps.scope,
            uses_ipam=caps.uses_ipam,
            reserve_gateway=caps.gateway_on_network,
            v4=families.get(4, IpamPoolConfig()) if caps.uses_ipam else None,
            v6=families.get(6, IpamPoolConfig()) if caps.uses_ipam and spec.enable_ipv6 else None,
        )

    def allocate_pools(
        self, txn: StoreTxn, undo: Transaction, plan: NetworkPlan
    ) -> tuple[AllocatedPool, ...]:
        ipam = self._ipam[plan.spec.ipam.driver]
        pools: list[AllocatedPool] = []
        for version, cfg in ((4, plan.v4), (6, plan.v6)):
            if cfg is None:
                continue
            request = PoolRequest(
                owner=plan.spec.name,
                version=4 if version == 4 else 6,
                address_space="global" if plan.scope == "global" else "local",
                subnet=cfg.subnet,
                ip_range=cfg.ip_range,
                gateway=cfg.gateway,
                aux_addresses=dict(cfg.aux_addresses),
                options=dict(plan.spec.ipam.options),
                # automatic pools, and Docker 29's size hints (0.0.0.0/24), avoid host prefixes
                exclude=self.host_prefixes(version)
                if cfg.subnet is None or cfg.subnet.network_address.is_unspecified
                else (),
                reserve_gateway=plan.reserve_gateway,
            )
            pool = ipam.request_pool(txn, request)
            if not ipam.transactional:
                undo.on_rollback("release pool", partial(ipam.release_pool, txn, pool.pool_id))
            pools.append(pool)
        return tuple(pools)

    def release_pools(self, txn: StoreTxn, network: Network) -> None:
        ipam = self._ipam.get(network.ipam.driver)
        if ipam is None:
            return
        for pool in network.pools:
            with suppress(PoolNotFound):  # already released: teardown treats gone as done
                ipam.release_pool(txn, pool.pool_id)

    def host_prefixes(self, version: Literal[4, 6] | int) -> tuple[IPNetwork, ...]:
        """Prefixes of the host's addresses and routes, which automatic pools must avoid
        (a host with docker0 on 172.17.0.0/16 gets the next free pool)."""
        netlink = self._kernel.netlink
        found = {
            ip_network(a.network)
            for a in netlink.list_addresses(None)
            if a.version == version and not a.ip.is_loopback and not a.ip.is_link_local
        }
        found |= {r for r in netlink.list_routes(None, version) if r.prefixlen > 0}
        return tuple(sorted(found, key=str))
