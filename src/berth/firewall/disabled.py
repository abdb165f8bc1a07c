"""``DisabledFirewall``: the ``Firewall`` protocol doing nothing, for ``iptables: false``.

dockerd's ``--iptables=false`` means "the daemon writes no firewall rules": no NAT for published
ports, no masquerade, no isolation between networks, no ICC filtering (so no link openings
either). The administrator owns the firewall then. berth keeps its intents flowing through the
same interface and this implementation drops them, so the drivers and the controller need no
"firewall off" branches. Tables left by an earlier run with the firewall on are left alone too
(dockerd leaves its old rules the same way).
"""

from __future__ import annotations

from collections.abc import Sequence

from berth.firewall.api import EndpointIntent, LinkIntent, NetworkIntent, PortIntent


class DisabledFirewall:
    """Implements ``berth.firewall.api.Firewall``; every call succeeds and changes nothing."""

    def ensure(self) -> None:
        pass

    def add_network(self, net: NetworkIntent) -> None:
        pass

    def remove_network(self, net: NetworkIntent) -> None:
        pass

    def publish_ports(self, ports: Sequence[PortIntent]) -> None:
        pass

    def unpublish_ports(self, ports: Sequence[PortIntent]) -> None:
        pass

    def add_endpoint(self, endpoint: EndpointIntent) -> None:
        pass

    def remove_endpoint(self, endpoint: EndpointIntent) -> None:
        pass

    def open_links(self, links: Sequence[LinkIntent]) -> None:
        pass

    def close_links(self, links: Sequence[LinkIntent]) -> None:
        pass

    def reload(
        self,
        networks: Sequence[NetworkIntent],
        ports: Sequence[PortIntent],
        endpoints: Sequence[EndpointIntent] = (),
        links: Sequence[LinkIntent] = (),
    ) -> None:
        pass
