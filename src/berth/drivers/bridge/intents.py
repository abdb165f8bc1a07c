"""What the bridge driver tells the firewall, derived from stored networks and endpoints.

The driver uses these when it changes something; berthd's start-up reconciliation uses them to
rebuild the whole firewall (``Firewall.reload``) from the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network

from berth.drivers.bridge.config import BridgeConfig, bridge_name_for, parse_bridge_options
from berth.firewall.api import EndpointIntent, LinkIntent, NetworkIntent, PortIntent
from berth.model.endpoint import Endpoint
from berth.model.errors import InvalidParameter
from berth.model.network import Network
from berth.model.ports import Proto, PublishedPort


def host_ifname(endpoint_id: str) -> str:
    """Host end of an endpoint's veth: 'vb' + 12 hex of the endpoint id (14 chars < IFNAMSIZ)."""
    return "vb" + endpoint_id[:12]


def config_of(network: Network) -> BridgeConfig:
    return parse_bridge_options(network.options, predefined=True)


def bridge_of(network: Network) -> str:
    """The bridge device of a bridge network (recorded at creation)."""
    recorded = network.driver_state.get("bridge")
    return str(recorded or bridge_name_for(network.id, config_of(network)))


def veth_name(endpoint: Endpoint) -> str:
    """The host end of a joined endpoint's veth pair."""
    return str(endpoint.driver_state.get("host_ifname") or host_ifname(endpoint.id))


def network_intent(network: Network) -> NetworkIntent:
    """What the firewall holds for a stored network (``Firewall.reload`` rebuilds from these)."""
    return _intent(network, config_of(network), bridge_of(network))


def endpoint_intent(network: Network, endpoint: Endpoint) -> EndpointIntent | None:
    """What the firewall holds for a joined endpoint: its port, if its network has ICC off."""
    if endpoint.sandbox_id is None or config_of(network).icc:
        return None
    return EndpointIntent(veth_name(endpoint), bridge_of(network))


def link_intents(
    network: Network, parent: Endpoint, child: Endpoint, ports: Iterable[tuple[int, Proto]]
) -> list[LinkIntent]:
    """What a legacy link from ``parent`` to ``child`` (both on ``network``) opens: the child's
    exposed ``ports`` to the parent, on an ICC-off network (else nothing needs opening), IPv4
    only (Docker's link rules)."""
    if config_of(network).icc or parent.ipv4 is None or child.ipv4 is None:
        return []
    bridge = bridge_of(network)
    return [
        LinkIntent(proto, parent.ipv4.ip, child.ipv4.ip, port, bridge)
        for port, proto in sorted(set(ports))
    ]


def _intent(network: Network, config: BridgeConfig, bridge: str) -> NetworkIntent:
    return NetworkIntent(
        bridge=bridge,
        subnets4=tuple(p.subnet for p in network.pools if isinstance(p.subnet, IPv4Network)),
        subnets6=tuple(p.subnet for p in network.pools if isinstance(p.subnet, IPv6Network)),
        icc=config.icc,
        masquerade=config.masquerade and not network.internal,
        internal=network.internal,
        snat4=config.snat4,
        snat6=config.snat6,
    )


def port_intents(
    network: Network, endpoint: Endpoint, ports: tuple[PublishedPort, ...]
) -> list[PortIntent]:
    bridge = str(network.driver_state.get("bridge", ""))
    intents = []
    for port in ports:
        address = endpoint.ipv4 if port.host_ip.version == 4 else endpoint.ipv6
        if address is None:
            raise InvalidParameter(
                f"cannot publish {port}: endpoint {endpoint.name} has no "
                f"IPv{port.host_ip.version} address on network {network.name}"
            )
        intents.append(
            PortIntent(
                port.proto, port.host_ip, port.host_port, address.ip, port.container_port, bridge
            )
        )
    return intents
