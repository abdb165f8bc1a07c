"""Start-up reconciliation: make the kernel match berth's store, and remove what berth left
behind that the store does not know.

Why: the store commits only when an operation completes, so ``kill -9`` in the middle of one
leaves kernel objects the store never heard of (a tagged veth, a bridge, a bound namespace file),
and a reboot or a hand-made change removes objects the store still lists (namespace files under
/run, bridges, the nft table). Runs once, before the API serves and before the container runtime
restores, so nothing else changes the state meanwhile. Idempotent: a second run repairs nothing.

Ownership: berth's links carry the alias ``berth:<object id>``; its namespace files live under
``<exec-root>/netns``; its firewall lives in its own tables. Nothing else is ever touched. Every
step keeps going past failures, which are logged and reported, because a daemon that serves with
one broken network is more useful than one that does not start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv4Address, IPv6Address
from typing import TypeVar

from berth.controller import sandbox_net
from berth.controller.controller import NetworkController
from berth.drivers.bridge.driver import ALIAS_PREFIX, BridgeDriver
from berth.drivers.bridge.intents import endpoint_intent, network_intent, port_intents
from berth.firewall.api import EndpointIntent, Firewall, LinkIntent, NetworkIntent, PortIntent
from berth.kernel.api import default_route
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.errors import BerthError
from berth.model.network import Network

log = logging.getLogger(__name__)


T = TypeVar("T")
LinksSource = Callable[[], Sequence[LinkIntent]]


class Failed:
    """What ``ReconcileReport.attempt`` returns for a step that raised (already reported)."""


FAILED = Failed()


@dataclass
class ReconcileReport:
    repaired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        log.warning("reconcile repaired", extra={"repair": what})
        self.repaired.append(what)

    def attempt(self, what: str, fn: Callable[[], T]) -> T | Failed:
        try:
            return fn()
        except (BerthError, OSError) as err:
            log.error("reconcile step failed", extra={"step": what, "error": str(err)})
            self.errors.append(f"{what}: {err}")
            return FAILED


@dataclass
class _State:
    """The store's view, read once per phase."""

    networks: dict[str, Network]
    endpoints: dict[str, Endpoint]
    sandboxes: list[Sandbox]

    @classmethod
    def read(cls, controller: NetworkController) -> _State:
        return cls(
            {n.id: n for n in controller.networks()},
            {e.id: e for e in controller.endpoints()},
            controller.sandboxes(),
        )

    @property
    def bridges(self) -> list[Network]:
        return [n for n in self.networks.values() if n.driver == "bridge"]


def reconcile(
    controller: NetworkController, firewall: Firewall, links: LinksSource | None = None
) -> ReconcileReport:
    """Repair in an order where each step can rely on the previous ones: the firewall tables
    first (releasing ports needs them), then sandboxes whose namespace is gone, bridges, joined
    endpoints, and last the orphans (after which only what the store names remains).

    ``links``: the open legacy links, which the network store does not know (they are the
    container runtime's); the firewall is rebuilt with them so that linked traffic keeps
    flowing across a restart of berthd."""
    started = time.monotonic()
    report = ReconcileReport()
    report.attempt("rebuild the firewall", partial(_reload_firewall, controller, firewall, links))
    for sandbox in controller.sandboxes():
        if not sandbox.host_mode and not controller.kernel.netns.exists(sandbox.netns_path):
            _release_sandbox(controller, sandbox, report)
    driver = controller.driver("bridge")
    if isinstance(driver, BridgeDriver):
        state = _State.read(controller)
        for network in state.bridges:
            repairs = report.attempt(
                f"check network {network.name}", partial(driver.repair_network, network)
            )
            for repair in [] if isinstance(repairs, Failed) else repairs:
                report.note(f"network {network.name}: {repair}")
        for sandbox in state.sandboxes:
            # a sandbox whose release failed above has nothing left to repair
            if not sandbox.host_mode and controller.kernel.netns.exists(sandbox.netns_path):
                _repair_sandbox(controller, driver, state, sandbox, report)
    state = _State.read(controller)
    _remove_orphan_links(controller, state, report)
    _remove_orphan_namespaces(controller, state, report)
    log.info(
        "reconciled kernel state with the store",
        extra={
            "repairs": len(report.repaired),
            "errors": len(report.errors),
            "ms": round((time.monotonic() - started) * 1000, 1),
        },
    )
    return report


def firewall_intents(
    controller: NetworkController,
) -> tuple[list[NetworkIntent], list[PortIntent], list[EndpointIntent]]:
    """The firewall's whole state as the network store describes it: networks, published
    ports, and the ports of ICC-off networks whose sandbox namespace still exists (the others
    are released right after)."""
    state = _State.read(controller)
    networks = {n.id: n for n in state.bridges}
    live = {s.id for s in state.sandboxes if _namespace_exists(controller, s)}
    ports: list[PortIntent] = []
    endpoints: list[EndpointIntent] = []
    for endpoint in state.endpoints.values():
        network = networks.get(endpoint.network_id)
        if network is None:
            continue
        if endpoint.published:
            ports += port_intents(network, endpoint, endpoint.published)
        intent = endpoint_intent(network, endpoint)
        if intent is not None and endpoint.sandbox_id in live:
            endpoints.append(intent)
    return [network_intent(n) for n in networks.values()], ports, endpoints


def _namespace_exists(controller: NetworkController, sandbox: Sandbox) -> bool:
    return sandbox.host_mode or controller.kernel.netns.exists(sandbox.netns_path)


def _reload_firewall(
    controller: NetworkController, firewall: Firewall, links: LinksSource | None
) -> None:
    networks, ports, endpoints = firewall_intents(controller)
    opened: Sequence[LinkIntent] = ()
    try:
        opened = links() if links is not None else ()
    except (BerthError, OSError) as err:  # the networks' rules matter more than the links'
        log.error("reconcile: legacy links not restored", extra={"error": str(err)})
    firewall.reload(networks, ports, endpoints, opened)


def _release_sandbox(
    controller: NetworkController, sandbox: Sandbox, report: ReconcileReport
) -> None:
    """The namespace is gone (reboot, or removed by hand): its endpoints cannot work, so give
    their addresses and ports back, as deleting the sandbox does; missing kernel objects are
    "already gone" for every teardown step."""
    done = report.attempt(
        f"release sandbox {sandbox.name}", partial(controller.delete_sandbox, sandbox.id)
    )
    if not isinstance(done, Failed):
        report.note(
            f"sandbox {sandbox.name} ({sandbox.short_id}): namespace {sandbox.netns_path} is "
            f"gone; released it and its {len(sandbox.endpoints)} endpoint(s)"
        )


def _repair_sandbox(
    controller: NetworkController,
    driver: BridgeDriver,
    state: _State,
    sandbox: Sandbox,
    report: ReconcileReport,
) -> None:
    """Every joined bridge endpoint has its veth on its bridge, and the sandbox its default
    route (an interrupted connect may have moved it to an interface that no longer exists)."""
    for endpoint in (state.endpoints[e] for e in sandbox.endpoints if e in state.endpoints):
        network = state.networks.get(endpoint.network_id)
        if network is None or network.driver != "bridge":
            continue
        what = f"endpoint {endpoint.name} on network {network.name}"
        repairs = report.attempt(
            f"check {what}", partial(driver.repair_endpoint, network, endpoint)
        )
        if repairs is None:
            rejoined = report.attempt(
                f"re-create the veth of {what}",
                partial(_rejoin, controller, driver, network, endpoint, sandbox),
            )
            repairs = [] if isinstance(rejoined, Failed) else ["re-created its veth"]
        for repair in [] if isinstance(repairs, Failed) else repairs:
            report.note(f"{what}: {repair}")
    if sandbox.gateway_endpoint in state.endpoints:
        gateway = state.endpoints[sandbox.gateway_endpoint]
        for address in (gateway.gateway4, gateway.gateway6):
            if address is not None:
                report.attempt(
                    f"check the default route of sandbox {sandbox.name}",
                    partial(_default_route, controller, sandbox, gateway, address, report),
                )


def _rejoin(
    controller: NetworkController,
    driver: BridgeDriver,
    network: Network,
    endpoint: Endpoint,
    sandbox: Sandbox,
) -> None:
    """Put a joined endpoint's veth back, with the MAC and addresses the store holds."""
    ifname = endpoint.ifname or "eth0"
    driver.join(network, endpoint, sandbox, ifname)
    sandbox_net.configure_interface(controller.kernel, sandbox, endpoint, ifname)


def _default_route(
    controller: NetworkController,
    sandbox: Sandbox,
    gateway: Endpoint,
    address: IPv4Address | IPv6Address,
    report: ReconcileReport,
) -> None:
    netlink = controller.kernel.netlink
    route = default_route(address.version)
    if route not in netlink.list_routes(sandbox.netns_path, address.version):
        netlink.add_route(sandbox.netns_path, route, gateway=address, dev=gateway.ifname)
        report.note(f"sandbox {sandbox.name}: restored its default route via {address}")


def _remove_orphan_links(
    controller: NetworkController, state: _State, report: ReconcileReport
) -> None:
    """Links tagged ``berth:<id>`` whose id is no stored network and no joined endpoint."""
    wanted = set(state.networks)
    wanted |= {e.id for e in state.endpoints.values() if e.sandbox_id is not None}
    netlink = controller.kernel.netlink
    links = report.attempt("list host links", partial(netlink.list_links, None))
    for link in [] if isinstance(links, Failed) else links:
        alias = link.alias or ""
        if not alias.startswith(ALIAS_PREFIX) or alias.removeprefix(ALIAS_PREFIX) in wanted:
            continue
        kind = link.kind or "link"
        gone = report.attempt(
            f"remove orphan {kind} {link.name}", partial(netlink.delete_link, None, link.name)
        )
        if not isinstance(gone, Failed):
            report.note(f"removed orphan {kind} {link.name} ({alias[: len(ALIAS_PREFIX) + 12]})")


def _remove_orphan_namespaces(
    controller: NetworkController, state: _State, report: ReconcileReport
) -> None:
    """Namespace files under berth's own directory that no stored sandbox names."""
    kernel = controller.kernel
    wanted = {s.netns_path for s in state.sandboxes}
    directory = controller.config.netns_dir
    paths = report.attempt(f"list {directory}", partial(kernel.netns.list, directory))
    for path in [] if isinstance(paths, Failed) else paths:
        if path in wanted:
            continue
        kernel.netlink.close(path)  # a cached socket would keep the namespace alive
        gone = report.attempt(f"remove orphan namespace {path}", partial(kernel.netns.remove, path))
        if not isinstance(gone, Failed):
            report.note(f"removed orphan namespace {path}")
