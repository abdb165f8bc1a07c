"""rtnetlink through pyroute2: links, addresses and routes in the host netns or a sandbox netns.

Owns: one pyroute2 ``IPRoute`` per namespace, opened with ``in_netns`` (a netlink socket made
while the thread is inside a netns stays bound to it), and the translation of netlink errors into
``KernelError``. Must not: use pyroute2's ``netns=`` (it forks a helper per socket), move links
between namespaces (a move costs ~20 ms; veth peers are created in place), or switch any caller's
thread into another namespace.

Threading: a pyroute2 ``IPRoute`` keeps its socket and event loop in thread-local storage; called
from a thread other than the one that built it, it silently opens a *new* socket in that thread's
current namespace (the host, not the sandbox). So every ``IPRoute`` of an adapter is built, used
and closed on one private worker thread, which also serialises requests (no locks needed).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from ipaddress import ip_interface, ip_network
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from berth.kernel.api import IPAddress, IPInterface, IPNetwork, LinkInfo, NsRef
from berth.kernel.netns import THREAD_NETNS, in_netns
from berth.model.errors import KernelError

T = TypeVar("T")

_IFF_UP = 0x1
_IFA_F_NODAD = 0x2
_RT_TABLE_LOCAL = 255
_RTN_SKIPPED = {2, 3, 4, 5}  # local, broadcast, anycast, multicast: the kernel's own entries
_GONE = {errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL}


@dataclass
class _Socket:
    ipr: Any  # pyroute2.IPRoute (untyped)
    identity: tuple[int, int] | None  # (st_dev, st_ino) of the netns file when it was opened


class PyrouteNetlink:
    """``Netlink`` for the namespaces of one host (``host_ns``: path, or None for the netns of
    the thread that builds the adapter). Call ``shutdown`` when done with the adapter."""

    def __init__(self, host_ns: str | None = None) -> None:
        self._host_ns = host_ns
        self._sockets: dict[NsRef, _Socket] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="berth-netlink")
        # Start the worker now: a thread starts in its creator's netns, and with host_ns None the
        # host is the netns of the thread building this adapter.
        self._worker.submit(lambda: None).result()

    # --- links ---------------------------------------------------------------------------------

    def add_bridge(
        self, ns: NsRef, name: str, *, mtu: int | None = None, alias: str | None = None
    ) -> None:
        def op(ipr: Any) -> None:
            ipr.link("add", ifname=name, kind="bridge", **_opt(mtu=mtu))
            self._set_alias(ipr, name, alias)

        self._run(ns, f"add bridge {name}", op)

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
    ) -> None:
        def op(ipr: Any) -> None:
            peer: dict[str, Any] = {"ifname": peer_name, **_opt(address=peer_mac, mtu=mtu)}
            with self._netns_fd(peer_ns) if peer_ns != ns else nullcontext() as fd:
                if fd is not None:
                    peer["net_ns_fd"] = fd
                ipr.link("add", ifname=name, kind="veth", peer=peer, **_opt(mtu=mtu))
            self._set_alias(ipr, name, alias)

        self._run(ns, f"add veth {name} (peer {peer_name} in {self._where(peer_ns)})", op)

    def delete_link(self, ns: NsRef, name: str) -> bool:
        return self._delete(ns, f"delete link {name}", lambda ipr: ipr.link("del", ifname=name))

    def get_link(self, ns: NsRef, name: str) -> LinkInfo | None:
        def op(ipr: Any) -> LinkInfo | None:
            try:
                msg = ipr.link("get", ifname=name)[0]
            except NetlinkError as err:
                if err.code == errno.ENODEV:
                    return None
                raise
            master = msg.get("master")
            names = {}
            if master:
                names[master] = ipr.link("get", index=master)[0].get("ifname")
            return _link_info(msg, names)

        return self._run(ns, f"get link {name}", op)

    def list_links(self, ns: NsRef) -> list[LinkInfo]:
        def op(ipr: Any) -> list[LinkInfo]:
            msgs = list(ipr.link("dump"))
            names = {msg["index"]: msg.get("ifname") for msg in msgs}
            return [_link_info(msg, names) for msg in msgs]

        return self._run(ns, "list links", op)

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
        def op(ipr: Any) -> None:
            # One RTM_NEWLINK: the kernel applies address, MTU, master, then flags, in that order.
            change: dict[str, Any] = _opt(mtu=mtu, address=mac)
            if master is not None:
                change["master"] = _index(ipr, master)
            if up is not None:
                change["state"] = "up" if up else "down"
            if change:
                ipr.link("set", ifname=name, **change)

        self._run(ns, f"set link {name}", op)

    def set_bridge_port(
        self, ns: NsRef, name: str, *, isolated: bool | None = None, hairpin: bool | None = None
    ) -> None:
        flags = {
            key: int(value)
            for key, value in (("isolated", isolated), ("mode", hairpin))
            if value is not None
        }
        if not flags:
            return
        # IFLA_BRPORT_MODE is the hairpin flag; pyroute2 sends these as bridge_slave link data.
        self._run(
            ns,
            f"set bridge port flags of {name}",
            lambda ipr: ipr.brport("set", ifname=name, **flags),
        )

    # --- addresses -----------------------------------------------------------------------------

    def add_address(self, ns: NsRef, name: str, address: IPInterface) -> None:
        def op(ipr: Any) -> None:
            ipr.addr("add", index=_index(ipr, name), **_addr_args(address, adding=True))

        self._run(ns, f"add address {address} to {name}", op)

    def delete_address(self, ns: NsRef, name: str, address: IPInterface) -> bool:
        def op(ipr: Any) -> None:
            ipr.addr("del", index=_index(ipr, name), **_addr_args(address, adding=False))

        return self._delete(ns, f"delete address {address} from {name}", op)

    def list_addresses(self, ns: NsRef, name: str | None = None) -> list[IPInterface]:
        def op(ipr: Any) -> list[IPInterface]:
            index = None if name is None else _index(ipr, name)
            return [
                ip_interface(f"{msg.get('address')}/{msg['prefixlen']}")
                for msg in ipr.addr("dump")
                if index is None or msg["index"] == index
            ]

        return self._run(ns, f"list addresses of {name or 'all links'}", op)

    # --- routes --------------------------------------------------------------------------------

    def add_route(
        self,
        ns: NsRef,
        dst: IPNetwork,
        *,
        gateway: IPAddress | None = None,
        dev: str | None = None,
        metric: int | None = None,
    ) -> None:
        def op(ipr: Any) -> None:
            ipr.route("add", **_route_args(ipr, dst, gateway, dev), **_opt(priority=metric))

        self._run(ns, f"add route {dst}{_via(gateway, dev)}", op)

    def delete_route(
        self, ns: NsRef, dst: IPNetwork, *, gateway: IPAddress | None = None, dev: str | None = None
    ) -> bool:
        # The request carries scope "universe" (iproute2 sends "nowhere" = any), so IPv4 routes
        # the kernel made for an address (scope link) never match: only routes like add_route's.
        def op(ipr: Any) -> None:
            ipr.route("del", **_route_args(ipr, dst, gateway, dev))

        return self._delete(ns, f"delete route {dst}{_via(gateway, dev)}", op)

    def list_routes(self, ns: NsRef, version: int = 4) -> list[IPNetwork]:
        family, zero = (2, "0.0.0.0") if version == 4 else (10, "::")

        def op(ipr: Any) -> list[IPNetwork]:
            found: dict[IPNetwork, None] = {}
            for msg in ipr.route("dump", family=family):
                if msg.get("table") == _RT_TABLE_LOCAL or msg["type"] in _RTN_SKIPPED:
                    continue
                found[ip_network(f"{msg.get('dst') or zero}/{msg['dst_len']}")] = None
            return list(found)

        return self._run(ns, f"list IPv{version} routes", op)

    # --- sockets -------------------------------------------------------------------------------

    def close(self, ns: NsRef) -> None:
        self._worker.submit(self._close, ns).result()

    def shutdown(self) -> None:
        """Close every socket and stop the worker thread (the adapter is unusable afterwards)."""

        def close_all() -> None:
            for key in list(self._sockets):
                self._close(key)

        self._worker.submit(close_all).result()
        self._worker.shutdown()

    # --- internals (the _run/_delete callers' ops and everything below run on the worker) ------

    def _run(self, ns: NsRef, what: str, op: Callable[[Any], T]) -> T:
        return self._worker.submit(self._call, ns, what, op).result()

    def _delete(self, ns: NsRef, what: str, op: Callable[[Any], object]) -> bool:
        try:
            self._run(ns, what, op)
        except KernelError as err:
            if err.errno in _GONE:
                return False
            raise
        return True

    def _call(self, ns: NsRef, what: str, op: Callable[[Any], T]) -> T:
        try:
            return op(self._socket(ns))
        except (NetlinkError, OSError) as err:
            raise KernelError(f"{what} in {self._where(ns)}", err) from err
        except ValueError as err:  # pyroute2 could not encode an argument (say, a bad MAC)
            bad = OSError(errno.EINVAL, f"invalid argument: {err}")
            raise KernelError(f"{what} in {self._where(ns)}", bad) from err

    def _socket(self, ns: NsRef) -> Any:
        path = ns if ns is not None else self._host_ns
        identity = None
        if path is not None:
            try:
                st = os.stat(path)
            except OSError as err:
                self._close(ns)  # its namespace is gone: let the socket (and the netns) go
                raise KernelError(f"netns {path}", err) from err
            identity = (st.st_dev, st.st_ino)
        cached = self._sockets.get(ns)
        if cached is not None and cached.identity == identity:
            return cached.ipr
        if cached is not None:
            # The file now names another namespace (removed and re-created): drop the old socket.
            self._close(ns)
        with in_netns(path):
            ipr = IPRoute()
        self._sockets[ns] = _Socket(ipr, identity)
        return ipr

    def _close(self, ns: NsRef) -> None:
        cached = self._sockets.pop(ns, None)
        if cached is not None:
            cached.ipr.close()

    @contextmanager
    def _netns_fd(self, ns: NsRef) -> Iterator[int]:
        """An fd of ``ns`` for IFLA_NET_NS_FD (the worker's own netns is the host's)."""
        path = ns if ns is not None else (self._host_ns or THREAD_NETNS)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            raise KernelError(f"open netns {path}", err) from err
        try:
            yield fd
        finally:
            os.close(fd)

    def _set_alias(self, ipr: Any, name: str, alias: str | None) -> None:
        # The kernel ignores IFLA_IFALIAS in a create request, so the alias costs a second one.
        if alias is None:
            return
        try:
            ipr.link("set", ifname=name, ifalias=alias)
        except NetlinkError:
            with suppress(NetlinkError):
                ipr.link("del", ifname=name)
            raise

    def _where(self, ns: NsRef) -> str:
        return ns or self._host_ns or "the host netns"


def _opt(**values: object) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _index(ipr: Any, name: str) -> int:
    return int(ipr.link("get", ifname=name)[0]["index"])


def _link_info(msg: Any, names: dict[int, str]) -> LinkInfo:
    master = msg.get("master")
    return LinkInfo(
        name=msg.get("ifname"),
        index=msg["index"],
        kind=msg.get(("linkinfo", "kind")) or "",
        mac=msg.get("address") or "",
        mtu=msg.get("mtu"),
        up=bool(msg["flags"] & _IFF_UP),
        master=names.get(master) if master else None,
        alias=msg.get("ifalias"),
    )


def _addr_args(address: IPInterface, *, adding: bool) -> dict[str, Any]:
    args: dict[str, Any] = {"address": str(address.ip), "prefixlen": address.network.prefixlen}
    if adding and address.version == 6:
        # Addresses come from IPAM, so duplicate detection only delays them (~1 s tentative).
        args["flags"] = _IFA_F_NODAD
    if adding and address.version == 4 and address.network.prefixlen < 31:
        args["broadcast"] = str(address.network.broadcast_address)
    return args


def _route_args(
    ipr: Any, dst: IPNetwork, gateway: IPAddress | None, dev: str | None
) -> dict[str, Any]:
    args: dict[str, Any] = {"dst": str(dst), "family": 2 if dst.version == 4 else 10}
    if gateway is not None:
        args["gateway"] = str(gateway)
    if dev is not None:
        args["oif"] = _index(ipr, dev)
    return args


def _via(gateway: IPAddress | None, dev: str | None) -> str:
    return (f" via {gateway}" if gateway else "") + (f" dev {dev}" if dev else "")
