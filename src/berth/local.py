"""Composition root for using berth as a library on one host: the real kernel, nftables,
SQLite state under the state dir, the default IPAM, and the built-in drivers.

    from berth import open_controller
    with open_controller(state_dir="/var/lib/berth", exec_root="/run/berth") as ctl:
        ...
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence

from berth.controller.config import ControllerConfig, DefaultBridgeConfig
from berth.controller.controller import NetworkController
from berth.drivers.api import NetworkDriver
from berth.drivers.bridge import BridgeDriver
from berth.drivers.null import HostDriver, NullDriver
from berth.events import EventSink
from berth.firewall.api import Firewall
from berth.firewall.nftables import NftFirewall
from berth.ipam.api import IpamDriver
from berth.ipam.default import DefaultIpam
from berth.ipam.pools import PredefinedPool
from berth.kernel.api import Kernel
from berth.store.sqlite import SqliteStore


def host_id(state_dir: str) -> str:
    """A stable random id for this host's state dir (seeds the IPv6 ULA prefix)."""
    path = os.path.join(state_dir, "host-id")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        value = secrets.token_hex(16)
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        with open(path, "x") as f:
            f.write(value + "\n")
        return value


def build_controller(
    config: ControllerConfig,
    kernel: Kernel,
    *,
    firewall_table: str = "berth",
    default_address_pools: Sequence[PredefinedPool] | None = None,
    on_close: Callable[[], None] | None = None,
    firewall: Firewall | None = None,
    events: EventSink | None = None,
    ip_forward: bool = True,
) -> NetworkController:
    """Wire a controller from a kernel bundle (real, or fake in unit tests). ``firewall``
    defaults to nftables in ``firewall_table``; ``events`` receives the controller's events;
    ``ip_forward`` False leaves the host's forwarding sysctls alone."""
    store = SqliteStore(config.store_path)
    ipam: IpamDriver = DefaultIpam(
        host_id=host_id(config.state_dir),
        **({} if default_address_pools is None else {"local_pools": tuple(default_address_pools)}),
    )
    if firewall is None:
        firewall = NftFirewall(kernel.nft, table=firewall_table)
    drivers: dict[str, NetworkDriver] = {
        "bridge": BridgeDriver(kernel, firewall, ip_forward=ip_forward),
        "host": HostDriver(),
        "null": NullDriver(),
    }
    return NetworkController(
        config=config,
        store=store,
        kernel=kernel,
        ipam={"default": ipam},
        drivers=drivers,
        on_close=on_close,
        events=events,
    )


def open_controller(
    *,
    state_dir: str = "/var/lib/berth",
    exec_root: str = "/run/berth",
    host_ns: str | None = None,
    default_bridge: DefaultBridgeConfig | None = None,
    predefined: bool = True,
    firewall_table: str = "berth",
    default_address_pools: Sequence[PredefinedPool] | None = None,
) -> NetworkController:
    """A controller on the real kernel. ``host_ns`` runs berth's "host" side inside another
    network namespace (tests do this); None is this process's namespace."""
    from berth.kernel.real import close_real_kernel, real_kernel  # noqa: PLC0415 - slow import

    config = ControllerConfig(
        state_dir=state_dir,
        exec_root=exec_root,
        default_bridge=default_bridge or DefaultBridgeConfig(),
        predefined=predefined,
    )
    kernel = real_kernel(host_ns)
    controller = build_controller(
        config,
        kernel,
        firewall_table=firewall_table,
        default_address_pools=default_address_pools,
        on_close=lambda: close_real_kernel(kernel),
    )
    if predefined:
        try:
            controller.ensure_predefined_networks()
        except BaseException:
            controller.close()
            raise
    return controller
