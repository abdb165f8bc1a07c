"""berthd's composition root: the real adapters, the controller, the container runtime and the
API application, built from a DaemonConfig.

The only module that names concrete classes: the kernel of this process's own network
namespace, nftables (or nothing, with ``iptables: false``), SQLite under the data root, the
runtime and the aiohttp app. The runtime and the API are imported when they are built, so the
daemon's modules import (and its unit tests run) without them.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from berth.controller.config import DefaultBridgeConfig
from berth.controller.controller import NetworkController
from berth.controller.defaults import default_bridge_spec
from berth.daemon.config import DaemonConfig
from berth.events import Event, EventSink
from berth.firewall.api import Firewall
from berth.firewall.disabled import DisabledFirewall
from berth.kernel.api import Kernel
from berth.model.errors import InvalidParameter
from berth.model.network import Network

if TYPE_CHECKING:
    from aiohttp import web

    from berth.api.context import ApiContext, DaemonInfo, EventSource
    from berth.dns.server import DnsServer, DnsSettings, SandboxDns
    from berth.runtime.api import ContainerService
    from berth.runtime.etcfiles import ResolvConf

log = logging.getLogger(__name__)


@dataclass
class NetworkParts:
    kernel: Kernel
    firewall: Firewall
    controller: NetworkController


def version() -> str:
    from importlib import metadata  # noqa: PLC0415 - ~0.1 s of imports, paid once when serving

    try:
        return metadata.version("berth")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def open_network(config: DaemonConfig, events: EventSink) -> NetworkParts:
    """The kernel of this process's netns, the firewall and the controller (blocking)."""
    from berth.firewall.nftables import NftFirewall  # noqa: PLC0415 - loads libnftables
    from berth.kernel.real import close_real_kernel, real_kernel  # noqa: PLC0415
    from berth.local import build_controller  # noqa: PLC0415

    kernel = real_kernel(None)
    try:
        default_bridge = adopt_bridge(config, kernel)
        firewall: Firewall = NftFirewall(kernel.nft) if config.iptables else DisabledFirewall()
        controller = build_controller(
            replace(config.controller_config(), default_bridge=default_bridge),
            kernel,
            default_address_pools=config.default_address_pools or None,
            on_close=lambda: close_real_kernel(kernel),
            firewall=firewall,
            events=events,
            ip_forward=config.ip_forward,
        )
    except BaseException:
        close_real_kernel(kernel)
        raise
    return NetworkParts(kernel, firewall, controller)


def adopt_bridge(config: DaemonConfig, kernel: Kernel) -> DefaultBridgeConfig | None:
    """``-b NAME`` names a bridge that must exist (dockerd: "must be created manually"). With
    no --bip, its IPv4 address, if it has one, becomes the default network's (as in dockerd)."""
    wanted = config.default_bridge()
    if wanted is None or not config.bridge:
        return wanted
    link = kernel.netlink.get_link(None, config.bridge)
    if link is None:
        raise InvalidParameter(
            f"bridge {config.bridge} (-b) does not exist: create it first, or leave out -b "
            "and berth creates its own default bridge"
        )
    if link.kind != "bridge":
        raise InvalidParameter(f"{config.bridge} (-b) is a {link.kind or 'device'}, not a bridge")
    if wanted.bip is None:
        for address in kernel.netlink.list_addresses(None, config.bridge):
            if address.version == 4:
                return replace(wanted, bip=address)
    return wanted


def ensure_predefined(controller: NetworkController) -> None:
    """`bridge`, `host` and `none`, with `bridge` as configured now: dockerd re-creates its
    default network at start, so a changed --bip or --mtu applies after a restart; while any
    endpoint uses it, the old one stays (and a warning says so)."""
    wanted = controller.config.default_bridge
    current = next((n for n in controller.networks() if n.name == "bridge"), None)
    if current is not None and _outdated(current, wanted):
        users = controller.endpoints(current.id)
        if users:
            log.warning(
                "the default bridge configuration changed, but %d endpoint(s) use the "
                "current one: it stays until they are gone and berthd restarts",
                len(users),
            )
        else:
            controller.delete_network(current.id, predefined=True)
            log.info("re-creating the default bridge network with the new configuration")
    controller.ensure_predefined_networks()


def _outdated(network: Network, wanted: DefaultBridgeConfig | None) -> bool:
    if wanted is None:
        return True
    spec = default_bridge_spec(wanted)
    return (
        dict(network.options) != dict(spec.options)
        or network.ipam != spec.ipam
        or network.enable_ipv6 != spec.enable_ipv6
    )


def daemon_info(config: DaemonConfig) -> DaemonInfo:
    from berth.api.context import DaemonInfo  # noqa: PLC0415

    return DaemonInfo(
        version=version(),
        name=socket.gethostname(),
        data_root=config.data_root,
        exec_root=config.exec_root,
        firewall_backend="nftables" if config.iptables else "none",
        default_address_pools=tuple(
            {"Base": str(p.base), "Size": p.size} for p in config.default_address_pools
        ),
        labels=config.labels,
    )


def resolv_conf(config: DaemonConfig) -> ResolvConf:
    """The daemon's --dns/--dns-search/--dns-opt as the runtime takes them."""
    from berth.runtime.etcfiles import ResolvConf  # noqa: PLC0415 - the runtime is optional here

    return ResolvConf(
        nameservers=tuple(str(server) for server in config.dns),
        search=config.dns_search,
        options=config.dns_opts,
    )


def make_runtime(
    controller: NetworkController, events: EventSink, executor: Executor, config: DaemonConfig
) -> ContainerService:
    """The container runtime; the one place that knows its constructor. Imported by name (it
    was built in parallel with the daemon, and pulls in the shim client)."""
    service = importlib.import_module("berth.runtime.service")
    networking = importlib.import_module("berth.runtime.networking")
    runtime: ContainerService = service.ContainerRuntime(
        controller=controller,
        executor=executor,
        events=events,
        data_root=config.data_root,
        exec_root=config.exec_root,
        dns=resolv_conf(config),
        host_files=networking.HostFiles(resolv_conf=config.host_resolv_conf),
    )
    return runtime


def update_dns(runtime: ContainerService, config: DaemonConfig) -> bool:
    """Hand changed DNS defaults to a running runtime, if it can take them (``set_dns``);
    False when they apply only after a restart."""
    setter = getattr(runtime, "set_dns", None)
    if setter is None:
        return False
    setter(resolv_conf(config))
    return True


# --- the embedded DNS server ------------------------------------------------------------------


def dns_settings(config: DaemonConfig) -> DnsSettings:
    from berth.dns.server import DnsSettings  # noqa: PLC0415 - dnslib, paid when serving

    return DnsSettings(
        servers=config.dns, options=config.dns_opts, host_resolv_conf=config.host_resolv_conf
    )


def make_dns(loop: asyncio.AbstractEventLoop, config: DaemonConfig) -> DnsServer:
    """The embedded DNS server; it serves nothing until ``start`` hands it the controller."""
    from berth.dns.server import DnsServer  # noqa: PLC0415

    return DnsServer(loop, dns_settings(config))


def sandbox_dns(runtime: ContainerService) -> Callable[[str], SandboxDns]:
    """A sandbox's own DNS settings: those of the container whose id it has (a container
    sharing another's namespace uses that one's sandbox, hence its settings, as in Docker)."""

    from berth.dns.server import SandboxDns  # noqa: PLC0415

    def lookup(sandbox_id: str) -> SandboxDns:
        config = runtime.get(sandbox_id).config
        return SandboxDns(servers=config.dns, options=config.dns_options)

    return lookup


class Tee:
    """An EventSink that hands every event to each of ``sinks`` in order: the controller's
    events go to the DNS server (which updates before the controller call returns) and to the
    bus."""

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = sinks

    def publish(self, event: Event) -> None:
        for sink in self._sinks:
            sink.publish(event)


def make_context(
    parts: NetworkParts,
    *,
    runtime: ContainerService,
    events: EventSource,
    executor: Executor,
    config: DaemonConfig,
) -> ApiContext:
    from berth.api.context import ApiContext  # noqa: PLC0415

    extra: dict[str, Any] = {"config": config, "firewall": parts.firewall}
    return ApiContext(
        controller=parts.controller,
        containers=runtime,
        events=events,
        executor=executor,
        info=daemon_info(config),
        extra=extra,
    )


def make_application(ctx: ApiContext) -> web.Application:
    from berth.api.app import make_app  # noqa: PLC0415 - the API imports aiohttp.web

    return make_app(ctx)
