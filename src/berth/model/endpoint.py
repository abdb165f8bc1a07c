"""Endpoints (one sandbox on one network) and sandboxes (one network namespace)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

from berth.model.ports import PortMapping, Proto, PublishedPort


@dataclass(frozen=True)
class EndpointSpec:
    """What a caller asks for when connecting a sandbox to a network. ``links``: (container
    name, alias) pairs, names that only this endpoint's sandbox resolves, on this network, to
    that container (Docker's EndpointSettings.Links on a user-defined network)."""

    name: str = ""
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    mac: str | None = None
    aliases: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    ports: tuple[PortMapping, ...] = ()
    exposed: tuple[tuple[int, Proto], ...] = ()
    publish_all: bool = False
    ifname: str | None = None
    gw_priority: int = 0
    driver_options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """The controller's one live record of an endpoint.

    ``sandbox_id`` is set while joined; ``published`` holds the concrete host bindings.
    """

    id: str
    name: str
    network_id: str
    mac: str | None = None
    ipv4: IPv4Interface | None = None
    ipv6: IPv6Interface | None = None
    aliases: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # EndpointSpec.links
    ports: tuple[PortMapping, ...] = ()
    exposed: tuple[tuple[int, Proto], ...] = ()
    publish_all: bool = False
    gw_priority: int = 0
    sandbox_id: str | None = None
    ifname: str | None = None
    gateway4: IPv4Address | None = None
    gateway6: IPv6Address | None = None
    published: tuple[PublishedPort, ...] = ()
    driver_state: Mapping[str, Any] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class SandboxSpec:
    """``gateway_names``: names the embedded DNS answers, for this sandbox only, with the
    gateway of its network (``--add-host NAME:host-gateway``, e.g. host.docker.internal)."""

    name: str = ""
    hostname: str = ""
    host_mode: bool = False  # share the host's namespace (the `host` network)
    id: str | None = None
    gateway_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sandbox:
    """A network namespace with its endpoints in join order.

    ``gateway_endpoint`` is the endpoint whose network provides the default route.
    """

    id: str
    name: str
    netns_path: str
    hostname: str
    host_mode: bool = False
    endpoints: tuple[str, ...] = ()
    gateway_endpoint: str | None = None
    gateway_names: tuple[str, ...] = ()  # SandboxSpec.gateway_names

    @property
    def short_id(self) -> str:
        return self.id[:12]
