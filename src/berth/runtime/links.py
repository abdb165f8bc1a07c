"""Legacy links (``--link name:alias``, HostConfig.Links) between containers on the default
bridge, as Docker's daemon keeps them (``daemon/links``, ``addLegacyLinks``).

A container whose network mode is the default bridge (the parent) links to other containers
(its children) by name. At each start of the parent, a link gives it, for a child that runs on
the default bridge: /etc/hosts lines ``<child ip> <alias> <child hostname> [<child name>]``,
Docker's environment variables (``<ALIAS>_PORT...``, ``<ALIAS>_NAME``, ``<ALIAS>_ENV_...``) and,
when the default bridge has ICC off, firewall openings from the parent to the child's exposed
ports. When a child starts again (a new address) its running parents' /etc/hosts are rewritten
and the openings restored; when either side stops or leaves the default bridge they are closed.

Docker registers HostConfig.Links only for a container on the default bridge. On a user-defined
network the CLI sends ``--link`` as EndpointSettings.Links too, where it only makes an alias for
the embedded DNS (EndpointSpec.links, answered by ``berth.dns.names`` to the linking container
alone; no hosts line, no variable, no firewall change; a missing target is fine).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from berth.controller.controller import NetworkController
from berth.drivers.bridge.driver import BridgeDriver
from berth.drivers.bridge.intents import link_intents
from berth.firewall.api import LinkIntent
from berth.model.endpoint import Endpoint
from berth.model.errors import BerthError, Conflict, InvalidParameter, NotFound
from berth.model.network import Network
from berth.model.ports import Proto
from berth.runtime.api import Container, ContainerConfig
from berth.runtime.etcfiles import HostEntry
from berth.runtime.records import ContainerRecords
from berth.runtime.syntax import parse_link
from berth.store.sqlite import SqliteStore

DEFAULT_BRIDGE = "bridge"
LEGACY_MODES = ("", "bridge", "default")
_CONTAINER_MODE = "container:"
Lookup = Callable[[str], Container]
Joining = tuple[str, str]  # (container id, sandbox id) of a container that is starting


def is_legacy(config: ContainerConfig) -> bool:
    """Docker registers a container's HostConfig.Links only on the default bridge."""
    return config.network_mode in LEGACY_MODES


def resolve(ref: str, lookup: Lookup) -> Container:
    """The container ``ref`` names, or the one whose network namespace it shares (Docker links
    to the owner of the namespace). Raises NotFound."""
    container = lookup(ref)
    for _ in range(16):  # container:<ref> chains end at a container with its own namespace
        if not container.config.network_mode.startswith(_CONTAINER_MODE):
            return container
        container = lookup(container.config.network_mode.removeprefix(_CONTAINER_MODE))
    raise InvalidParameter(f"container {ref}: too many nested container network modes")


def check_links(config: ContainerConfig, lookup: Lookup) -> None:
    """At create, with Docker's errors: the format, and for a container on the default bridge
    that every target exists and does not use the host's network."""
    targets = [parse_link(text)[0] for text in config.links]
    if not is_legacy(config):
        return
    for name in targets:
        try:
            child = resolve(name, lookup)
        except NotFound as err:
            raise InvalidParameter(f"could not get container for {name}: {err}") from None
        if child.config.network_mode == "host":
            raise InvalidParameter(
                "conflicting options: host type networking can't be used with links. "
                "This would result in undefined behavior"
            )


@dataclass(frozen=True)
class Link:
    parent: Container
    child: Container
    alias: str

    @property
    def name(self) -> str:
        """Docker's name for the link, ``/<parent>/<alias>`` (shown as <ALIAS>_NAME)."""
        return f"/{self.parent.name}/{self.alias}"


def link_env(link: Link, child_ip: str, ports: Iterable[tuple[int, Proto]]) -> list[str]:
    """Docker's Link.ToEnv: the child's exposed ports (TCP first, then by number; consecutive
    ports of one protocol also as a range), its name, and its own variables but HOME and
    PATH."""
    alias = link.alias.upper().replace("-", "_")
    ordered = sorted(set(ports), key=lambda p: (p[1] != "tcp", p[1], p[0]))
    env: list[str] = []
    start = end = ordered[0] if ordered else (0, "tcp")
    for i, (num, proto) in enumerate(ordered):
        if i == 0:
            env.append(f"{alias}_PORT={proto}://{child_ip}:{num}")
        prefix = f"{alias}_PORT_{num}_{proto.upper()}"
        env += [
            f"{prefix}={proto}://{child_ip}:{num}",
            f"{prefix}_ADDR={child_ip}",
            f"{prefix}_PORT={num}",
            f"{prefix}_PROTO={proto}",
        ]
        if num == end[0] + 1 and proto == end[1]:
            end = (num, proto)
            if i < len(ordered) - 1:
                continue
        if end != start:
            first = f"{alias}_PORT_{start[0]}_{start[1].upper()}"
            env += [
                f"{first}_START={start[1]}://{child_ip}:{start[0]}",
                f"{first}_PORT_START={start[0]}",
                f"{first}_END={end[1]}://{child_ip}:{end[0]}",
                f"{first}_PORT_END={end[0]}",
            ]
        start = end = (num, proto)
    env.append(f"{alias}_NAME={link.name}")
    for entry in link.child.config.env:
        key, sep, value = entry.partition("=")
        if sep and key not in ("HOME", "PATH"):
            env.append(f"{alias}_ENV_{key}={value}")
    return env


def exposed_ports(container: Container) -> list[tuple[int, Proto]]:
    """What a link opens: the exposed ports, and the published ones (the docker CLI exposes
    every -p port too)."""
    config = container.config
    ports = [*config.exposed_ports, *((m.container_port, m.proto) for m in config.port_bindings)]
    return sorted(set(ports))


class LegacyLinks:
    """The links among the runtime's containers, and what they open in the firewall.

    ``lock`` serialises computing and applying openings with the endpoint changes that make
    them stale (a side stopping), so no opening outlives an address that may be reused.
    """

    def __init__(
        self,
        controller: NetworkController,
        lookup: Lookup,
        containers: Callable[[], Iterable[Container]],
        *,
        alive: Callable[[str], bool] = lambda sandbox_id: True,
    ) -> None:
        """``alive``: whether a stored sandbox still has its namespace (at berthd's start, the
        ones that lost it are about to be released)."""
        self._ctl = controller
        self._lookup = lookup
        self._containers = containers
        self._alive = alive
        self.lock = threading.Lock()

    # --- who links to whom ----------------------------------------------------------------

    def children(self, parent: Container) -> list[Link]:
        """``parent``'s links whose target still exists (Docker forgets a link to a removed
        container), one per alias."""
        if not is_legacy(parent.config):
            return []
        found: dict[str, Link] = {}
        for text in parent.config.links:
            name, alias = parse_link(text)
            try:
                found.setdefault(alias, Link(parent, resolve(name, self._lookup), alias))
            except BerthError:
                continue
        return list(found.values())

    def parents(self, child: Container) -> list[Link]:
        return [
            link
            for other in self._containers()
            if other.id != child.id and other.config.links
            for link in self.children(other)
            if link.child.id == child.id
        ]

    def check_start(self, parent: Container) -> None:
        """Docker's refusals when the parent starts: every child must run, on the default
        bridge."""
        for link in self.children(parent):
            child = link.child
            if child.state.status != "running":
                raise Conflict(
                    f"Cannot link to a non running container: /{child.name} AS {link.name}"
                )
            if self.bridge_endpoint(child) is None:
                raise Conflict(
                    f"Cannot link to /{child.name}, as it does not belong to the default network"
                )

    # --- what a link gives the parent -----------------------------------------------------

    def env(self, parent: Container) -> list[str]:
        env: list[str] = []
        for link, endpoint in self._joined_children(parent):
            if endpoint.ipv4 is not None:
                env += link_env(link, str(endpoint.ipv4.ip), exposed_ports(link.child))
        return env

    def hosts(
        self,
        parent: Container,
        hostname: Callable[[Container], str],
        joining: Joining | None = None,
    ) -> list[HostEntry]:
        """``joining``: a child that is starting, and counts as running in its sandbox."""
        entries = []
        for link, endpoint in self._joined_children(parent, joining):
            child = link.child
            names = (
                link.alias,
                hostname(child),
                *([child.name] if link.alias != child.name else []),
            )
            for address in (endpoint.ipv4, endpoint.ipv6):
                if address is not None:
                    entries.append(HostEntry(str(address.ip), names))
        return entries

    def _joined_children(
        self, parent: Container, joining: Joining | None = None
    ) -> Iterator[tuple[Link, Endpoint]]:
        """Children that run on the default bridge now, with their endpoint there."""
        for link in self.children(parent):
            if joining is not None and link.child.id == joining[0]:
                endpoint = self.bridge_endpoint(link.child, joining[1])
            else:
                endpoint = self._running_endpoint(link.child)
            if endpoint is not None:
                yield link, endpoint

    # --- firewall -------------------------------------------------------------------------

    def bridge_endpoint(
        self, container: Container, sandbox_id: str | None = None
    ) -> Endpoint | None:
        """The container's endpoint on the default bridge, if it is joined there."""
        sandbox = sandbox_id or container.sandbox_id
        network = self._bridge()
        if sandbox is None or network is None or not self._alive(sandbox):
            return None
        for endpoint in self._ctl.endpoints(network.id):
            if endpoint.sandbox_id == sandbox:
                return endpoint
        return None

    def _running_endpoint(self, container: Container) -> Endpoint | None:
        running = container.state.status == "running"
        return self.bridge_endpoint(container) if running else None

    def intents(self, container: Container, sandbox_id: str | None = None) -> list[LinkIntent]:
        """Every opening ``container`` takes part in, as parent or child, with the sides that
        are joined to the default bridge now. ``sandbox_id``: the container's own sandbox,
        before its record names it (while it starts)."""
        network = self._bridge()
        own = self.bridge_endpoint(container, sandbox_id)
        if network is None or own is None:
            return []
        found: list[LinkIntent] = []
        for link in self.children(container):
            child = self._running_endpoint(link.child)
            if child is not None:
                found += link_intents(network, own, child, exposed_ports(link.child))
        for link in self.parents(container):
            parent = self._running_endpoint(link.parent)
            if parent is not None:
                found += link_intents(network, parent, own, exposed_ports(container))
        return found

    def open(self, container: Container, sandbox_id: str | None = None) -> list[LinkIntent]:
        """Open ``container``'s links (hold ``lock``); returns what was opened."""
        links = self.intents(container, sandbox_id)
        network, driver = self._bridge(), self._driver()
        if links and network is not None and driver is not None:
            driver.open_links(network, links)
        return links

    def close(self, links: list[LinkIntent]) -> None:
        network, driver = self._bridge(), self._driver()
        if links and network is not None and driver is not None:
            driver.close_links(network, links)

    def all_intents(self) -> list[LinkIntent]:
        """Every opening the stored containers and endpoints describe (berthd's start)."""
        found: dict[LinkIntent, None] = {}
        for container in self._containers():
            if container.config.links and container.sandbox_id is not None:
                found.update(dict.fromkeys(self.intents(container)))
        return list(found)

    def _bridge(self) -> Network | None:
        try:
            return self._ctl.network(DEFAULT_BRIDGE)
        except NotFound:  # berthd runs without a default bridge (--bridge=none)
            return None

    def _driver(self) -> BridgeDriver | None:
        network = self._bridge()
        driver = self._ctl.driver(network.driver) if network is not None else None
        return driver if isinstance(driver, BridgeDriver) else None


def stored_links(controller: NetworkController, data_root: str) -> list[LinkIntent]:
    """The openings berthd's container store and network store describe, for the firewall
    rebuild at berthd's start (before the runtime runs). ``containers.db`` is the runtime's
    store under ``data_root``; sandboxes whose namespace is gone count as stopped."""
    path = os.path.join(data_root, "containers.db")
    if not os.path.exists(path):
        return []
    netns = controller.kernel.netns
    live = {s.id for s in controller.sandboxes() if s.host_mode or netns.exists(s.netns_path)}
    records = ContainerRecords(SqliteStore(path))
    try:
        containers = [r.container for r in records.all()]
        links = LegacyLinks(controller, records.get, lambda: containers, alive=live.__contains__)
        return links.all_intents()
    finally:
        records.close()
