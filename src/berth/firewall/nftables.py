"""``NftFirewall``: the ``Firewall`` protocol over berth's own nftables table.

A thin applier: each method renders one script (``berth.firewall.nft_render``) and hands it to the
``Nftables`` adapter, which runs it as one atomic transaction. The first change after start also
carries the ``ensure`` part in the same script, so a fresh host gets its table and the first
network in one transaction. Nothing else is kept here: the kernel holds the state, and ``reload``
rebuilds it from the caller's intents.
"""

from __future__ import annotations

from collections.abc import Sequence

from berth.firewall import nft_render
from berth.firewall.api import EndpointIntent, LinkIntent, NetworkIntent, PortIntent
from berth.firewall.validate import check_table
from berth.kernel.api import Nftables


class NftFirewall:
    """Implements ``berth.firewall.api.Firewall`` in the ``inet <table>`` and
    ``bridge <table>`` tables."""

    def __init__(self, nft: Nftables, table: str = nft_render.DEFAULT_TABLE) -> None:
        self._nft = nft
        self.table = check_table(table)
        self._ensured = False

    def ensure(self) -> None:
        self._nft.run(nft_render.render_ensure(self.table))
        self._ensured = True

    def add_network(self, net: NetworkIntent) -> None:
        self._change(nft_render.render_add_network(net, self.table))

    def remove_network(self, net: NetworkIntent) -> None:
        self._change(nft_render.render_remove_network(net, self.table))

    def publish_ports(self, ports: Sequence[PortIntent]) -> None:
        if ports:
            self._change(nft_render.render_publish(ports, self.table))

    def unpublish_ports(self, ports: Sequence[PortIntent]) -> None:
        if ports:
            self._change(nft_render.render_unpublish(ports, self.table))

    def add_endpoint(self, endpoint: EndpointIntent) -> None:
        self._change(nft_render.render_add_endpoint(endpoint, self.table))

    def remove_endpoint(self, endpoint: EndpointIntent) -> None:
        self._change(nft_render.render_remove_endpoint(endpoint, self.table))

    def open_links(self, links: Sequence[LinkIntent]) -> None:
        if links:
            self._change(nft_render.render_open_links(links, self.table))

    def close_links(self, links: Sequence[LinkIntent]) -> None:
        if links:
            self._change(nft_render.render_close_links(links, self.table))

    def reload(
        self,
        networks: Sequence[NetworkIntent],
        ports: Sequence[PortIntent],
        endpoints: Sequence[EndpointIntent] = (),
        links: Sequence[LinkIntent] = (),
    ) -> None:
        script = nft_render.render_reload(
            networks, ports, self.table, endpoints=endpoints, links=links
        )
        self._nft.run(script)
        self._ensured = True

    def _change(self, script: str) -> None:
        # Rendering (and so validation) happened before this point: nothing runs on bad input.
        if not self._ensured:
            script = nft_render.render_ensure(self.table) + script
        self._nft.run(script)
        self._ensured = True
