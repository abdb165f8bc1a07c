"""Bridge driver lifecycle: networks are Linux bridges, endpoints are veth pairs whose container
end is created directly inside the sandbox namespace, and the firewall is told intents.

Kernel objects berth creates carry the alias ``berth:<object id>`` so berth can tell its own
bridges and veths from anyone else's (and adopt, but never delete, a bridge it did not create).
The ``repair_*`` methods let the daemon's reconciliation put back what a network or a joined
endpoint needs in the kernel after a crash or a reboot, with the same steps creation takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from functools import partial
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv6Address,
    IPv6Interface,
    ip_interface,
)

from berth.controller import sandbox_net
from berth.controller.transaction import Teardown, Transaction
from berth.drivers.api import Capabilities, EndpointResult, JoinResult, NetworkResult
from berth.drivers.bridge.config import BridgeConfig, bridge_name_for, parse_bridge_options
from berth.drivers.bridge.intents import (
    bridge_of,
    config_of,
    host_ifname,
    network_intent,
    port_intents,
    veth_name,
)
from berth.firewall.api import EndpointIntent, Firewall, LinkIntent
from berth.kernel.api import IPInterface, Kernel
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.errors import BridgeInUse, InternalError, InvalidParameter, KernelError
from berth.model.mac import bridge_mac, mac_from_ipv4, random_mac, validate_mac
from berth.model.network import Network
from berth.model.ports import PublishedPort

ALIAS_PREFIX = "berth:"


def owner_alias(object_id: str) -> str:
    return ALIAS_PREFIX + object_id


class BridgeDriver:
    name = "bridge"
    capabilities = Capabilities(scope="local", supports_ports=True)

    def __init__(self, kernel: Kernel, firewall: Firewall, *, ip_forward: bool = True) -> None:
        """``ip_forward`` False (dockerd's --ip-forward=false) leaves the host's forwarding
        sysctls as they are: the administrator manages them."""
        self._kernel = kernel
        self._firewall = firewall
        self._ip_forward = ip_forward

    # --- networks -------------------------------------------------------------------------

    def validate_network(
        self, options: Mapping[str, str], *, internal: bool, enable_ipv6: bool, predefined: bool
    ) -> None:
        parse_bridge_options(options, predefined=predefined)

    def create_network(self, network: Network) -> NetworkResult:
        config = config_of(network)
        bridge = bridge_name_for(network.id, config)
        netlink = self._kernel.netlink
        with Transaction(f"create bridge network {network.name}") as undo:
            existing = netlink.get_link(None, bridge)
            if existing is not None:
                _check_adoptable(network, existing.kind, existing.alias, bridge)
            created = existing is None
            if created:
                netlink.add_bridge(
                    None,
                    bridge,
                    mtu=config.mtu,
                    alias=owner_alias(network.id),
                    mac=bridge_mac(network.id),
                )
                undo.on_rollback("delete bridge", lambda: netlink.delete_link(None, bridge))
            kept = self._setup_bridge(network, config, bridge, undo, adopted=not created)
            intent = network_intent(network)
            self._firewall.add_network(intent)
            undo.on_rollback("firewall", lambda: self._firewall.remove_network(intent))
            undo.commit()
        state: dict[str, object] = {"bridge": bridge, "created_bridge": created}
        if kept:
            state["kept_addresses"] = [str(address) for address in kept]
        return NetworkResult(state=state)

    def _setup_bridge(
        self,
        network: Network,
        config: BridgeConfig,
        bridge: str,
        undo: Transaction,
        *,
        adopted: bool,
    ) -> list[IPInterface]:
        """Gateway addresses, forwarding sysctls, link up. On a bridge that existed before
        (adopted, or repaired) addresses already present are left alone and returned."""
        netlink, sysctl = self._kernel.netlink, self._kernel.sysctl
        present = set(netlink.list_addresses(None, bridge)) if adopted else set()
        if any(p.version == 6 for p in network.pools):
            # the gateway must answer at once, not after duplicate address detection
            sysctl.write(None, f"net/ipv6/conf/{bridge}/accept_dad", "0")
            sysctl.write(None, f"net/ipv6/conf/{bridge}/disable_ipv6", "0")
            if self._ip_forward:
                sysctl.write(None, "net/ipv6/conf/all/forwarding", "1")
        kept = []
        for address in _gateway_addresses(network, config):
            if address in present:
                kept.append(address)
                continue
            netlink.add_address(None, bridge, address)
            undo.on_rollback(
                f"delete {address}", partial(netlink.delete_address, None, bridge, address)
            )
        if self._ip_forward:
            sysctl.write(None, "net/ipv4/ip_forward", "1")
        # localhost -> published port is DNATed to a container out of this bridge
        sysctl.write(None, f"net/ipv4/conf/{bridge}/route_localnet", "1")
        netlink.set_link(None, bridge, up=True)
        return kept

    def delete_network(self, network: Network) -> None:
        config = config_of(network)
        bridge = bridge_of(network)
        netlink = self._kernel.netlink
        teardown = Teardown(f"delete bridge network {network.name}")
        intent = network_intent(network)
        teardown.step("firewall", lambda: self._firewall.remove_network(intent))
        if network.driver_state.get("created_bridge", True):
            teardown.step(f"delete {bridge}", lambda: netlink.delete_link(None, bridge))
        else:
            kept = {str(a) for a in network.driver_state.get("kept_addresses", ())}
            for address in _gateway_addresses(network, config):
                if str(address) in kept:  # the adopted bridge had it before berth came
                    continue
                teardown.step(
                    f"delete {address}", partial(netlink.delete_address, None, bridge, address)
                )
        teardown.finish()

    # --- endpoints ------------------------------------------------------------------------

    def create_endpoint(self, network: Network, endpoint: Endpoint) -> EndpointResult:
        if endpoint.mac:
            mac = validate_mac(endpoint.mac)
        elif endpoint.ipv4 is not None:
            mac = mac_from_ipv4(endpoint.ipv4.ip)
        else:
            mac = random_mac()
        return EndpointResult(mac=mac, state={"host_ifname": host_ifname(endpoint.id)})

    def delete_endpoint(self, network: Network, endpoint: Endpoint) -> None:
        """Nothing to do: the veth exists only while the endpoint is joined."""

    def join(
        self, network: Network, endpoint: Endpoint, sandbox: Sandbox, ifname: str
    ) -> JoinResult:
        config = config_of(network)
        bridge = str(network.driver_state["bridge"])
        host_end = veth_name(endpoint)
        # On an ICC-off network the port is filtered before it joins the bridge (the firewall
        # matches it by name), so it never talks to the other ports unfiltered.
        isolation = None if config.icc else EndpointIntent(host_end, bridge)
        if isolation is not None:
            self._firewall.add_endpoint(isolation)
        try:
            # One call, all or nothing: the host end is created up and a port of the bridge,
            # with hairpin (with br_netfilter loaded, a container's own published port is
            # DNATed at the bridge and sent back out of the port it came in on).
            self._kernel.netlink.add_veth(
                None,
                host_end,
                peer_ns=sandbox.netns_path,
                peer_name=ifname,
                mtu=config.mtu,
                peer_mac=endpoint.mac,
                alias=owner_alias(endpoint.id),
                master=bridge,
                up=True,
                hairpin=True,
            )
            self._port_without_ipv6(host_end)
        except BaseException:
            if isolation is not None:
                self._firewall.remove_endpoint(isolation)
            raise
        pool4, pool6 = network.pool(4), network.pool(6)
        routed = not network.internal
        return JoinResult(
            ifname=ifname,
            gateway4=_v4(pool4.gateway) if routed and pool4 and not config.inhibit_ipv4 else None,
            gateway6=_v6(pool6.gateway) if routed and pool6 else None,
            state={"host_ifname": host_end},
        )

    def _port_without_ipv6(self, host_end: str) -> None:
        """A bridge port needs no IPv6 of its own (the bridge holds the network's addresses
        and bridges IPv6 frames regardless). Left on, the port makes a link-local address,
        runs DAD and sends router solicitations once the sandbox end comes up: kernel work
        for every port, which adds up with hundreds of endpoints. The sandbox end is not up
        yet, so none of that has started. On failure the new pair goes (all or nothing)."""
        try:
            sandbox_net.ipv6_off(self._kernel, None, host_end)
        except BaseException:
            with suppress(KernelError):
                self._kernel.netlink.delete_link(None, host_end)
            raise

    def leave(
        self, network: Network, endpoint: Endpoint, sandbox: Sandbox, *, background: bool = False
    ) -> None:
        host_end = veth_name(endpoint)
        netlink = self._kernel.netlink
        # Flows DNATed to this endpoint were flushed when its ports were revoked; other flows
        # involve no translation to it, so a reused address inherits nothing.
        if not background or endpoint.ifname is None:
            netlink.delete_link(None, host_end)
        else:
            # The pair is out of the sandbox and the bridge at once and deleted later; the new
            # alias is no endpoint's id, so berthd's orphan sweep removes the pair if a crash
            # comes first.
            netlink.detach_veth(
                None,
                host_end,
                peer_ns=sandbox.netns_path,
                peer_name=endpoint.ifname,
                alias=owner_alias(f"detached-{endpoint.id}"),
            )
        # Only once the port is off the bridge: until then it stays filtered.
        if not config_of(network).icc:
            self._firewall.remove_endpoint(EndpointIntent(host_end, bridge_of(network)))

    # --- repair (daemon start-up reconciliation) -------------------------------------------

    def repair_network(self, network: Network) -> list[str]:
        """Make the network's bridge exist, up, with its gateway addresses; returns what was
        repaired. A bridge berth adopted (did not create) is never re-created."""
        config = config_of(network)
        bridge = bridge_of(network)
        link = self._kernel.netlink.get_link(None, bridge)
        repairs: list[str] = []
        if link is None:
            if not network.driver_state.get("created_bridge", True):
                raise InternalError(
                    f"bridge {bridge} of network {network.name} is gone; berth did not create "
                    "it and does not re-create it"
                )
            self._kernel.netlink.add_bridge(
                None,
                bridge,
                mtu=config.mtu,
                alias=owner_alias(network.id),
                mac=bridge_mac(network.id),
            )
            repairs.append(f"re-created bridge {bridge}")
        elif link.alias != owner_alias(network.id) and network.driver_state.get(
            "created_bridge", True
        ):
            raise InternalError(f"bridge {bridge} of network {network.name} is not berth's")
        present = set(self._kernel.netlink.list_addresses(None, bridge))
        missing = [a for a in _gateway_addresses(network, config) if a not in present]
        if link is None or missing or not link.up:
            with Transaction(f"repair bridge {bridge}") as undo:
                self._setup_bridge(network, config, bridge, undo, adopted=True)
                undo.commit()
            repairs += [f"added {address} to {bridge}" for address in missing]
            if link is not None and not link.up:
                repairs.append(f"set {bridge} up")
        return repairs

    def repair_endpoint(self, network: Network, endpoint: Endpoint) -> list[str] | None:
        """Re-attach a joined endpoint's host-side veth to its bridge (a re-created bridge has
        no ports); returns what was repaired, or None when the veth is gone (the caller then
        joins the endpoint again)."""
        host_end = veth_name(endpoint)
        bridge = bridge_of(network)
        netlink = self._kernel.netlink
        link = netlink.get_link(None, host_end)
        if link is None:
            return None
        if link.master == bridge and link.up:
            return []
        netlink.set_link(None, host_end, master=bridge, up=True)
        # not isolated: ICC is the firewall's (endpoint intents), so that links can pass
        netlink.set_bridge_port(None, host_end, hairpin=True, isolated=False)
        return [f"re-attached {host_end} to {bridge}"]

    # --- published ports -----------------------------------------------------------------

    def program_external_connectivity(
        self, network: Network, endpoint: Endpoint, ports: tuple[PublishedPort, ...]
    ) -> None:
        if ports:
            self._firewall.publish_ports(port_intents(network, endpoint, ports))

    def revoke_external_connectivity(
        self, network: Network, endpoint: Endpoint, ports: tuple[PublishedPort, ...]
    ) -> None:
        if not ports:
            return
        intents = port_intents(network, endpoint, ports)
        teardown = Teardown(f"unpublish ports of {endpoint.name}")
        teardown.step("firewall", lambda: self._firewall.unpublish_ports(intents))
        # One flush per address: every binding of this endpoint goes away at once, so every
        # flow DNATed to its address must go (otherwise UDP flows keep going to a dead endpoint).
        for address in sorted({p.container_ip for p in intents}, key=lambda a: a.version):
            teardown.step(
                f"flush conntrack to {address}",
                partial(self._kernel.conntrack.flush, None, reply_src=address),
            )
        teardown.finish()

    # --- legacy links (bridge networks only, like Docker's) ------------------------------

    def open_links(self, network: Network, links: Sequence[LinkIntent]) -> None:
        """Let ``links`` through on ``network``: nothing to do when its ICC is on."""
        if links and not config_of(network).icc:
            self._firewall.open_links(links)

    def close_links(self, network: Network, links: Sequence[LinkIntent]) -> None:
        if links and not config_of(network).icc:
            self._firewall.close_links(links)


def _check_adoptable(network: Network, kind: str, alias: str | None, bridge: str) -> None:
    """An existing bridge may be adopted (like dockerd's -b), unless it is not a bridge or
    another berth network owns it."""
    if kind != "bridge":
        raise InvalidParameter(f"{bridge} already exists on the host and is not a bridge")
    if alias and alias.startswith(ALIAS_PREFIX) and alias != owner_alias(network.id):
        raise BridgeInUse(bridge, alias.removeprefix(ALIAS_PREFIX)[:12])


def _v4(address: object) -> IPv4Address | None:
    return address if isinstance(address, IPv4Address) else None


def _v6(address: object) -> IPv6Address | None:
    return address if isinstance(address, IPv6Address) else None


def _gateway_addresses(
    network: Network, config: BridgeConfig
) -> list[IPv4Interface | IPv6Interface]:
    addresses: list[IPv4Interface | IPv6Interface] = []
    for pool in network.pools:
        if pool.gateway is None or (pool.version == 4 and config.inhibit_ipv4):
            continue
        addresses.append(ip_interface(f"{pool.gateway}/{pool.subnet.prefixlen}"))
    return addresses
