"""The one driver interface every network driver implements, and the results drivers return.

The controller calls, in order: ``validate_network`` (pure, before anything changes) ->
``create_network`` -> ``create_endpoint`` -> ``join`` -> ``program_external_connectivity``; and
the reverse ``revoke_external_connectivity`` -> ``leave`` -> ``delete_endpoint`` ->
``delete_network``. Each call is atomic: it either succeeds or undoes its own partial work and
raises. Deletes keep going past failures, treat "already gone" as done, and raise TeardownErrors
listing every failure at the end. Drivers return results; they never call back into the
controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any, Literal, Protocol

from berth.model.endpoint import Endpoint, Sandbox
from berth.model.network import Network
from berth.model.ports import PublishedPort

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True)
class Capabilities:
    """What the controller must know before it asks the driver for anything."""

    scope: Literal["local", "global"] = "local"
    needs_sandbox_interface: bool = True  # False for host/null: join creates no interface
    uses_ipam: bool = True  # False for host/null: no pools, no addresses
    gateway_on_network: bool = True  # IPAM reserves a gateway address for the network
    supports_ports: bool = False
    shares_host_netns: bool = False  # endpoints live in the host's own namespace


@dataclass(frozen=True)
class NetworkResult:
    """Driver-private state of a network the controller must persist (e.g. the bridge name)."""

    state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointResult:
    """Interface facts the driver decided at endpoint creation (the MAC) and private state."""

    mac: str | None = None
    state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StaticRoute:
    dst: IPNetwork
    gateway: IPAddress | None = None


@dataclass(frozen=True)
class JoinResult:
    """The interface the driver put into the sandbox, and how the sandbox should route.

    The controller configures addresses, brings the interface up and installs the default
    route (if this endpoint provides the sandbox's gateway) and ``routes``.
    """

    ifname: str | None
    gateway4: IPv4Address | None = None
    gateway6: IPv6Address | None = None
    routes: tuple[StaticRoute, ...] = ()
    state: Mapping[str, Any] = field(default_factory=dict)


class NetworkDriver(Protocol):
    name: str
    capabilities: Capabilities

    def validate_network(
        self, options: Mapping[str, str], *, internal: bool, enable_ipv6: bool, predefined: bool
    ) -> None:
        """Check driver options before any change; raise InvalidParameter subclasses."""

    def create_network(self, network: Network) -> NetworkResult:
        """Build the network in the kernel. Undone by ``delete_network``."""

    def delete_network(self, network: Network) -> None: ...

    def create_endpoint(self, network: Network, endpoint: Endpoint) -> EndpointResult:
        """Decide interface facts for an endpoint (addresses already assigned).
        Undone by ``delete_endpoint``."""

    def delete_endpoint(self, network: Network, endpoint: Endpoint) -> None: ...

    def join(
        self, network: Network, endpoint: Endpoint, sandbox: Sandbox, ifname: str
    ) -> JoinResult:
        """Create the endpoint's interface inside the sandbox, named ``ifname``.
        Undone by ``leave``."""

    def leave(
        self, network: Network, endpoint: Endpoint, sandbox: Sandbox, *, background: bool = False
    ) -> None:
        """Remove the endpoint's interface. With ``background`` (a detach) the interface must be
        out of the sandbox and the network on return, but the kernel may finish releasing it
        later; without (undoing ``join``, deleting a sandbox) nothing is left on return."""

    def program_external_connectivity(
        self, network: Network, endpoint: Endpoint, ports: tuple[PublishedPort, ...]
    ) -> None:
        """Make ``ports`` reach the endpoint (already allocated by the controller).
        Undone by ``revoke_external_connectivity``."""

    def revoke_external_connectivity(
        self, network: Network, endpoint: Endpoint, ports: tuple[PublishedPort, ...]
    ) -> None:
        """Remove the bindings and flush their conntrack entries."""
