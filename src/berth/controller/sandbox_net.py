"""The sandbox side of a join: addresses, link state and routes inside the sandbox namespace.

Drivers create the interface inside the sandbox; configuring it is the same for every driver,
so it lives here (libnetwork's osl). The interface's removal (driver ``leave``) takes its
addresses and routes with it, so only the default-route moves need their own undo.
"""

from __future__ import annotations

import errno

from berth.kernel.api import Kernel, NsRef, default_route
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.errors import KernelError


def ipv6_off_by_default(kernel: Kernel, ns: str) -> None:
    """A new sandbox's interfaces start with IPv6 disabled, as in Docker's osl ("as starting
    point, disable IPv6 on all interfaces"); ``configure_interface`` enables it on those that
    get an IPv6 address. Otherwise an interface on an IPv4-only network makes a link-local
    address and sends DAD, router solicitations and MLD reports that the bridge floods to every
    port: kernel work per attach that grows with the endpoints on the network (and an IPv6
    exposure Docker treats as a vulnerability, CVE-2024-32473). Only new interfaces are
    affected (``default``): loopback keeps ::1."""
    ipv6_off(kernel, ns, "default")


def ipv6_off(kernel: Kernel, ns: NsRef, conf: str) -> None:
    """``net.ipv6.conf.<conf>.disable_ipv6=1``; nothing to do on a kernel without IPv6."""
    try:
        kernel.sysctl.write(ns, f"net/ipv6/conf/{conf}/disable_ipv6", "1")
    except KernelError as err:
        if err.errno != errno.ENOENT:
            raise


def configure_interface(kernel: Kernel, sandbox: Sandbox, endpoint: Endpoint, ifname: str) -> None:
    ns = sandbox.netns_path
    if endpoint.ipv6 is not None:
        # on (see ipv6_off_by_default), and the address must work at once; IPAM already
        # guarantees it is unique
        kernel.sysctl.write(ns, f"net/ipv6/conf/{ifname}/accept_dad", "0")
        kernel.sysctl.write(ns, f"net/ipv6/conf/{ifname}/disable_ipv6", "0")
    addresses = [a for a in (endpoint.ipv4, endpoint.ipv6) if a is not None]
    kernel.netlink.configure_link(ns, ifname, addresses=addresses)


def add_default_routes(kernel: Kernel, sandbox: Sandbox, endpoint: Endpoint) -> None:
    assert endpoint.ifname is not None
    for gateway in (endpoint.gateway4, endpoint.gateway6):
        if gateway is not None:
            kernel.netlink.add_route(
                sandbox.netns_path,
                default_route(gateway.version),
                gateway=gateway,
                dev=endpoint.ifname,
            )


def delete_default_routes(kernel: Kernel, sandbox: Sandbox, endpoint: Endpoint) -> None:
    for gateway in (endpoint.gateway4, endpoint.gateway6):
        if gateway is not None:
            kernel.netlink.delete_route(
                sandbox.netns_path,
                default_route(gateway.version),
                gateway=gateway,
                dev=endpoint.ifname,
            )


def next_ifname(prefix: str, used: set[str]) -> str:
    """eth0, eth1, ...: the lowest index not used in the sandbox."""
    index = 0
    while f"{prefix}{index}" in used:
        index += 1
    return f"{prefix}{index}"


def pick_gateway(candidates: list[Endpoint]) -> Endpoint | None:
    """The endpoint that provides the default route: the highest gw_priority among endpoints
    with a gateway, the earliest joined on ties (``candidates`` are in join order)."""
    routed = [e for e in candidates if e.gateway4 is not None or e.gateway6 is not None]
    if not routed:
        return None
    best = max(e.gw_priority for e in routed)
    return next(e for e in routed if e.gw_priority == best)
