"""``RecordingFirewall``: the ``Firewall`` protocol in memory, for driver and controller tests.

It keeps what the kernel would hold (networks by bridge, bindings by host address/port/protocol,
the ports of ICC-off networks, the open links) and refuses what ``NftFirewall`` refuses: invalid
intents with the same ``InvalidParameter`` errors (shared validation), and with ``KernelError``
what nft itself would reject, namely a binding whose host side is already bound to another
target, and subnets overlapping another network's. A failing call changes nothing, like one nft
transaction. ``fail_next`` injects a ``KernelError`` (or any error) into the next call of one
method, to test rollback paths.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Literal, get_args

from berth.firewall.api import EndpointIntent, LinkIntent, NetworkIntent, PortIntent
from berth.firewall.validate import (
    PortKey,
    check_endpoint,
    check_links,
    check_networks,
    check_ports,
    port_key,
)
from berth.model.errors import InvalidSubnet, KernelError

Method = Literal[
    "ensure",
    "add_network",
    "remove_network",
    "publish_ports",
    "unpublish_ports",
    "add_endpoint",
    "remove_endpoint",
    "open_links",
    "close_links",
    "reload",
]
METHODS: tuple[Method, ...] = get_args(Method)


class RecordingFirewall:
    """Implements ``berth.firewall.api.Firewall`` with plain Python state.

    ``calls`` lists every call that passed validation, in order, as (method, argument), including
    calls that then failed by injection or conflict.
    """

    def __init__(self) -> None:
        self.networks: dict[str, NetworkIntent] = {}
        self.bindings: dict[PortKey, PortIntent] = {}
        self.endpoints: dict[str, EndpointIntent] = {}  # by port
        self.links: set[LinkIntent] = set()
        self.calls: list[tuple[Method, object]] = []
        self.ensured = 0
        self._failures: dict[Method, BaseException] = {}

    @property
    def ports(self) -> frozenset[PortIntent]:
        return frozenset(self.bindings.values())

    def fail_next(self, method: Method, error: BaseException | None = None) -> None:
        """Make the next call of ``method`` raise ``error`` (default: a KernelError) after
        validation and before any change."""
        if method not in METHODS:
            raise ValueError(f"RecordingFirewall has no method {method!r}")
        self._failures[method] = error or KernelError(f"injected failure in {method}")

    def ensure(self) -> None:
        self._begin("ensure", None)
        self.ensured += 1

    def add_network(self, net: NetworkIntent) -> None:
        check_networks([net])
        self._begin("add_network", net)
        others = [n for n in self.networks.values() if n.bridge != net.bridge]
        try:
            check_networks([*others, net])
        except InvalidSubnet as err:
            raise KernelError("nft: interval overlaps with an existing one", err) from err
        self.networks[net.bridge] = net

    def remove_network(self, net: NetworkIntent) -> None:
        check_networks([net])
        self._begin("remove_network", net)
        self.networks.pop(net.bridge, None)

    def publish_ports(self, ports: Sequence[PortIntent]) -> None:
        wanted = check_ports(ports)
        self._begin("publish_ports", tuple(ports))
        self._check_free(wanted)
        self.bindings.update((port_key(p), p) for p in wanted)

    def unpublish_ports(self, ports: Sequence[PortIntent]) -> None:
        gone = check_ports(ports)
        self._begin("unpublish_ports", tuple(ports))
        self._check_free(gone)
        for port in gone:
            self.bindings.pop(port_key(port), None)

    def add_endpoint(self, endpoint: EndpointIntent) -> None:
        check_endpoint(endpoint)
        self._begin("add_endpoint", endpoint)
        self.endpoints[endpoint.port] = endpoint

    def remove_endpoint(self, endpoint: EndpointIntent) -> None:
        check_endpoint(endpoint)
        self._begin("remove_endpoint", endpoint)
        self.endpoints.pop(endpoint.port, None)

    def open_links(self, links: Sequence[LinkIntent]) -> None:
        wanted = check_links(links)
        self._begin("open_links", tuple(links))
        self.links.update(wanted)

    def close_links(self, links: Sequence[LinkIntent]) -> None:
        gone = check_links(links)
        self._begin("close_links", tuple(links))
        self.links.difference_update(gone)

    def reload(
        self,
        networks: Sequence[NetworkIntent],
        ports: Sequence[PortIntent],
        endpoints: Sequence[EndpointIntent] = (),
        links: Sequence[LinkIntent] = (),
    ) -> None:
        check_networks(networks)
        wanted = check_ports(ports)
        for endpoint in endpoints:
            check_endpoint(endpoint)
        opened = check_links(links)
        self._begin("reload", (tuple(networks), tuple(ports), tuple(endpoints), tuple(links)))
        self.networks = {n.bridge: n for n in networks}
        self.bindings = {port_key(p): p for p in wanted}
        self.endpoints = {e.port: e for e in endpoints}
        self.links = set(opened)
        self.ensured += 1

    def _begin(self, method: Method, argument: object) -> None:
        self.calls.append((method, argument))
        failure = self._failures.pop(method, None)
        if failure is not None:
            raise failure

    def _check_free(self, ports: Sequence[PortIntent]) -> None:
        """nft refuses to add a map element whose key exists with other data (both publish and
        the add-then-delete of unpublish do so)."""
        for port in ports:
            held = self.bindings.get(port_key(port))
            if held is not None and held != port:
                raise KernelError(
                    f"{port.host_ip}:{port.host_port}/{port.proto} is bound to "
                    f"{held.container_ip}:{held.container_port}",
                    OSError(errno.EEXIST, "File exists"),
                )
