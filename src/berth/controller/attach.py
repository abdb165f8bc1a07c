"""Endpoint lifecycles: create -> join (-> publish ports) and leave -> delete, with the rules
that tie sandboxes and networks together (host/none exclusivity, one endpoint per network,
gateway choice, static addresses and aliases only on user-defined networks).

Each method runs inside the controller's current operation (``Op``): store writes go to its
transaction, kernel steps push their inverse on its undo stack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from ipaddress import IPv4Interface, IPv6Interface
from typing import TYPE_CHECKING

from berth.controller import sandbox_net
from berth.controller.config import ControllerConfig
from berth.controller.portalloc import (
    PortAllocator,
    PortContext,
    parse_port_range,
    parse_reserved_ports,
    requested_mappings,
)
from berth.controller.registry import Registry
from berth.controller.transaction import Teardown
from berth.drivers.api import NetworkDriver
from berth.ipam.api import IpamDriver
from berth.kernel.api import Kernel
from berth.model.endpoint import Endpoint, EndpointSpec, Sandbox
from berth.model.errors import (
    EndpointExists,
    EndpointNotFound,
    Forbidden,
    InvalidParameter,
)
from berth.model.ids import new_id, validate_ifname, validate_name
from berth.model.netlabels import HOST_BINDING_V4, IFACE_PREFIX
from berth.model.network import Network
from berth.model.options import parse_ip

if TYPE_CHECKING:
    from berth.controller.controller import Op

DEFAULT_BRIDGE_NETWORK = "bridge"


class Attacher:
    def __init__(
        self,
        config: ControllerConfig,
        kernel: Kernel,
        ipam: Mapping[str, IpamDriver],
        reg: Registry,
        driver: Callable[[str], NetworkDriver],
    ) -> None:
        self._config = config
        self._kernel = kernel
        self._ipam = ipam
        self._reg = reg
        self._driver = driver

    # --- composite ------------------------------------------------------------------------

    def connect(self, op: Op, network: Network, sandbox: Sandbox, spec: EndpointSpec) -> Endpoint:
        if not spec.name:
            spec = replace(spec, name=sandbox.name)
        self._check_can_join(network, sandbox)  # before any address is allocated
        endpoint = self.create_endpoint(op, network, spec)
        return self.join(op, endpoint, sandbox)

    def disconnect(self, op: Op, endpoint: Endpoint, *, background: bool = False) -> None:
        """``background``: see ``leave``."""
        if endpoint.sandbox_id is not None:
            endpoint = self.leave(op, endpoint, background=background)
        self.delete_endpoint(op, endpoint)

    def endpoint_of(self, network: Network, sandbox: Sandbox) -> Endpoint:
        for endpoint in self._reg.sandbox_endpoints(sandbox):
            if endpoint.network_id == network.id:
                return endpoint
        raise EndpointNotFound(f"of sandbox {sandbox.name} on network {network.name}")

    # --- create / delete ------------------------------------------------------------------

    def create_endpoint(self, op: Op, network: Network, spec: EndpointSpec) -> Endpoint:
        driver = self._driver(network.driver)
        self._validate_spec(network, driver, spec)
        endpoint = Endpoint(
            id=new_id(),
            name=spec.name or "",
            network_id=network.id,
            mac=spec.mac,
            aliases=spec.aliases,
            links=spec.links,
            ports=spec.ports,
            exposed=spec.exposed,
            publish_all=spec.publish_all,
            gw_priority=spec.gw_priority,
            ifname=spec.ifname,
        )
        endpoint = self._assign_addresses(op, network, endpoint, spec)
        result = driver.create_endpoint(network, endpoint)
        endpoint = replace(
            endpoint, mac=result.mac or endpoint.mac, driver_state=dict(result.state)
        )
        op.undo.on_rollback(
            "driver delete_endpoint", lambda: driver.delete_endpoint(network, endpoint)
        )
        self._reg.save_endpoint(op.txn, endpoint)
        return endpoint

    def delete_endpoint(self, op: Op, endpoint: Endpoint) -> None:
        if endpoint.sandbox_id is not None:
            raise Forbidden(
                f"endpoint {endpoint.name} is still joined to sandbox "
                f"{endpoint.sandbox_id[:12]}; leave it first"
            )
        network = self._reg.networks[endpoint.network_id]
        self._driver(network.driver).delete_endpoint(network, endpoint)
        ipam = self._ipam.get(network.ipam.driver)
        for address, version in ((endpoint.ipv4, 4), (endpoint.ipv6, 6)):
            pool = network.pool(version)
            if address is not None and pool is not None and ipam is not None:
                ipam.release_address(op.txn, pool.pool_id, address.ip)
        self._reg.drop_endpoint(op.txn, endpoint)

    # --- join / leave ---------------------------------------------------------------------

    def join(self, op: Op, endpoint: Endpoint, sandbox: Sandbox) -> Endpoint:
        network = self._reg.networks[endpoint.network_id]
        driver = self._driver(network.driver)
        if endpoint.sandbox_id is not None:
            raise Forbidden(f"endpoint {endpoint.name} is already joined to a sandbox")
        self._check_can_join(network, sandbox)
        others = self._reg.sandbox_endpoints(sandbox)
        ifname = endpoint.ifname or sandbox_net.next_ifname(
            network.options.get(IFACE_PREFIX, "eth"), {e.ifname for e in others if e.ifname}
        )
        result = driver.join(network, endpoint, sandbox, ifname)
        op.undo.on_rollback("driver leave", lambda: driver.leave(network, endpoint, sandbox))
        joined = replace(
            endpoint,
            sandbox_id=sandbox.id,
            ifname=result.ifname,
            gateway4=result.gateway4,
            gateway6=result.gateway6,
            driver_state={**endpoint.driver_state, **result.state},
        )
        if result.ifname is not None:
            sandbox_net.configure_interface(self._kernel, sandbox, joined, result.ifname)
        joined = self._publish(op, network, driver, joined)
        sandbox = replace(sandbox, endpoints=(*sandbox.endpoints, joined.id))
        self._reg.save_endpoint(op.txn, joined)
        self._reroute(op, sandbox)
        op.emit("connect", network, container=sandbox.id)
        return joined

    def leave(self, op: Op, endpoint: Endpoint, *, background: bool = False) -> Endpoint:
        """``background``: the driver may finish releasing the interface after this returns
        (a detach; a sandbox being deleted waits, so that nothing is left when it is gone)."""
        network = self._reg.networks[endpoint.network_id]
        driver = self._driver(network.driver)
        if endpoint.sandbox_id is None:
            raise Forbidden(f"endpoint {endpoint.name} is not joined to any sandbox")
        sandbox = self._reg.sandboxes[endpoint.sandbox_id]
        teardown = Teardown(f"leave {endpoint.name} from {network.name}")
        teardown.step(
            "unpublish ports",
            lambda: driver.revoke_external_connectivity(network, endpoint, endpoint.published),
        )
        teardown.step(
            "driver leave",
            lambda: driver.leave(network, endpoint, sandbox, background=background),
        )
        teardown.finish()
        left = replace(endpoint, sandbox_id=None, published=(), gateway4=None, gateway6=None)
        self._reg.save_endpoint(op.txn, left)
        op.emit("disconnect", network, container=sandbox.id)
        remaining = tuple(e for e in sandbox.endpoints if e != endpoint.id)
        sandbox = replace(
            sandbox,
            endpoints=remaining,
            gateway_endpoint=None
            if sandbox.gateway_endpoint == endpoint.id
            else sandbox.gateway_endpoint,
        )
        self._reroute(op, sandbox)
        return left

    # --- helpers --------------------------------------------------------------------------

    def _check_can_join(self, network: Network, sandbox: Sandbox) -> None:
        caps = self._driver(network.driver).capabilities
        others = self._reg.sandbox_endpoints(sandbox)
        if any(e.network_id == network.id for e in others):
            raise EndpointExists(sandbox.name, network.name)
        if caps.shares_host_netns != sandbox.host_mode:
            raise Forbidden(
                f"sandbox {sandbox.name} cannot join network {network.name}: only host-mode "
                "sandboxes join the host network, and they join no other network"
            )
        other_drivers = {self._reg.networks[e.network_id].driver for e in others}
        if others and (network.driver == "null" or "null" in other_drivers):
            raise Forbidden(
                f"sandbox {sandbox.name} cannot be on the none network and on "
                "another network at once"
            )

    def _validate_spec(self, network: Network, driver: NetworkDriver, spec: EndpointSpec) -> None:
        if spec.name:
            validate_name("endpoint", spec.name)
        if spec.ifname:
            validate_ifname(spec.ifname)
        for alias in (*spec.aliases, *(alias for _name, alias in spec.links)):
            validate_name("alias", alias)
        user_defined = network.name != DEFAULT_BRIDGE_NETWORK
        if spec.aliases and not user_defined:
            raise InvalidParameter(
                "network-scoped aliases are only supported for user-defined networks"
            )
        if (spec.ipv4 or spec.ipv6) and not user_defined:
            raise InvalidParameter(
                "user specified IP address is supported on user defined networks only"
            )
        for requested, version in ((spec.ipv4, 4), (spec.ipv6, 6)):
            if requested is None:
                continue
            configured = any(
                c.subnet is not None and c.subnet.version == version for c in network.ipam.config
            )
            if not configured:
                raise InvalidParameter(
                    "user specified IP address is supported only when connecting to networks "
                    f"with user configured subnets (network {network.name}, {requested})"
                )
        if (spec.ports or spec.publish_all) and not driver.capabilities.supports_ports:
            raise InvalidParameter(
                f"driver {network.driver} of network {network.name} "
                "does not support port publishing"
            )
        if (spec.ports or spec.publish_all) and network.internal:
            raise InvalidParameter(
                f"network {network.name} is internal: ports cannot be published from it"
            )

    def _assign_addresses(
        self, op: Op, network: Network, endpoint: Endpoint, spec: EndpointSpec
    ) -> Endpoint:
        ipam = self._ipam.get(network.ipam.driver)
        if ipam is None or not network.pools:
            return endpoint
        pool4, pool6 = network.pool(4), network.pool(6)
        ipv4 = ipv6 = None
        if pool4 is not None:
            got4 = ipam.request_address(op.txn, pool4.pool_id, spec.ipv4)
            ipv4 = IPv4Interface(got4) if isinstance(got4, IPv4Interface) else None
            if not ipam.transactional:
                op.undo.on_rollback(
                    "release v4", lambda: ipam.release_address(op.txn, pool4.pool_id, got4.ip)
                )
        if pool6 is not None:
            got6 = ipam.request_address(op.txn, pool6.pool_id, spec.ipv6)
            ipv6 = IPv6Interface(got6) if isinstance(got6, IPv6Interface) else None
            if not ipam.transactional:
                op.undo.on_rollback(
                    "release v6", lambda: ipam.release_address(op.txn, pool6.pool_id, got6.ip)
                )
        return replace(endpoint, ipv4=ipv4, ipv6=ipv6)

    def _publish(
        self, op: Op, network: Network, driver: NetworkDriver, endpoint: Endpoint
    ) -> Endpoint:
        mappings = requested_mappings(endpoint.ports, endpoint.exposed, endpoint.publish_all)
        if not mappings:
            return endpoint
        sysctl = self._kernel.sysctl
        default_ip = (
            parse_ip(HOST_BINDING_V4, network.options[HOST_BINDING_V4])
            if HOST_BINDING_V4 in network.options
            else self._config.default_host_ip
        )
        ctx = PortContext(
            default_host_ip=default_ip,
            has_v4=endpoint.ipv4 is not None,
            has_v6=endpoint.ipv6 is not None,
            ephemeral=parse_port_range(sysctl.read(None, "net/ipv4/ip_local_port_range")),
            reserved=parse_reserved_ports(sysctl.read(None, "net/ipv4/ip_local_reserved_ports")),
        )
        probe = self._kernel.ports
        allocator = PortAllocator(
            self._reg.ports, lambda proto, ip, port: probe.in_use(None, proto, ip, port), ctx
        )
        published = allocator.allocate(mappings, self._reg.port_holder(endpoint))
        driver.program_external_connectivity(network, endpoint, published)
        op.undo.on_rollback(
            "unpublish", lambda: driver.revoke_external_connectivity(network, endpoint, published)
        )
        return replace(endpoint, published=published)

    def _reroute(self, op: Op, sandbox: Sandbox) -> None:
        """Give the sandbox's default route to the endpoint that should hold it now."""
        endpoints = self._reg.sandbox_endpoints(sandbox)
        best = sandbox_net.pick_gateway(endpoints)
        current = self._reg.endpoints.get(sandbox.gateway_endpoint or "")
        if best is not None and (current is None or current.id != best.id):
            if current is not None:
                sandbox_net.delete_default_routes(self._kernel, sandbox, current)
                op.undo.on_rollback(
                    "restore default route",
                    partial(sandbox_net.add_default_routes, self._kernel, sandbox, current),
                )
            sandbox_net.add_default_routes(self._kernel, sandbox, best)
            op.undo.on_rollback(
                "remove default route",
                partial(sandbox_net.delete_default_routes, self._kernel, sandbox, best),
            )
            sandbox = replace(sandbox, gateway_endpoint=best.id)
        elif best is None:
            sandbox = replace(sandbox, gateway_endpoint=None)
        self._reg.save_sandbox(op.txn, sandbox)
