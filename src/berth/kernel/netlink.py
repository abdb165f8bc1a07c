"""rtnetlink: links, addresses and routes in the host netns or a sandbox netns.

Owns: one ``RtnlSocket`` per namespace, opened with ``in_netns`` (a netlink socket made while
the thread is inside a netns stays bound to it, whichever thread uses it later), the requests
each operation sends (``rtnl`` packs them), the translation of errors into ``KernelError``, and
detached veth pairs (``reaper`` deletes them in the background). Must not: fork (pyroute2's
``netns=`` does), move links between namespaces (a move costs ~20 ms; veth peers are created in
place), or switch a caller's thread into another namespace for longer than opening a socket.

Threading: requests are serialised by one lock (a netlink socket carries one exchange at a
time); the reaper deletes on its own socket, so a deletion in progress never holds callers up.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from ipaddress import ip_address, ip_interface, ip_network
from typing import TypeVar

from berth.kernel import rtnl
from berth.kernel.api import IPAddress, IPInterface, IPNetwork, LinkInfo, NsRef
from berth.kernel.netns import THREAD_NETNS, in_netns
from berth.kernel.reaper import LinkReaper, retire
from berth.kernel.rtnl import Request, RtnlSocket
from berth.model.errors import KernelError

T = TypeVar("T")

_RT_TABLE_LOCAL = 255
_RTN_SKIPPED = {2, 3, 4, 5}  # local, broadcast, anycast, multicast: the kernel's own entries
_GONE = {errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL}
_CREATE = rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL


class PyrouteNetlink:
    """``Netlink`` for the namespaces of one host (``host_ns``: path, or None for the netns of
    the thread that builds the adapter). Call ``shutdown`` when done with the adapter.
    (The name is historical: ``rtnl`` packs the requests; pyroute2 is the test oracle.)"""

    def __init__(self, host_ns: str | None = None) -> None:
        self._host_ns = host_ns
        # host_ns None means the builder's netns: keep an fd of it to open sockets there later
        self._host_fd = -1 if host_ns else os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
        self._lock = threading.Lock()
        self._sockets: dict[NsRef, tuple[RtnlSocket, tuple[int, int] | None]] = {}
        self._reaper = LinkReaper(lambda: self._open(None))

    # --- links ---------------------------------------------------------------------------------

    def add_bridge(
        self,
        ns: NsRef,
        name: str,
        *,
        mtu: int | None = None,
        alias: str | None = None,
        mac: str | None = None,
    ) -> None:
        def op(sock: RtnlSocket) -> None:
            info = rtnl.nested(rtnl.IFLA_LINKINFO, [rtnl.asciiz(rtnl.IFLA_INFO_KIND, "bridge")])
            # an address given at creation is the bridge id too: the kernel then never
            # replaces it with a port's address
            extra = rtnl.mtu(mtu) + _mac(mac) + info
            sock.call(Request(rtnl.RTM_NEWLINK, rtnl.link(name, extra=extra), _CREATE))
            _finish_new_link(sock, name, _alias(alias))

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
        master: str | None = None,
        up: bool = False,
        hairpin: bool | None = None,
        isolated: bool | None = None,
    ) -> None:
        def op(sock: RtnlSocket) -> None:
            peer = rtnl.link(peer_name, extra=rtnl.mtu(mtu) + _mac(peer_mac))
            change = rtnl.mtu(mtu)
            if master is not None:
                change += rtnl.u32(rtnl.IFLA_MASTER, sock.get_link(master).index)
            with self._netns_fd(peer_ns) if peer_ns != ns else nullcontext(-1) as fd:
                peer += rtnl.u32(rtnl.IFLA_NET_NS_FD, fd) if fd >= 0 else b""
                data = rtnl.nested(rtnl.IFLA_INFO_DATA, [rtnl.attr(rtnl.VETH_INFO_PEER, peer)])
                kind = rtnl.asciiz(rtnl.IFLA_INFO_KIND, "veth")
                change += rtnl.nested(rtnl.IFLA_LINKINFO, [kind, data])
                # One request: the kernel creates both ends, sets this one up, then enslaves it
                # (and unregisters the pair if any of that fails). The peer cannot be set up here.
                body = rtnl.link(name, up=True if up else None, extra=change)
                sock.call(Request(rtnl.RTM_NEWLINK, body, _CREATE))
            extra = _alias(alias) + rtnl.port_flags(hairpin=hairpin, isolated=isolated)
            _finish_new_link(sock, name, extra)

        self._run(ns, f"add veth {name} (peer {peer_name} in {self._where(peer_ns)})", op)

    def delete_link(self, ns: NsRef, name: str) -> bool:
        return self._delete(
            ns,
            f"delete link {name}",
            lambda sock: sock.call(Request(rtnl.RTM_DELLINK, rtnl.link(name))),
        )

    def detach_veth(
        self, ns: NsRef, name: str, *, peer_ns: NsRef, peer_name: str, alias: str | None = None
    ) -> bool:
        def op(sock: RtnlSocket) -> bool:
            link = sock.get_link(name)
            index, peer_index = link.index, rtnl.number(link.attrs.get(rtnl.IFLA_LINK))
            self._reaper.claim(index)
            try:
                retire(sock, index, group=self._reaper.group, alias=alias, leave_bridge=True)
                self._retire_peer(sock, ns, peer_index, peer_ns, peer_name)
            except (OSError, KernelError):
                # Could not take it out of service: delete it now (both ends go with it).
                sock.call(Request(rtnl.RTM_DELLINK, rtnl.link(index=index)))
            finally:
                self._reaper.submit(index)  # (already gone then: the reaper will see that)
            return True

        what = f"detach veth {name} (peer {peer_name} in {self._where(peer_ns)})"
        try:
            return self._run(ns, what, op)
        except KernelError as err:
            if err.errno in _GONE:
                return False
            raise

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until every pair handed to ``detach_veth`` is deleted; False on timeout."""
        return self._reaper.settle(timeout)

    def get_link(self, ns: NsRef, name: str) -> LinkInfo | None:
        def op(sock: RtnlSocket) -> LinkInfo | None:
            try:
                msg = sock.get_link(name)
            except OSError as err:
                if err.errno == errno.ENODEV:
                    return None
                raise
            master = rtnl.number(msg.attrs.get(rtnl.IFLA_MASTER))
            names = {master: sock.get_link(index=master).name} if master else {}
            return _link_info(msg, names)

        return self._run(ns, f"get link {name}", op)

    def list_links(self, ns: NsRef) -> list[LinkInfo]:
        def op(sock: RtnlSocket) -> list[LinkInfo]:
            msgs = rtnl.dump_links(sock)
            names = {msg.index: msg.name for msg in msgs}
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
        def op(sock: RtnlSocket) -> None:
            # One RTM_NEWLINK: the kernel applies address, MTU, master, then flags, in that order.
            change = rtnl.mtu(mtu) + _mac(mac)
            if master is not None:
                change += rtnl.u32(rtnl.IFLA_MASTER, sock.get_link(master).index)
            if change or up is not None:
                sock.call(Request(rtnl.RTM_NEWLINK, rtnl.link(name, up=up, extra=change)))

        self._run(ns, f"set link {name}", op)

    def set_bridge_port(
        self, ns: NsRef, name: str, *, isolated: bool | None = None, hairpin: bool | None = None
    ) -> None:
        flags = rtnl.port_flags(hairpin=hairpin, isolated=isolated)
        if flags:
            request = Request(rtnl.RTM_NEWLINK, rtnl.link(name, extra=flags))
            self._run(ns, f"set bridge port flags of {name}", lambda sock: sock.call(request))

    # --- addresses -----------------------------------------------------------------------------

    def add_address(self, ns: NsRef, name: str, address: IPInterface) -> None:
        def op(sock: RtnlSocket) -> None:
            body = rtnl.address(sock.get_link(name).index, address, adding=True)
            sock.call(Request(rtnl.RTM_NEWADDR, body, _CREATE))

        self._run(ns, f"add address {address} to {name}", op)

    def configure_link(self, ns: NsRef, name: str, *, addresses: Sequence[IPInterface]) -> None:
        def op(sock: RtnlSocket) -> None:
            index = sock.get_link(name).index
            adds = [
                Request(rtnl.RTM_NEWADDR, rtnl.address(index, a, adding=True), _CREATE)
                for a in addresses
            ]
            # One write: the kernel handles the requests in order, and goes on after a failure.
            up = Request(rtnl.RTM_NEWLINK, rtnl.link(index=index, up=True))
            *added, (up_error, _) = sock.request(*adds, up)
            errors = [error for error, _ in added]
            failed = [
                (f"add address {a} to {name}", e)
                for a, e in zip(addresses, errors, strict=True)
                if e
            ]
            failed += [(f"set link {name} up", up_error)] if up_error else []
            if not failed:
                return
            undo = [] if up_error else [Request(rtnl.RTM_NEWLINK, rtnl.link(index=index, up=False))]
            undo += [
                Request(rtnl.RTM_DELADDR, rtnl.address(index, a, adding=False))
                for a, error in zip(addresses, errors, strict=True)
                if error is None
            ]
            sock.request(*undo)  # best effort: the caller gives the link up anyway
            what, error = failed[0]
            raise KernelError(f"{what} in {self._where(ns)}", error) from error

        self._run(ns, f"configure link {name}", op)

    def delete_address(self, ns: NsRef, name: str, address: IPInterface) -> bool:
        def op(sock: RtnlSocket) -> None:
            body = rtnl.address(sock.get_link(name).index, address, adding=False)
            sock.call(Request(rtnl.RTM_DELADDR, body))

        return self._delete(ns, f"delete address {address} from {name}", op)

    def list_addresses(self, ns: NsRef, name: str | None = None) -> list[IPInterface]:
        def op(sock: RtnlSocket) -> list[IPInterface]:
            index = None if name is None else sock.get_link(name).index
            found = []
            for payload in sock.dump(rtnl.RTM_GETADDR, rtnl.ifaddr(0, 0, 0)):
                msg = rtnl.AddressMessage.parse(payload)
                if msg.address is not None and index in (None, msg.index):
                    found.append(ip_interface((ip_address(msg.address), msg.prefixlen)))
            return found

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
        def op(sock: RtnlSocket) -> None:
            oif = None if dev is None else sock.get_link(dev).index
            body = rtnl.route(dst, gateway=gateway, oif=oif, metric=metric, adding=True)
            sock.call(Request(rtnl.RTM_NEWROUTE, body, _CREATE))

        self._run(ns, f"add route {dst}{_via(gateway, dev)}", op)

    def delete_route(
        self, ns: NsRef, dst: IPNetwork, *, gateway: IPAddress | None = None, dev: str | None = None
    ) -> bool:
        def op(sock: RtnlSocket) -> None:
            oif = None if dev is None else sock.get_link(dev).index
            body = rtnl.route(dst, gateway=gateway, oif=oif, adding=False)
            sock.call(Request(rtnl.RTM_DELROUTE, body))

        return self._delete(ns, f"delete route {dst}{_via(gateway, dev)}", op)

    def list_routes(self, ns: NsRef, version: int = 4) -> list[IPNetwork]:
        family, zero = (2, bytes(4)) if version == 4 else (10, bytes(16))

        def op(sock: RtnlSocket) -> list[IPNetwork]:
            found: dict[IPNetwork, None] = {}
            for payload in sock.dump(rtnl.RTM_GETROUTE, rtnl.rtmsg(family, 0)):
                msg = rtnl.RouteMessage.parse(payload)
                if msg.table == _RT_TABLE_LOCAL or msg.kind in _RTN_SKIPPED:
                    continue
                found[ip_network((ip_address(msg.dst or zero), msg.dst_len))] = None
            return list(found)

        return self._run(ns, f"list IPv{version} routes", op)

    # --- sockets -------------------------------------------------------------------------------

    def close(self, ns: NsRef) -> None:
        with self._lock:
            self._close(ns)

    def shutdown(self) -> None:
        """Finish the background deletions, close every socket (the adapter is unusable
        afterwards)."""
        self._reaper.close()
        with self._lock:
            for key in list(self._sockets):
                self._close(key)
            if self._host_fd >= 0:
                os.close(self._host_fd)
                self._host_fd = -1

    # --- internals -----------------------------------------------------------------------------

    def _run(self, ns: NsRef, what: str, op: Callable[[RtnlSocket], T]) -> T:
        with self._lock:
            try:
                return op(self._socket(ns))
            except OSError as err:
                raise KernelError(f"{what} in {self._where(ns)}", err) from err
            except ValueError as err:  # an argument that cannot be encoded (say, a bad MAC)
                bad = OSError(errno.EINVAL, f"invalid argument: {err}")
                raise KernelError(f"{what} in {self._where(ns)}", bad) from err

    def _delete(self, ns: NsRef, what: str, op: Callable[[RtnlSocket], object]) -> bool:
        try:
            self._run(ns, what, op)
        except KernelError as err:
            if err.errno in _GONE:
                return False
            raise
        return True

    def _socket(self, ns: NsRef) -> RtnlSocket:
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
        if cached is not None and cached[1] == identity:
            return cached[0]
        if cached is not None:
            # The file now names another namespace (removed and re-created): drop the old socket.
            self._close(ns)
        sock = self._open(ns)
        self._sockets[ns] = (sock, identity)
        return sock

    def _open(self, ns: NsRef) -> RtnlSocket:
        with in_netns(ns if ns is not None else (self._host_ns or self._host_fd)):
            return RtnlSocket()

    def _close(self, ns: NsRef) -> None:
        cached = self._sockets.pop(ns, None)
        if cached is not None:
            cached[0].close()

    def _retire_peer(
        self, sock: RtnlSocket, ns: NsRef, index: int | None, peer_ns: NsRef, peer_name: str
    ) -> None:
        """Retire ``peer_name`` in ``peer_ns`` if it is the link ``index`` there (the other end
        of the pair being detached, by the host end's IFLA_LINK)."""
        try:
            peer_sock = sock if peer_ns == ns else self._socket(peer_ns)
            peer = peer_sock.get_link(peer_name)
        except (OSError, KernelError) as err:
            if err.errno in _GONE:
                return  # gone (with its namespace, say): nothing left to take out of service
            raise
        if peer.index == index:
            retire(peer_sock, peer.index)

    @contextmanager
    def _netns_fd(self, ns: NsRef) -> Iterator[int]:
        """An fd of ``ns`` for IFLA_NET_NS_FD."""
        if ns is None and self._host_fd >= 0:
            yield self._host_fd
            return
        path = ns if ns is not None else (self._host_ns or THREAD_NETNS)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            raise KernelError(f"open netns {path}", err) from err
        try:
            yield fd
        finally:
            os.close(fd)

    def _where(self, ns: NsRef) -> str:
        return ns or self._host_ns or "the host netns"


def _finish_new_link(sock: RtnlSocket, name: str, change: bytes) -> None:
    """Attributes the kernel ignores in a create request (the alias, bridge-port flags) go in a
    second one; if that fails, the new link goes too (the call is all or nothing)."""
    if not change:
        return
    try:
        sock.call(Request(rtnl.RTM_NEWLINK, rtnl.link(name, extra=change)))
    except OSError:
        with suppress(OSError):
            sock.call(Request(rtnl.RTM_DELLINK, rtnl.link(name)))
        raise


def _alias(alias: str | None) -> bytes:
    return rtnl.asciiz(rtnl.IFLA_IFALIAS, alias) if alias else b""


def _mac(mac: str | None) -> bytes:
    return rtnl.mac(rtnl.IFLA_ADDRESS, mac) if mac is not None else b""


def _link_info(msg: rtnl.LinkMessage, names: dict[int, str]) -> LinkInfo:
    master = rtnl.number(msg.attrs.get(rtnl.IFLA_MASTER))
    return LinkInfo(
        name=msg.name,
        index=msg.index,
        kind=msg.kind,
        mac=msg.mac,
        mtu=rtnl.number(msg.attrs.get(rtnl.IFLA_MTU)) or 0,
        up=bool(msg.flags & rtnl.IFF_UP),
        master=names.get(master) if master else None,
        alias=rtnl.text(msg.attrs.get(rtnl.IFLA_IFALIAS)),
    )


def _via(gateway: IPAddress | None, dev: str | None) -> str:
    return (f" via {gateway}" if gateway else "") + (f" dev {dev}" if dev else "")
