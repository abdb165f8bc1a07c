"""A container's networking: its sandbox and endpoints (through the NetworkController) and the
/etc files that describe them. Blocking: the runtime calls this from its executor.

Start creates the sandbox (or finds the one a container:<ref> container shares), joins the
networks in order (published ports go to the primary network's endpoint, like Docker), then
writes hosts, resolv.conf and hostname. Each step registers its undo on the caller's
transaction. Teardown deletes the sandbox, which leaves and deletes every endpoint and releases
the addresses. Legacy links (``berth.runtime.links``) follow the default bridge's endpoints: they
are opened when a side joins it and closed before a side leaves it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from berth.controller.controller import NetworkController
from berth.controller.transaction import Transaction
from berth.dns.names import dns_enabled
from berth.model.endpoint import Endpoint, EndpointSpec, SandboxSpec
from berth.model.errors import BerthError, Conflict, NotFound, SandboxNotFound
from berth.runtime.api import Container, EndpointSettings
from berth.runtime.etcfiles import (
    HOST_GATEWAY,
    HostEntry,
    ResolvConf,
    legacy_source,
    own_names,
    parse_extra_host,
    read_text,
    render_hostname,
    render_hosts,
    render_resolv,
    render_resolv_internal,
    render_resolv_legacy,
    write_in_place,
)
from berth.runtime.links import DEFAULT_BRIDGE, Joining, LegacyLinks
from berth.runtime.syntax import parse_link
from berth.runtime.validate import Mode, mode_of, shared_container_ref

log = logging.getLogger(__name__)

ETC_FILES = ("hosts", "resolv.conf", "hostname")


@dataclass(frozen=True)
class HostFiles:
    """Where the host's own files are (tests point these at their own copies)."""

    hosts: str = "/etc/hosts"
    resolv_conf: str = "/etc/resolv.conf"


@dataclass(frozen=True)
class NetState:
    sandbox_id: str
    netns_path: str
    etc_dir: str  # the directory whose hosts/resolv.conf/hostname the container mounts
    hostname: str
    link_env: tuple[str, ...] = ()  # the variables legacy links give the process


def etc_mounts(etc_dir: str) -> dict[str, str]:
    return {f"/etc/{name}": os.path.join(etc_dir, name) for name in ETC_FILES}


class ContainerNetworking:
    def __init__(
        self,
        controller: NetworkController,
        lookup: Callable[[str], Container],
        *,
        dns: ResolvConf,
        host_files: HostFiles,
        containers: Callable[[], Iterable[Container]] = tuple,
    ) -> None:
        """``containers``: every container record (a link's other side is looked up there)."""
        self._ctl = controller
        self._lookup = lookup
        self.links = LegacyLinks(controller, lookup, containers)
        self.dns = dns  # the daemon's defaults; replaced on reload
        self._host_files = host_files

    def mode(self, container: Container) -> Mode:
        return mode_of(container.config, self._ctl.network)

    def hostname(self, container: Container) -> str:
        """Docker's defaults: the host's name in host mode, else the short id."""
        if container.config.hostname:
            return container.config.hostname
        if self.mode(container) is Mode.HOST:
            return socket.gethostname()
        return container.id[:12]

    # --- start / stop ---------------------------------------------------------------------

    def setup(self, container: Container, undo: Transaction) -> NetState:
        mode = self.mode(container)
        if mode is Mode.CONTAINER:
            return self._shared(container)
        self.teardown(container)  # a sandbox left by a start that crashed half-way
        self.links.check_start(container)  # Docker's refusals, before anything changes
        hostname = self.hostname(container)
        sandbox = self._ctl.create_sandbox(
            SandboxSpec(
                id=container.id,
                name=container.name,
                hostname=hostname,
                host_mode=mode is Mode.HOST,
                gateway_names=gateway_names(container.config.extra_hosts),
            )
        )
        undo.on_rollback("delete sandbox", lambda: self._ctl.delete_sandbox(sandbox.id))
        for index, (network, settings) in enumerate(container.config.networks.items()):
            spec = self._endpoint_spec(container, settings, ports=index == 0, mode=mode)
            self._ctl.connect(network, sandbox.id, spec)
        with self.links.lock:
            opened = self.links.open(container, sandbox.id)
        undo.on_rollback("close links", lambda: self.links.close(opened))
        env = tuple(self.links.env(container))
        state = NetState(sandbox.id, sandbox.netns_path, container.path, hostname, env)
        self.write_etc(container, state)
        self._refresh_parents(container, sandbox.id)
        return state

    def _shared(self, container: Container) -> NetState:
        target = self._lookup(shared_container_ref(container.config))
        if target.state.status != "running" or target.sandbox_id is None:
            raise Conflict(f"cannot join network namespace of a non running container: {target.id}")
        sandbox = self._ctl.sandbox(target.sandbox_id)
        etc_dir = target.path
        with contextlib.suppress(OSError), open(os.path.join(etc_dir, "hostname")) as f:
            return NetState(sandbox.id, sandbox.netns_path, etc_dir, f.read().strip())
        return NetState(sandbox.id, sandbox.netns_path, etc_dir, self.hostname(target))

    def teardown(self, container: Container) -> None:
        """Close the container's links, delete its own sandbox and endpoints ("already gone"
        is fine). The sandbox goes even when closing the links fails (that error is raised
        after)."""
        failed: BerthError | None = None
        with self.links.lock:
            try:
                self.links.close(self.links.intents(container, container.id))
            except BerthError as err:
                failed = err
            with contextlib.suppress(SandboxNotFound):
                self._ctl.delete_sandbox(container.id)
        if failed is not None:
            raise failed

    def _endpoint_spec(
        self, container: Container, settings: EndpointSettings, *, ports: bool, mode: Mode
    ) -> EndpointSpec:
        config = container.config
        publish = ports and mode is Mode.NETWORKS  # host/none: Docker discards published ports
        return EndpointSpec(
            name=container.name,
            ipv4=settings.ipv4,
            ipv6=settings.ipv6,
            mac=settings.mac,
            aliases=settings.aliases,
            links=tuple(parse_link(text) for text in settings.links),
            ports=config.port_bindings if publish else (),
            exposed=config.exposed_ports if publish else (),
            publish_all=config.publish_all and publish,
            gw_priority=settings.gw_priority,
            driver_options=dict(settings.driver_opts),
        )

    # --- live changes ---------------------------------------------------------------------

    def connect(self, container: Container, network: str, settings: EndpointSettings) -> Endpoint:
        assert container.sandbox_id is not None
        spec = self._endpoint_spec(container, settings, ports=False, mode=Mode.NETWORKS)
        endpoint = self._join(container, network, spec)
        self._refresh_etc(container)
        return endpoint

    def disconnect(self, container: Container, network: str) -> None:
        assert container.sandbox_id is not None
        self._leave(container, network)
        self._refresh_etc(container)

    def _join(self, container: Container, network: str, spec: EndpointSpec) -> Endpoint:
        """A live connect; on the default bridge the container's links open (Docker's
        addLegacyLinks runs on every connect), and its parents learn its new address."""
        assert container.sandbox_id is not None
        endpoint = self._ctl.connect(network, container.sandbox_id, spec)
        if network == DEFAULT_BRIDGE:
            try:
                with self.links.lock:
                    self.links.open(container)
            except BaseException:
                self._ctl.disconnect(network, container.sandbox_id)  # all or nothing
                raise
            self._refresh_parents(container)
        return endpoint

    def _leave(self, container: Container, network: str) -> None:
        assert container.sandbox_id is not None
        with self.links.lock:
            if network == DEFAULT_BRIDGE:
                self.links.close(self.links.intents(container))
            self._ctl.disconnect(network, container.sandbox_id)

    def _refresh_parents(self, container: Container, sandbox_id: str | None = None) -> None:
        """Running containers that link to ``container`` get its current address in their
        /etc/hosts (Docker's UpdateHostsEntry); ``sandbox_id`` while it starts."""
        joining = (container.id, sandbox_id or container.sandbox_id or container.id)
        for link in self.links.parents(container):
            parent = link.parent
            if parent.state.status == "running" and parent.sandbox_id is not None:
                try:
                    self.refresh_hosts(parent, joining)
                except (BerthError, OSError) as err:
                    log.warning("%s: /etc/hosts not updated: %s", parent.name, err)

    def endpoints(self, container: Container) -> dict[str, Endpoint]:
        """The endpoints of the container's own sandbox, by network id."""
        if container.sandbox_id != container.id:
            return {}
        return self._sandbox_endpoints(container.id)

    def _sandbox_endpoints(self, sandbox_id: str) -> dict[str, Endpoint]:
        try:
            sandbox = self._ctl.sandbox(sandbox_id)
        except SandboxNotFound:
            return {}
        found = (self._ctl.endpoint(ref) for ref in sandbox.endpoints)
        return {endpoint.network_id: endpoint for endpoint in found}

    # --- /etc files -----------------------------------------------------------------------

    def write_etc(self, container: Container, state: NetState) -> None:
        host_mode = self.mode(container) is Mode.HOST
        write_in_place(os.path.join(container.path, "hostname"), render_hostname(state.hostname))
        self._write_resolv(container, state.sandbox_id, host_mode)
        self._write_hosts(container, state.sandbox_id, state.hostname, host_mode)

    def _write_resolv(
        self,
        container: Container,
        sandbox_id: str,
        host_mode: bool,
        *,
        endpoints: list[Endpoint] | None = None,
    ) -> None:
        """The embedded DNS server's file while the sandbox is on a user-defined network, else
        a copy of the host's (as is in host mode, filtered otherwise). ``endpoints``: the
        sandbox's, when the caller has just read them."""
        config = container.config
        override = ResolvConf(
            config.dns or self.dns.nameservers,
            config.dns_search or self.dns.search,
            config.dns_options or self.dns.options,
        )
        source = self._host_files.resolv_conf
        host_text = read_text(source)
        if endpoints is None:
            endpoints = list(self._sandbox_endpoints(sandbox_id).values())
        if host_mode:
            text = render_resolv(host_text, override, keep_local_nameservers=True)
        elif any(dns_enabled(self._ctl.network(e.network_id)) for e in endpoints):
            text = render_resolv_internal(host_text, override, source=source)
        else:
            ipv6 = any(e.ipv6 is not None for e in endpoints)
            source, host_text = legacy_source(source, host_text)
            text = render_resolv_legacy(host_text, override, source=source, ipv6=ipv6)
        write_in_place(os.path.join(container.path, "resolv.conf"), text)

    def refresh_hosts(self, container: Container, joining: Joining | None = None) -> None:
        """``joining``: a linked container that is starting (not running yet) in its sandbox."""
        assert container.sandbox_id is not None
        host_mode = self.mode(container) is Mode.HOST
        hostname = _read_hostname(container)
        self._write_hosts(container, container.sandbox_id, hostname, host_mode, joining)

    def _refresh_etc(self, container: Container) -> None:
        """hosts, then resolv.conf, after a live connect or disconnect (gaining or losing the
        last user-defined network switches resolv.conf between the embedded server and the
        host's copy), from one look at the container's mode and its sandbox's endpoints (each
        look is a controller read)."""
        assert container.sandbox_id is not None
        host_mode = self.mode(container) is Mode.HOST
        endpoints = list(self._sandbox_endpoints(container.sandbox_id).values())
        hostname = _read_hostname(container)
        self._write_hosts(container, container.sandbox_id, hostname, host_mode, endpoints=endpoints)
        self._write_resolv(container, container.sandbox_id, host_mode, endpoints=endpoints)

    def _bridge_gateways(self) -> list[str]:
        """``host-gateway`` for a container with no gateway of its own (host or none mode, or
        internal networks only): the default bridge's address, which is Docker's default."""
        try:
            network = self._ctl.network(DEFAULT_BRIDGE)
        except NotFound:  # berthd runs without a default bridge
            return []
        gateways = sorted((p.gateway for p in network.pools if p.gateway), key=lambda a: a.version)
        return [str(gateway) for gateway in gateways]

    def _write_hosts(
        self,
        container: Container,
        sandbox_id: str,
        hostname: str,
        host_mode: bool,
        joining: Joining | None = None,
        *,
        endpoints: list[Endpoint] | None = None,
    ) -> None:
        if endpoints is None:
            endpoints = list(self._sandbox_endpoints(sandbox_id).values())
        names = own_names(hostname, container.config.domainname)
        own = [
            HostEntry(str(address.ip), names)
            for endpoint in endpoints
            for address in (endpoint.ipv4, endpoint.ipv6)
            if address is not None
        ]
        extra = []
        for text in container.config.extra_hosts:
            name, address = parse_extra_host(text)
            if address != HOST_GATEWAY:
                extra.append(HostEntry(address, (name,)))
                continue
            found = host_gateways(endpoints) or self._bridge_gateways()
            if not found:
                log.warning("%s: no gateway for host-gateway in %s", container.name, text)
            extra += [HostEntry(gateway, (name,)) for gateway in found]
        base = read_text(self._host_files.hosts) if host_mode else None
        links = self.links.hosts(container, self.hostname, joining)
        text = render_hosts(own, extra, base=base, links=links)
        write_in_place(os.path.join(container.path, "hosts"), text)


def _read_hostname(container: Container) -> str:
    """The name ``write_etc`` gave the container (its hostname file)."""
    with open(os.path.join(container.path, "hostname")) as f:
        return f.read().strip()


def gateway_names(extra_hosts: Iterable[str]) -> tuple[str, ...]:
    """The ``--add-host NAME:host-gateway`` names, which the embedded DNS answers too."""
    found = (parse_extra_host(text) for text in extra_hosts)
    return tuple(name for name, address in found if address == HOST_GATEWAY)


def host_gateways(endpoints: Iterable[Endpoint]) -> list[str]:
    """What ``host-gateway`` stands for: the host's address on the container's networks, the
    first IPv4 and the first IPv6 gateway in join order (the embedded DNS answers the same
    for host.berth.internal)."""
    found: dict[int, str] = {}
    for endpoint in endpoints:
        for gateway in (endpoint.gateway4, endpoint.gateway6):
            if gateway is not None:
                found.setdefault(gateway.version, str(gateway))
    return [found[version] for version in sorted(found)]
