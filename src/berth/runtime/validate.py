"""Checking a container's config at create time, with Docker's messages, and normalising it.

After ``normalize``, ``config.networks`` lists every network the container joins, keyed by
network *name*, primary network first (its endpoint gets the published ports); ``network_mode``
stays as the user gave it. For host, none and container:<ref> modes the rules of Docker apply
(no other networks, no ports, and for container mode no hostname, DNS or extra hosts).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from enum import Enum

from berth.model.errors import Forbidden, InvalidParameter
from berth.model.ids import validate_name
from berth.model.network import Network
from berth.runtime.api import Container, ContainerConfig, EndpointSettings
from berth.runtime.etcfiles import parse_extra_host, validate_dns
from berth.runtime.links import check_links
from berth.runtime.policy import validate_policy
from berth.runtime.syntax import parse_link, validate_dns_options, validate_dns_search

CONTAINER_PREFIX = "container:"
DEFAULT_BRIDGE = "bridge"
SHARED_NETNS = (
    "container sharing network namespace with another container or host cannot be "
    "connected to any other network"
)
_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")


class Mode(Enum):
    NETWORKS = "networks"  # bridge or a user-defined network (plus more networks)
    HOST = "host"
    NONE = "none"
    CONTAINER = "container"


def mode_of(config: ContainerConfig, network: Callable[[str], Network]) -> Mode:
    mode = config.network_mode or DEFAULT_BRIDGE
    if mode.startswith(CONTAINER_PREFIX):
        return Mode.CONTAINER
    driver = network(mode).driver
    return {"host": Mode.HOST, "null": Mode.NONE}.get(driver, Mode.NETWORKS)


def shared_container_ref(config: ContainerConfig) -> str:
    return config.network_mode.removeprefix(CONTAINER_PREFIX)


def _conflict(what: str) -> InvalidParameter:
    return InvalidParameter(f"conflicting options: {what}")


def _check_basics(config: ContainerConfig) -> None:
    if not config.cmd and not config.entrypoint:
        raise InvalidParameter("No command specified")
    validate_policy(config.restart_policy, config.auto_remove)
    if config.working_dir and not config.working_dir.startswith("/"):
        raise InvalidParameter(
            f"the working directory '{config.working_dir}' is invalid, "
            "it needs to be an absolute path"
        )
    if config.rootfs is not None and (
        not os.path.isabs(config.rootfs) or not os.path.isdir(config.rootfs)
    ):
        raise InvalidParameter(f"root directory {config.rootfs!r} is not an absolute directory")
    for name in (config.hostname, config.domainname):
        if name and (len(name) > 63 or not _HOSTNAME.match(name)):
            raise InvalidParameter(f"invalid hostname format: {name}")
    for entry in config.env:
        if not entry or entry.startswith("="):
            raise InvalidParameter(f"invalid environment variable: {entry!r}")
    for host in config.extra_hosts:
        parse_extra_host(host)
    validate_dns(config.dns)
    validate_dns_search(config.dns_search)
    validate_dns_options(config.dns_options)


def _check_container_mode(config: ContainerConfig, container: Callable[[str], Container]) -> None:
    ref = shared_container_ref(config)
    if not ref:
        raise InvalidParameter("invalid container format container:<name|id>")
    container(ref)  # ContainerNotFound if it does not exist
    if config.hostname:
        raise _conflict("hostname and the network mode")
    if config.dns or config.dns_search or config.dns_options:
        raise _conflict("dns and the network mode")
    if config.extra_hosts:
        raise _conflict("custom host-to-IP mapping and the network mode")
    if config.port_bindings or config.publish_all:
        raise _conflict("port publishing and the container type network mode")
    if config.exposed_ports:
        raise _conflict("port exposing and the container type network mode")
    if config.links:
        raise _conflict(
            "container type network can't be used with links. "
            "This would result in undefined behavior"
        )
    if config.networks:
        raise InvalidParameter(SHARED_NETNS)


PREDEFINED = ("bridge", "host", "none")
_ALIASES_USER_DEFINED = "network-scoped aliases are only supported for user-defined networks"
_IP_USER_DEFINED = "user-specified IP address is supported on user-defined networks only"
_IP_USER_SUBNET = (
    "user specified IP address is supported only when connecting to networks with user "
    "configured subnets"
)


def _check_settings(network: Network, settings: EndpointSettings) -> None:
    """Docker's validateEndpointSettings: aliases and static addresses on user-defined
    networks only, each address inside a subnet the user configured; plus the form of the
    aliases and links (names in /etc/hosts and the embedded DNS)."""
    for alias in settings.aliases:
        validate_name("alias", alias)
    for link in settings.links:
        parse_link(link)
    if network.name in PREDEFINED:
        if settings.aliases:
            raise InvalidParameter(_ALIASES_USER_DEFINED)
        if settings.ipv4 or settings.ipv6:
            raise InvalidParameter(_IP_USER_DEFINED)
    for address in (settings.ipv4, settings.ipv6):
        if address is None:
            continue
        configured = [c.subnet for c in network.ipam.config if c.subnet is not None]
        if not any(s.version == address.version for s in configured):
            raise InvalidParameter(f"{_IP_USER_SUBNET} (network {network.name}, {address})")
        if not any(address in s for s in configured if s.version == address.version):
            raise InvalidParameter(f"no configured subnet contains IP address {address}")


def _networks(
    config: ContainerConfig, mode: Mode, network: Callable[[str], Network]
) -> dict[str, EndpointSettings]:
    """The networks to join, by name, primary first."""
    primary = network(config.network_mode or DEFAULT_BRIDGE)
    given = {network(ref).name: settings for ref, settings in config.networks.items()}
    result = {primary.name: given.pop(primary.name, EndpointSettings())}
    if given and mode is not Mode.NETWORKS:
        raise InvalidParameter(SHARED_NETNS if mode is Mode.HOST else _NONE_AND_OTHERS)
    for name, settings in given.items():
        if network(name).driver in ("host", "null"):
            host = network(name).driver == "host"
            raise InvalidParameter(_HOST_NETWORK if host else _NONE_AND_OTHERS)
        result[name] = settings
    for name, settings in result.items():
        _check_settings(network(name), settings)
        if settings.mac and mode is Mode.HOST:
            raise _conflict("mac-address and the network mode")
    return result


_HOST_NETWORK = "container cannot be disconnected from host network or connected to host network"
_NONE_AND_OTHERS = (
    "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
)


def check_connect(
    container: Container, network: Network, mode: Mode, settings: EndpointSettings
) -> None:
    """Before `network connect`: Docker's refusals."""
    if mode in (Mode.HOST, Mode.CONTAINER):
        raise InvalidParameter(SHARED_NETNS)
    if network.driver == "host":
        raise InvalidParameter(_HOST_NETWORK)
    if mode is Mode.NONE or network.driver == "null":
        raise InvalidParameter(_NONE_AND_OTHERS)
    if network.name in container.config.networks:
        raise Forbidden(
            f"endpoint with name {container.name} already exists in network {network.name}"
        )
    _check_settings(network, settings)


def check_disconnect(container: Container, network: Network, mode: Mode) -> None:
    """Before `network disconnect`: Docker's refusals."""
    if mode is Mode.HOST or network.driver == "host":
        raise InvalidParameter(_HOST_NETWORK)
    if mode is Mode.CONTAINER:
        raise InvalidParameter(SHARED_NETNS)
    if network.name not in container.config.networks:
        raise Forbidden(f"container {container.id} is not connected to network {network.name}")


def normalize(
    config: ContainerConfig,
    *,
    network: Callable[[str], Network],
    container: Callable[[str], Container],
) -> ContainerConfig:
    """Raise InvalidParameter/NotFound with Docker's wording, or return the normalised config.
    ``network`` and ``container`` resolve references (and raise NotFound)."""
    _check_basics(config)
    check_links(config, container)
    mode = mode_of(config, network)
    if mode is Mode.CONTAINER:
        _check_container_mode(config, container)
        return config
    if mode is Mode.HOST and config.links:
        raise _conflict(
            "host type networking can't be used with links. This would result in undefined behavior"
        )
    return replace(config, networks=_networks(config, mode, network))
