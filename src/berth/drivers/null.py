"""The `null` driver (Docker's `none` network): the sandbox keeps only its loopback."""

from __future__ import annotations

from collections.abc import Mapping

from berth.drivers.api import Capabilities, EndpointResult, JoinResult, NetworkResult
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.errors import UnknownOption
from berth.model.network import Network
from berth.model.ports import PublishedPort


class NullDriver:
    """Every call succeeds without touching the kernel: isolation is the namespace itself."""

    name = "null"
    capabilities = Capabilities(
        scope="local",
        needs_sandbox_interface=False,
        uses_ipam=False,
        gateway_on_network=False,
        supports_ports=False,
    )

    def validate_network(
        self, options: Mapping[str, str], *, internal: bool, enable_ipv6: bool, predefined: bool
    ) -> None:
        for key in options:
            raise UnknownOption(self.name, key)

    def create_network(self, network: Network) -> NetworkResult:
        return NetworkResult()

    def delete_network(self, network: Network) -> None:
        pass

    def create_endpoint(self, network: Network, endpoint: Endpoint) -> EndpointResult:
        return EndpointResult()

    def delete_endpoint(self, network: Network, endpoint: Endpoint) -> None:
        pass

    def join(
        self, network: Network, endpoint: Endpoint, sandbox: Sandbox, ifname: str
    ) -> JoinResult:
        return JoinResult(ifname=None)

    def leave(
        self, network: Network, endpoint: Endpoint, sandbox: Sandbox, *, background: bool = False
    ) -> None:
        pass

    def program_external_connectivity(
        self, network: Network, endpoint: Endpoint, ports: tuple[PublishedPort, ...]
    ) -> None:
        pass

    def revoke_external_connectivity(
        self, network: Network, endpoint: Endpoint, ports: tuple[PublishedPort, ...]
    ) -> None:
        pass


class HostDriver(NullDriver):
    """The `host` driver: the sandbox *is* the host's namespace, so there is nothing to build;
    the controller only lets host-mode sandboxes join it."""

    name = "host"
    capabilities = Capabilities(
        scope="local",
        needs_sandbox_interface=False,
        uses_ipam=False,
        gateway_on_network=False,
        supports_ports=False,
        shares_host_netns=True,
    )
