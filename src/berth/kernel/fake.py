"""An in-memory kernel for unit tests: remembers namespaces, links, addresses, routes, sysctls,
nft scripts, conntrack entries and busy ports, and fails like the kernel does.

Owns: a model faithful enough that driver and controller logic (creation order, rollback,
teardown, "already gone") is tested without root. Must not: pretend to parse nft scripts (they are
recorded verbatim; golden files test renderings) or grow behaviour the real adapters lack.

Errors are ``KernelError`` with the kernel's errno: EEXIST for an existing link, address, route or
netns path; ENODEV for a missing device; ENOENT for a missing namespace or sysctl; ENETUNREACH
(IPv4) / EHOSTUNREACH (IPv6) for a gateway without an on-link prefix; ENETDOWN for a device route
over a down link; ERANGE for an interface name over 15 characters; EOPNOTSUPP for a master that
is not a bridge or bridge-port flags on a link that is not a port.

Kernel behaviours modelled: a new netns has ``lo`` up with 127.0.0.1/8 and ::1/128; deleting one
veth end deletes its peer; deleting a netns deletes its links (and their peers elsewhere); a
bridge's deletion frees its ports; taking a link down drops its routes and its IPv6 addresses;
prefix ("connected") routes exist for addresses on up links; each link has per-interface
``net/ipv4/conf/<name>/*`` and ``net/ipv6/conf/<name>/*`` sysctls; ``add_veth`` and
``configure_link`` are all or nothing. ``detach_veth`` deletes the pair at once: the state the real
adapter reaches when its background deletion is done. Not modelled: IPv6 link-local addresses,
carrier, rename (so neither the retired, renamed ends a real detach leaves for a few ms).
"""

from __future__ import annotations

import builtins
import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from ipaddress import ip_interface
from typing import Any

from berth.kernel.api import (
    Conntrack,
    IPAddress,
    IPInterface,
    IPNetwork,
    Kernel,
    LinkInfo,
    Netlink,
    Netns,
    Nftables,
    NsRef,
    Ports,
    Proto,
    Sysctl,
)
from berth.model.errors import KernelError

HOST = "/fake/host"

_NS_SYSCTLS = {
    "net/ipv4/ip_forward": "0",
    "net/ipv4/ip_local_port_range": "32768\t60999",
    "net/ipv4/ip_local_reserved_ports": "",
    "net/ipv4/ip_unprivileged_port_start": "1024",
    "net/ipv4/ping_group_range": "1\t0",
}
_IPV4_CONF = {
    "forwarding": "0",
    "route_localnet": "0",
    "rp_filter": "0",
    "proxy_arp": "0",
    "accept_local": "0",
    "send_redirects": "1",
}
_IPV6_CONF = {"disable_ipv6": "0", "forwarding": "0", "accept_ra": "1", "accept_dad": "1"}
_PROTOCOLS = (Netns, Netlink, Nftables, Sysctl, Conntrack, Ports)
_METHODS = frozenset(name for p in _PROTOCOLS for name in vars(p) if not name.startswith("_"))


def kernel_error(code: int, what: str) -> KernelError:
    """A KernelError as the real adapters raise it: errno kept, OSError chained."""
    cause = OSError(code, os.strerror(code))
    error = KernelError(what, cause)
    error.__cause__ = cause
    return error


@dataclass(frozen=True)
class FakeConntrackEntry:
    proto: Proto
    orig_src: IPAddress
    orig_dst: IPAddress
    orig_sport: int
    orig_dport: int
    reply_src: IPAddress  # differs from orig_dst after DNAT


@dataclass(frozen=True)
class FakeLink:
    """A link as ``snapshot`` shows it (peer = (namespace, name) of a veth's other end)."""

    info: LinkInfo
    addresses: tuple[IPInterface, ...]
    peer: tuple[str, str] | None
    isolated: bool
    hairpin: bool


@dataclass(frozen=True)
class FakeRoute:
    dst: IPNetwork
    gateway: IPAddress | None
    dev: str
    metric: int


@dataclass(frozen=True)
class FakeNamespace:
    path: str
    links: tuple[FakeLink, ...]
    routes: tuple[FakeRoute, ...]
    sysctls: tuple[tuple[str, str], ...]
    conntrack: tuple[FakeConntrackEntry, ...]


@dataclass(frozen=True)
class FakeSnapshot:
    """All state, equal-comparable and hashable. ``nft_scripts`` is () unless asked for."""

    namespaces: tuple[FakeNamespace, ...]
    ports: frozenset[tuple[str, str, IPAddress, int]]
    nft_scripts: tuple[str, ...] = ()


@dataclass
class _Link:
    info: LinkInfo
    addresses: list[IPInterface] = field(default_factory=list)
    peer: tuple[str, int] | None = None  # (namespace, index)
    isolated: bool = False
    hairpin: bool = False


@dataclass
class _Namespace:
    path: str
    links: dict[str, _Link] = field(default_factory=dict)
    routes: list[FakeRoute] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=lambda: dict(_NS_SYSCTLS))
    conntrack: list[FakeConntrackEntry] = field(default_factory=list)
    last_index: int = 0

    def by_index(self, index: int) -> _Link | None:
        return next((link for link in self.links.values() if link.info.index == index), None)


@dataclass
class _Fault:
    method: str
    error: BaseException
    countdown: int


class FakeKernel:
    """Implements Netns, Netlink, Nftables, Sysctl, Conntrack and Ports over one shared state.
    ``None`` as a namespace means the fake host, ``HOST``."""

    def __init__(self) -> None:
        self._namespaces: dict[str, _Namespace] = {}
        self._faults: builtins.list[_Fault] = []
        self._macs = 0
        self.ports: set[tuple[str, str, IPAddress, int]] = set()
        self.nft_scripts: builtins.list[str] = []  # every script applied, in order
        self.calls: builtins.list[tuple[str, dict[str, Any]]] = []  # every adapter call
        self._new_namespace(HOST)

    def kernel(self) -> Kernel:
        return Kernel(netns=self, netlink=self, nft=self, sysctl=self, conntrack=self, ports=self)

    # --- test controls -------------------------------------------------------------------------

    def fail_next(self, method: str, error: BaseException | None = None, after: int = 0) -> None:
        """Make the (after+1)-th next call of adapter ``method`` raise ``error`` (default: a
        KernelError with EIO) without changing any state."""
        if method not in _METHODS or after < 0:
            raise ValueError(f"cannot inject a failure into {method!r} after {after} calls")
        fault = error or kernel_error(errno.EIO, f"injected failure of {method}")
        self._faults.append(_Fault(method, fault, after))

    def clear_faults(self) -> None:
        """Forget every pending ``fail_next``."""
        self._faults.clear()

    def hold_port(self, ns: NsRef, proto: Proto, ip: IPAddress, port: int) -> None:
        """Pretend a socket in ``ns`` holds proto ip:port (0.0.0.0/:: for a wildcard bind)."""
        self.ports.add((ns or HOST, proto, ip, port))

    def add_conntrack(self, ns: NsRef, entry: FakeConntrackEntry) -> None:
        self._ns(ns, "add conntrack entry").conntrack.append(entry)

    def conntrack_entries(self, ns: NsRef) -> builtins.list[FakeConntrackEntry]:
        return builtins.list(self._ns(ns, "list conntrack entries").conntrack)

    def define_sysctl(self, ns: NsRef, key: str, value: str) -> None:
        """Make a key exist (e.g. net/bridge/bridge-nf-call-iptables, present with br_netfilter)."""
        self._ns(ns, f"define sysctl {key}").sysctls[key] = value

    def snapshot(self, *, include_nft: bool = False) -> FakeSnapshot:
        spaces = tuple(self._freeze(space) for _, space in sorted(self._namespaces.items()))
        scripts = tuple(self.nft_scripts) if include_nft else ()
        return FakeSnapshot(spaces, frozenset(self.ports), scripts)

    # --- Netns ---------------------------------------------------------------------------------

    def create(self, path: str) -> None:
        self._enter("create", path=path)
        if path in self._namespaces:
            raise kernel_error(errno.EEXIST, f"create netns file {path}")
        self._new_namespace(path)

    def remove(self, path: str) -> bool:
        self._enter("remove", path=path)
        space = self._namespaces.get(path)
        if space is None:
            return False
        for name in builtins.list(space.links):
            if name in space.links:
                self._delete_link(space, name)
        del self._namespaces[path]
        self.ports = {p for p in self.ports if p[0] != path}
        return True

    def exists(self, path: str) -> bool:
        self._enter("exists", path=path)
        return path in self._namespaces

    def list(self, directory: str) -> builtins.list[str]:
        self._enter("list", directory=directory)
        directory = directory.rstrip("/")
        return sorted(p for p in self._namespaces if os.path.dirname(p) == directory)

    # --- Netlink: links ------------------------------------------------------------------------

    def add_bridge(
        self,
        ns: NsRef,
        name: str,
        *,
        mtu: int | None = None,
        alias: str | None = None,
        mac: str | None = None,
    ) -> None:
        self._enter("add_bridge", ns=ns, name=name, mtu=mtu, alias=alias, mac=mac)
        space = self._ns(ns, f"add bridge {name}")
        self._check_new_link(space, name, mtu)
        if mac is not None:
            _check_mac(mac, f"add bridge {name}")
        self._add_link(space, name, "bridge", mtu=mtu, mac=mac, alias=alias)

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
        args = {"peer_ns": peer_ns, "peer_name": peer_name, "peer_mac": peer_mac, "alias": alias}
        port = {"master": master, "up": up, "hairpin": hairpin, "isolated": isolated}
        self._enter("add_veth", ns=ns, name=name, mtu=mtu, **args, **port)
        what = f"add veth {name} (peer {peer_name})"
        space = self._ns(ns, f"add veth {name}")
        peer_space = self._ns(peer_ns, what)
        self._check_new_link(space, name, mtu)
        self._check_new_link(peer_space, peer_name, mtu)
        if space is peer_space and name == peer_name:
            raise kernel_error(errno.EEXIST, what)
        if peer_mac is not None:
            _check_mac(peer_mac, what)
        if master is not None and self._link(space, master, what).info.kind != "bridge":
            raise kernel_error(errno.EOPNOTSUPP, what)
        if master is None and (hairpin is not None or isolated is not None):
            raise kernel_error(errno.EOPNOTSUPP, what)  # bridge-port flags need a bridge
        end = self._add_link(space, name, "veth", mtu=mtu, alias=alias)
        other = self._add_link(peer_space, peer_name, "veth", mtu=mtu, mac=peer_mac)
        end.peer = (peer_space.path, other.info.index)
        other.peer = (space.path, end.info.index)
        end.info = replace(end.info, master=master, up=up)
        end.hairpin, end.isolated = bool(hairpin), bool(isolated)

    def delete_link(self, ns: NsRef, name: str) -> bool:
        self._enter("delete_link", ns=ns, name=name)
        space = self._namespaces.get(ns or HOST)
        if space is None or name not in space.links:
            return False
        self._delete_link(space, name)
        return True

    def detach_veth(
        self, ns: NsRef, name: str, *, peer_ns: NsRef, peer_name: str, alias: str | None = None
    ) -> bool:
        self._enter(
            "detach_veth", ns=ns, name=name, peer_ns=peer_ns, peer_name=peer_name, alias=alias
        )
        space = self._namespaces.get(ns or HOST)
        if space is None or name not in space.links:
            return False
        self._delete_link(space, name)
        return True

    def get_link(self, ns: NsRef, name: str) -> LinkInfo | None:
        self._enter("get_link", ns=ns, name=name)
        link = self._ns(ns, f"get link {name}").links.get(name)
        return None if link is None else link.info

    def list_links(self, ns: NsRef) -> builtins.list[LinkInfo]:
        self._enter("list_links", ns=ns)
        links = self._ns(ns, "list links").links.values()
        return sorted((link.info for link in links), key=lambda info: info.index)

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
        self._enter("set_link", ns=ns, name=name, up=up, master=master, mtu=mtu, mac=mac)
        what = f"set link {name}"
        space = self._ns(ns, what)
        link = self._link(space, name, what)
        was_up = link.info.up
        if master is not None:
            bridge = self._link(space, master, what)
            if bridge.info.kind != "bridge":
                raise kernel_error(errno.EOPNOTSUPP, what)
        if mtu is not None:
            _check_mtu(mtu, what)
        if mac is not None:
            _check_mac(mac, what)
        link.info = replace(
            link.info,
            mtu=link.info.mtu if mtu is None else mtu,
            mac=link.info.mac if mac is None else mac.lower(),
            master=link.info.master if master is None else master,
            up=link.info.up if up is None else up,
        )
        if was_up and up is False:
            space.routes = [route for route in space.routes if route.dev != name]
            link.addresses = [a for a in link.addresses if a.version == 4]

    def set_bridge_port(
        self, ns: NsRef, name: str, *, isolated: bool | None = None, hairpin: bool | None = None
    ) -> None:
        self._enter("set_bridge_port", ns=ns, name=name, isolated=isolated, hairpin=hairpin)
        what = f"set bridge port flags of {name}"
        link = self._link(self._ns(ns, what), name, what)
        if link.info.master is None:
            raise kernel_error(errno.EOPNOTSUPP, what)
        link.isolated = link.isolated if isolated is None else isolated
        link.hairpin = link.hairpin if hairpin is None else hairpin

    # --- Netlink: addresses --------------------------------------------------------------------

    def add_address(self, ns: NsRef, name: str, address: IPInterface) -> None:
        self._enter("add_address", ns=ns, name=name, address=address)
        what = f"add address {address} to {name}"
        link = self._link(self._ns(ns, what), name, what)
        same_ip = [a for a in link.addresses if a.ip == address.ip]
        if address in same_ip or (address.version == 6 and same_ip):
            raise kernel_error(errno.EEXIST, what)
        link.addresses.append(address)

    def configure_link(self, ns: NsRef, name: str, *, addresses: Sequence[IPInterface]) -> None:
        self._enter("configure_link", ns=ns, name=name, addresses=tuple(addresses))
        what = f"configure link {name}"
        link = self._link(self._ns(ns, what), name, what)
        for n, address in enumerate(addresses):  # all checked first: all or nothing
            same_ip = [a for a in [*link.addresses, *addresses[:n]] if a.ip == address.ip]
            if address in same_ip or (address.version == 6 and same_ip):
                raise kernel_error(errno.EEXIST, f"add address {address} to {name}")
        link.addresses.extend(addresses)
        link.info = replace(link.info, up=True)

    def delete_address(self, ns: NsRef, name: str, address: IPInterface) -> bool:
        self._enter("delete_address", ns=ns, name=name, address=address)
        space = self._namespaces.get(ns or HOST)
        link = None if space is None else space.links.get(name)
        if link is None or address not in link.addresses:
            return False
        link.addresses.remove(address)
        return True

    def list_addresses(self, ns: NsRef, name: str | None = None) -> builtins.list[IPInterface]:
        self._enter("list_addresses", ns=ns, name=name)
        what = f"list addresses of {name or 'all links'}"
        space = self._ns(ns, what)
        if name is not None:
            return builtins.list(self._link(space, name, what).addresses)
        links = sorted(space.links.values(), key=lambda link: link.info.index)
        return [address for link in links for address in link.addresses]

    # --- Netlink: routes -----------------------------------------------------------------------

    def add_route(
        self,
        ns: NsRef,
        dst: IPNetwork,
        *,
        gateway: IPAddress | None = None,
        dev: str | None = None,
        metric: int | None = None,
    ) -> None:
        self._enter("add_route", ns=ns, dst=dst, gateway=gateway, dev=dev, metric=metric)
        what = f"add route {dst}"
        space = self._ns(ns, what)
        if metric is None:
            metric = 0 if dst.version == 4 else 1024
        if dev is not None:
            link = self._link(space, dev, what)
            if not link.info.up:
                raise kernel_error(errno.ENETDOWN, what)
        if gateway is not None:
            if gateway.version != dst.version:
                raise kernel_error(errno.EINVAL, what)
            dev = self._on_link(space, gateway, dev, what)
        elif dev is None:
            raise kernel_error(errno.ENODEV, what)
        existing = space.routes + _connected(space)
        if any(r.dst == dst and r.metric == metric for r in existing):
            raise kernel_error(errno.EEXIST, what)
        space.routes.append(FakeRoute(dst, gateway, dev, metric))

    def delete_route(
        self, ns: NsRef, dst: IPNetwork, *, gateway: IPAddress | None = None, dev: str | None = None
    ) -> bool:
        self._enter("delete_route", ns=ns, dst=dst, gateway=gateway, dev=dev)
        space = self._namespaces.get(ns or HOST)
        if space is None:
            return False
        for route in space.routes:
            if route.dst == dst and gateway in (None, route.gateway) and dev in (None, route.dev):
                space.routes.remove(route)
                return True
        return False

    def list_routes(self, ns: NsRef, version: int = 4) -> builtins.list[IPNetwork]:
        self._enter("list_routes", ns=ns, version=version)
        space = self._ns(ns, f"list IPv{version} routes")
        found = {r.dst: None for r in _connected(space) + space.routes if r.dst.version == version}
        return builtins.list(found)

    def close(self, ns: NsRef) -> None:
        self._enter("close", ns=ns)

    # --- Nftables, Sysctl, Conntrack, Ports ----------------------------------------------------

    def run(self, script: str) -> str:
        self._enter("run", script=script)
        self.nft_scripts.append(script)
        return ""

    def read(self, ns: NsRef, key: str) -> str:
        self._enter("read", ns=ns, key=key)
        what = f"read sysctl {key}"
        return self._ns(ns, what).sysctls[self._sysctl_key(ns, key, what)]

    def write(self, ns: NsRef, key: str, value: str) -> None:
        self._enter("write", ns=ns, key=key, value=value)
        what = f"write sysctl {key}={value}"
        space = self._ns(ns, what)
        key = self._sysctl_key(ns, key, what)
        value = _sysctl_value(space.sysctls[key], value, what)
        space.sysctls[key] = value
        if key == "net/ipv4/ip_forward":  # the kernel copies it into every conf/*/forwarding
            for name in space.sysctls:
                if name.startswith("net/ipv4/conf/") and name.endswith("/forwarding"):
                    space.sysctls[name] = value

    def flush(
        self,
        ns: NsRef,
        *,
        proto: Proto | None = None,
        orig_dst: IPAddress | None = None,
        orig_dport: int | None = None,
        reply_src: IPAddress | None = None,
    ) -> int:
        wanted = {
            "proto": proto,
            "orig_dst": orig_dst,
            "orig_dport": orig_dport,
            "reply_src": reply_src,
        }
        self._enter("flush", ns=ns, **wanted)
        space = self._ns(ns, "flush conntrack entries")
        keep = [
            entry
            for entry in space.conntrack
            if any(v is not None and getattr(entry, k) != v for k, v in wanted.items())
        ]
        deleted = len(space.conntrack) - len(keep)
        space.conntrack = keep
        return deleted

    def in_use(self, ns: NsRef, proto: Proto, host_ip: IPAddress, port: int) -> bool:
        self._enter("in_use", ns=ns, proto=proto, host_ip=host_ip, port=port)
        space = self._ns(ns, f"probe {proto} {host_ip} port {port}")
        if not host_ip.is_unspecified and not _is_local(space, host_ip):
            raise kernel_error(errno.EADDRNOTAVAIL, f"probe {proto} {host_ip} port {port}")
        return any(
            held_ns == space.path
            and held_proto == proto
            and held_port == port
            and held_ip.version == host_ip.version
            and (host_ip.is_unspecified or held_ip.is_unspecified or held_ip == host_ip)
            for held_ns, held_proto, held_ip, held_port in self.ports
        )

    # --- internals -----------------------------------------------------------------------------

    def _enter(self, method: str, **args: Any) -> None:
        self.calls.append((method, args))
        due = None
        for fault in self._faults:
            if fault.method != method:
                continue
            if fault.countdown == 0 and due is None:
                due = fault
            elif fault.countdown > 0:
                fault.countdown -= 1
        if due is not None:
            self._faults.remove(due)
            raise due.error

    def _ns(self, ns: NsRef, what: str) -> _Namespace:
        space = self._namespaces.get(ns or HOST)
        if space is None:
            raise kernel_error(errno.ENOENT, f"{what} in netns {ns}")
        return space

    def _link(self, space: _Namespace, name: str, what: str) -> _Link:
        link = space.links.get(name)
        if link is None:
            raise kernel_error(errno.ENODEV, f"{what} in {space.path}")
        return link

    def _new_namespace(self, path: str) -> None:
        space = self._namespaces[path] = _Namespace(path)
        _add_conf_sysctls(space, "all")
        _add_conf_sysctls(space, "default")
        lo = self._add_link(space, "lo", "", mtu=65536, mac="00:00:00:00:00:00")
        lo.info = replace(lo.info, up=True)
        lo.addresses += [ip_interface("127.0.0.1/8"), ip_interface("::1/128")]

    def _check_new_link(self, space: _Namespace, name: str, mtu: int | None) -> None:
        what = f"add link {name} in {space.path}"
        if len(name) > 15:
            raise kernel_error(errno.ERANGE, what)
        if not name or name in (".", "..") or any(c in name for c in "/: \t\n"):
            raise kernel_error(errno.EINVAL, what)
        if mtu is not None:
            _check_mtu(mtu, what)
        if name in space.links:
            raise kernel_error(errno.EEXIST, what)

    def _add_link(
        self,
        space: _Namespace,
        name: str,
        kind: str,
        *,
        mtu: int | None = None,
        mac: str | None = None,
        alias: str | None = None,
    ) -> _Link:
        space.last_index += 1
        if mac is None:
            self._macs += 1
            mac = "02:fa:ce:" + ":".join(f"{(self._macs >> s) & 0xFF:02x}" for s in (16, 8, 0))
        info = LinkInfo(name, space.last_index, kind, mac.lower(), mtu or 1500, False, None, alias)
        link = space.links[name] = _Link(info)
        _add_conf_sysctls(space, name)
        return link

    def _delete_link(self, space: _Namespace, name: str) -> None:
        link = space.links.pop(name)
        space.routes = [route for route in space.routes if route.dev != name]
        prefixes = (f"net/ipv4/conf/{name}/", f"net/ipv6/conf/{name}/")
        for key in [key for key in space.sysctls if key.startswith(prefixes)]:
            del space.sysctls[key]
        for port in space.links.values():
            if port.info.master == name:
                port.info = replace(port.info, master=None)
                port.isolated = port.hairpin = False
        if link.peer is not None:
            peer_space = self._namespaces.get(link.peer[0])
            peer = None if peer_space is None else peer_space.by_index(link.peer[1])
            if peer_space is not None and peer is not None:
                peer.peer = None
                self._delete_link(peer_space, peer.info.name)

    def _on_link(self, space: _Namespace, gateway: IPAddress, dev: str | None, what: str) -> str:
        for link in space.links.values():
            if not link.info.up or link.info.kind == "" or dev not in (None, link.info.name):
                continue
            if any(gateway in a.network for a in link.addresses):
                return link.info.name
        code = errno.ENETUNREACH if gateway.version == 4 else errno.EHOSTUNREACH
        raise kernel_error(code, what)

    def _sysctl_key(self, ns: NsRef, key: str, what: str) -> str:
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts):
            raise kernel_error(errno.EINVAL, what)
        if key not in self._ns(ns, what).sysctls:
            raise kernel_error(errno.ENOENT, f"{what} in netns {ns}")
        return key

    def _freeze(self, space: _Namespace) -> FakeNamespace:
        links = []
        for link in sorted(space.links.values(), key=lambda link: link.info.name):
            peer = None
            if link.peer is not None:
                peer_space = self._namespaces[link.peer[0]]
                peer_link = peer_space.by_index(link.peer[1])
                peer = (peer_space.path, peer_link.info.name if peer_link else "?")
            addresses = tuple(sorted(link.addresses, key=lambda a: (a.version, str(a))))
            links.append(FakeLink(link.info, addresses, peer, link.isolated, link.hairpin))
        return FakeNamespace(
            space.path,
            tuple(links),
            tuple(sorted(space.routes, key=str)),
            tuple(sorted(space.sysctls.items())),
            tuple(space.conntrack),
        )


def fake_kernel() -> tuple[Kernel, FakeKernel]:
    """A Kernel bundle over a fresh FakeKernel, and the fake itself for assertions."""
    fake = FakeKernel()
    return fake.kernel(), fake


def _connected(space: _Namespace) -> builtins.list[FakeRoute]:
    """The prefix routes the kernel keeps for addresses on up links (lo's live in table local,
    IPv4 /32 gets none; IPv6 always gets one, metric 256)."""
    return [
        FakeRoute(a.network, None, link.info.name, 0 if a.version == 4 else 256)
        for link in space.links.values()
        if link.info.up and link.info.kind != ""
        for a in link.addresses
        if a.version == 6 or a.network.prefixlen < 32
    ]


def _add_conf_sysctls(space: _Namespace, name: str) -> None:
    for family, conf in (("ipv4", _IPV4_CONF), ("ipv6", _IPV6_CONF)):
        for key, value in conf.items():
            space.sysctls[f"net/{family}/conf/{name}/{key}"] = value


def _is_local(space: _Namespace, ip: IPAddress) -> bool:
    for link in space.links.values():
        for address in link.addresses:
            if address.ip == ip or (link.info.name == "lo" and ip in address.network):
                return True
    return False


def _check_mtu(mtu: int, what: str) -> None:
    if not 68 <= mtu <= 65535:
        raise kernel_error(errno.EINVAL, what)


def _check_mac(mac: str, what: str) -> None:
    octets = mac.split(":")
    try:
        values = [int(o, 16) for o in octets if len(o) == 2]
    except ValueError:
        values = []
    if len(octets) != 6 or len(values) != 6:
        raise kernel_error(errno.EINVAL, what)
    if values[0] & 1 or not any(values):  # multicast or all-zero
        raise kernel_error(errno.EADDRNOTAVAIL, what)


def _sysctl_value(current: str, value: str, what: str) -> str:
    """Integer sysctls take whitespace-separated integers (read back tab-separated)."""
    old, new = current.split(), value.split()
    if not old or not all(_is_int(token) for token in old):
        return value.rstrip("\n")
    if len(new) != len(old) or not all(_is_int(token) for token in new):
        raise kernel_error(errno.EINVAL, what)
    return "\t".join(new)


def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True
