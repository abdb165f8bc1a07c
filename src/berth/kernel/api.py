"""Protocols for the kernel adapters, and the ``Kernel`` bundle handed to drivers.

Every call names the namespace it acts in: ``ns`` is the path of a network namespace file (a bind
mount such as /run/berth/netns/<id>), or ``None`` for the *host* namespace of this Kernel. The host
is whatever namespace the Kernel was built for: the real host in production, a throwaway namespace
in tests. Adapters never switch the calling thread's namespace for longer than opening a socket.

Errors: every adapter raises ``berth.model.errors.KernelError`` (errno kept) for kernel failures.
"Already gone" on delete is not an error: delete methods return False instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import Literal, Protocol

NsRef = str | None
IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface
IPNetwork = IPv4Network | IPv6Network
Proto = Literal["tcp", "udp", "sctp"]


@dataclass(frozen=True)
class LinkInfo:
    name: str
    index: int
    kind: str  # "bridge", "veth", "macvlan", "vxlan", "" for devices without a kind
    mac: str
    mtu: int
    up: bool
    master: str | None  # name of the bridge this link is a port of
    alias: str | None  # IFLA_IFALIAS; berth tags its links "berth:<object id>"


class Netns(Protocol):
    """Named network namespaces as bind-mounted files."""

    def create(self, path: str) -> None:
        """Create a new netns bound at ``path`` (parent dirs made), with ``lo`` up.
        Undone by ``remove``. Raises KernelError if ``path`` already exists."""

    def remove(self, path: str) -> bool:
        """Unmount and unlink ``path``; False if it did not exist."""

    def exists(self, path: str) -> bool: ...

    def list(self, directory: str) -> list[str]:
        """Paths of the namespace files bound in ``directory``."""


class Netlink(Protocol):
    """Links, addresses and routes (rtnetlink), in the host netns or a sandbox netns."""

    def add_bridge(
        self,
        ns: NsRef,
        name: str,
        *,
        mtu: int | None = None,
        alias: str | None = None,
        mac: str | None = None,
    ) -> None:
        """Create a bridge, down, with no address. ``mac`` fixes its MAC address (without
        one the kernel gives the bridge its lowest port's, which changes as ports come and
        go). Undone by ``delete_link``."""

    def add_veth(
        self,
        ns: NsRef,
        name: str,
        *,
        peer_ns: NsRef,
        peer_name: str,
        mtu: int | None = None,
        peer_mac: str | None = None,
        alias: str | None = None,
        master: str | None = None,
        up: bool = False,
        hairpin: bool | None = None,
        isolated: bool | None = None,
    ) -> None:
        """Create a veth pair whose peer is created directly inside ``peer_ns`` (no move), down.
        This end is made a port of bridge ``master`` (with the bridge-port flags ``hairpin`` and
        ``isolated``) and set ``up`` in the same call; all or nothing. Undone by
        ``delete_link`` of either end (or ``detach_veth``)."""

    def delete_link(self, ns: NsRef, name: str) -> bool:
        """Delete a link; False if there was none. Returns once the kernel has unregistered it
        (~20 ms for a veth pair: the kernel waits for RCU grace periods)."""

    def detach_veth(
        self, ns: NsRef, name: str, *, peer_ns: NsRef, peer_name: str, alias: str | None = None
    ) -> bool:
        """Take the veth pair ``name`` (this end) / ``peer_name`` (in ``peer_ns``) out of service
        at once and delete it in the background: on return both ends are down and renamed (so
        ``name`` and ``peer_name`` are free, the peer's addresses and routes unusable), this end
        is out of its bridge, and ``alias`` (if given) has replaced its alias, so a link a crash
        leaves behind is recognisable. False if ``name`` did not exist. Falls back to deleting
        the pair before returning if it cannot be taken out of service."""

    def get_link(self, ns: NsRef, name: str) -> LinkInfo | None: ...

    def list_links(self, ns: NsRef) -> list[LinkInfo]: ...

    def set_link(
        self,
        ns: NsRef,
        name: str,
        *,
        up: bool | None = None,
        master: str | None = None,
        mtu: int | None = None,
        mac: str | None = None,
    ) -> None:
        """Change link attributes in one netlink request."""

    def set_bridge_port(
        self, ns: NsRef, name: str, *, isolated: bool | None = None, hairpin: bool | None = None
    ) -> None:
        """Bridge-port flags of a link that is a port of a bridge."""

    def add_address(self, ns: NsRef, name: str, address: IPInterface) -> None:
        """Add an address (with prefix) to a link. Undone by ``delete_address``."""

    def configure_link(self, ns: NsRef, name: str, *, addresses: Sequence[IPInterface]) -> None:
        """Add ``addresses`` to a link that is down, then set it up, in one exchange with the
        kernel. All or nothing: after a failure the addresses added are deleted and the link is
        down again. Undone by deleting the link."""

    def delete_address(self, ns: NsRef, name: str, address: IPInterface) -> bool: ...

    def list_addresses(self, ns: NsRef, name: str | None = None) -> list[IPInterface]:
        """Addresses of one link, or of every link when ``name`` is None."""

    def add_route(
        self,
        ns: NsRef,
        dst: IPNetwork,
        *,
        gateway: IPAddress | None = None,
        dev: str | None = None,
        metric: int | None = None,
    ) -> None:
        """Add a route (``dst`` 0.0.0.0/0 or ::/0 for a default route). Undone by
        ``delete_route``."""

    def delete_route(
        self, ns: NsRef, dst: IPNetwork, *, gateway: IPAddress | None = None, dev: str | None = None
    ) -> bool: ...

    def list_routes(self, ns: NsRef, version: int = 4) -> list[IPNetwork]:
        """Destinations of every route in every table (main, local excluded), to keep IPAM's
        automatic pools clear of prefixes the host already uses."""

    def close(self, ns: NsRef) -> None:
        """Drop any socket cached for ``ns`` (call before removing a sandbox namespace, since an
        open socket keeps the namespace alive)."""


class Nftables(Protocol):
    """libnftables in-process, bound to the host netns of this Kernel."""

    def run(self, script: str) -> str:
        """Run nft commands (text syntax) as one atomic transaction; returns nft's output.
        Raises KernelError with nft's error text on failure; nothing is applied then."""


class Sysctl(Protocol):
    def read(self, ns: NsRef, key: str) -> str:
        """``key`` is the path under /proc/sys, e.g. net/ipv4/ip_forward or
        net/ipv4/conf/br0/route_localnet (slashes, because interface names may contain dots).
        Returns the value stripped of the trailing newline."""

    def write(self, ns: NsRef, key: str, value: str) -> None: ...


class Conntrack(Protocol):
    def flush(
        self,
        ns: NsRef,
        *,
        proto: Proto | None = None,
        orig_dst: IPAddress | None = None,
        orig_dport: int | None = None,
        reply_src: IPAddress | None = None,
    ) -> int | None:
        """Delete the conntrack entries of ``ns`` that match every given field (all entries,
        both families, when none is given). Returns how many when that is known, None when the
        kernel deleted them itself without saying (the real kernel's usual case): callers must
        not depend on the number. Raises KernelError when the kernel refuses."""


class Ports(Protocol):
    def in_use(self, ns: NsRef, proto: Proto, host_ip: IPAddress, port: int) -> bool:
        """True if a socket in ``ns`` already holds proto/host_ip:port (a TCP listener, a bound
        UDP or SCTP socket), so publishing it would shadow or conflict with a real service.
        A wildcard host_ip (0.0.0.0, ::) conflicts with a socket on any address of the family.
        Raises KernelError with errno EADDRNOTAVAIL when host_ip is not an address of ``ns``."""


@dataclass(frozen=True)
class Kernel:
    """All kernel adapters for one host namespace. Composition roots build it; drivers and the
    controller receive it."""

    netns: Netns
    netlink: Netlink
    nft: Nftables
    sysctl: Sysctl
    conntrack: Conntrack
    ports: Ports
    host_ns: NsRef = None  # the path of the host namespace, None for this process's own


def default_route(version: int) -> IPNetwork:
    """The destination of a default route for an address family."""
    return IPv4Network("0.0.0.0/0") if version == 4 else IPv6Network("::/0")
