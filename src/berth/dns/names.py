"""The embedded DNS server's name table: which names each sandbox can resolve, and to what.

Pure: built from the controller's records (networks, endpoints, sandboxes), no I/O, no wire
format. Docker's rules (libnetwork ``sandbox_dns_unix.go``, ``network.go`` svcRecords):

- Only user-defined networks have names: not the default bridge, not ``host`` or ``none``.
- On each network an endpoint is known by its container name, its network-scoped aliases, its
  sandbox's 12-hex short id and its hostname; several endpoints with one name (an alias shared by
  replicas) give several addresses, which the server shuffles (round robin).
- A sandbox sees only the networks it is on itself. ``a.b.c`` is looked up as ``a.b.c`` on each
  of them, then as ``a.b`` on network ``c``, then ``a`` on network ``b.c``; the first network
  (in the sandbox's join order) that knows a name answers for it.
- PTR answers ``<container name>.<network>`` for the addresses of shared networks.
- A known name asked for another type (MX, TXT, AAAA without IPv6, ...) is NODATA (NOERROR,
  empty), never forwarded; unknown names are forwarded upstream (``Forward``).
- ``host.berth.internal`` is the gateway of the asking sandbox's network (the host); other names
  under ``berth.internal`` are NXDOMAIN, since berth owns that domain. A sandbox's own
  ``gateway_names`` (``--add-host host.docker.internal:host-gateway``) answer the same, for it
  alone: they are one more entry of its view (``gateway_entry``), so that its answers are not
  cached with those of sandboxes on the same networks that did not ask for them.
- A link on a user-defined network (``--link name:alias``, EndpointSettings.Links) is an alias
  that only the linking sandbox resolves, on that endpoint's network, to the container named
  there (Docker's endpoint ``aliases``): a ``link_entry`` just before that network in its view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import cast

from berth.model import netlabels as nl
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.network import Network

IPAddress = IPv4Address | IPv6Address

TTL = 600  # Docker's respTTL for local answers
OWN_DOMAIN = "berth.internal"
HOST_NAME = f"host.{OWN_DOMAIN}"
A, AAAA, PTR, ANY = 1, 28, 12, 255
NO_NAME_DRIVERS = frozenset({"host", "null"})
GATEWAY_NAMES = "gateway-names:"  # id prefix of the view entries made by ``gateway_entry``
LINKS = "links:"  # id prefix of the view entries made by ``link_entry``


def dns_enabled(network: Network) -> bool:
    """Does the embedded DNS serve this network? User-defined networks only (Docker)."""
    default_bridge = network.options.get(nl.DEFAULT_BRIDGE) == "true"
    return network.driver not in NO_NAME_DRIVERS and not default_bridge


@dataclass(frozen=True)
class NetworkNames:
    """One network's records: ``names`` (lowercase) -> addresses in join order, and addresses
    -> the PTR target (``<container name>.<network>``). ``host_names`` answer with the gateways
    of the asker's networks, like ``host.berth.internal`` (only in ``gateway_entry``)."""

    id: str
    name: str
    internal: bool = False
    gateways: tuple[IPAddress, ...] = ()
    names: Mapping[str, tuple[IPAddress, ...]] = field(default_factory=dict)
    pointers: Mapping[IPAddress, str] = field(default_factory=dict)
    host_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class View:
    """What one sandbox sees: the ids of its DNS-enabled networks in join order (also the key
    of its answer cache: sandboxes on the same networks share answers). ``external`` is False
    when none of its endpoints routes off the host (internal networks only): upstreams reached
    from the host's namespace are then not used (Docker)."""

    networks: tuple[str, ...]
    external: bool = True


EMPTY_VIEW = View(())


@dataclass(frozen=True)
class Records:
    """A local answer: addresses (A/AAAA), a PTR target, or neither (NODATA)."""

    addresses: tuple[IPAddress, ...] = ()
    pointer: str | None = None


@dataclass(frozen=True)
class NxDomain:
    """A name in berth's own domain that does not exist."""


@dataclass(frozen=True)
class Forward:
    """Not a local name: ask the upstream servers. ``single_label`` lets the server apply
    Docker's ndots rule (see server)."""

    single_label: bool


Answer = Records | NxDomain | Forward


@dataclass(frozen=True)
class NameTable:
    """Every DNS-enabled network's records and every served sandbox's view."""

    networks: Mapping[str, NetworkNames] = field(default_factory=dict)
    views: Mapping[str, View] = field(default_factory=dict)

    def view(self, sandbox_id: str) -> View | None:
        return self.views.get(sandbox_id)

    def scope(self, view: View) -> tuple[NetworkNames, ...]:
        """The records a view looks names up in, in order."""
        return tuple(self.networks[nid] for nid in view.networks if nid in self.networks)


# --- building ---------------------------------------------------------------------------------


def endpoint_names(endpoint: Endpoint, sandbox: Sandbox) -> tuple[str, ...]:
    """Docker's DNSNames: container name, aliases, short id, hostname (lowercase, deduplicated)."""
    names = (endpoint.name, *endpoint.aliases, sandbox.short_id, sandbox.hostname)
    return tuple(dict.fromkeys(n.lower().rstrip(".") for n in names if n))


def network_names(network: Network, members: Iterable[tuple[Endpoint, Sandbox]]) -> NetworkNames:
    """One network's records from its joined endpoints (each with its sandbox)."""
    names: dict[str, list[IPAddress]] = {}
    pointers: dict[IPAddress, str] = {}
    for endpoint, sandbox in members:
        addresses = [a.ip for a in (endpoint.ipv4, endpoint.ipv6) if a is not None]
        for name in endpoint_names(endpoint, sandbox):
            names.setdefault(name, []).extend(addresses)
        target = f"{endpoint.name}.{network.name}"
        for address in addresses:
            pointers[address] = target
    gateways = tuple(p.gateway for p in network.pools if p.gateway is not None)
    return NetworkNames(
        id=network.id,
        name=network.name.lower(),
        internal=network.internal,
        gateways=gateways,
        names={name: tuple(addresses) for name, addresses in names.items()},
        pointers=pointers,
    )


def gateway_entry(names: Iterable[str]) -> NetworkNames:
    """The view entry of a sandbox's ``gateway_names``: no network, no records, only names
    that answer with the gateways. Sandboxes that ask for the same names share it."""
    found = tuple(sorted(set(names)))
    return NetworkNames(id=GATEWAY_NAMES + ",".join(found), name="", host_names=frozenset(found))


def link_entry(endpoint: Endpoint, network: NetworkNames) -> NetworkNames:
    """The view entry of an endpoint's links: each alias has the addresses its target has on
    the endpoint's network (none if the target is not there)."""
    names: dict[str, tuple[IPAddress, ...]] = {}
    for target, alias in endpoint.links:
        found = network.names.get(target.lower().rstrip("."))
        if found is not None:
            names.setdefault(alias.lower().rstrip("."), found)
    return NetworkNames(id=LINKS + endpoint.id, name="", names=names)


def sandbox_view(
    sandbox: Sandbox, endpoints: Mapping[str, Endpoint], enabled: AbstractSet[str]
) -> View:
    """``endpoints``: every joined endpoint by id; ``enabled``: the DNS-enabled network ids.
    An endpoint with links has its ``link_entry`` just before its network (Docker looks at a
    network's link aliases first); ``gateway_names`` have their ``gateway_entry`` last."""
    own = [endpoints[ref] for ref in sandbox.endpoints if ref in endpoints]
    networks: tuple[str, ...] = ()
    for endpoint in own:
        if endpoint.network_id in enabled:
            links = (LINKS + endpoint.id,) if endpoint.links else ()
            networks += (*links, endpoint.network_id)
    if networks and sandbox.gateway_names:
        networks += (gateway_entry(sandbox.gateway_names).id,)
    return View(networks, any(e.gateway4 is not None or e.gateway6 is not None for e in own))


class TableBuilder:
    """Builds name tables from the controller's records, reusing what did not change. The
    controller replaces a record (they are frozen) whenever it changes, so "unchanged" is "the
    same objects": a network's records are rebuilt only when the network or one of its members
    (endpoint or sandbox) was replaced, a sandbox's view only when the sandbox was. An event
    then costs the network it concerns plus a pass of identity checks, not every record."""

    def __init__(self) -> None:
        self._networks: dict[str, tuple[list[object], NetworkNames]] = {}
        self._views: dict[str, tuple[Sandbox, frozenset[str], View]] = {}
        self._enabled: frozenset[str] = frozenset()

    def build(
        self,
        networks: Iterable[Network],
        endpoints: Iterable[Endpoint],
        sandboxes: Iterable[Sandbox],
    ) -> NameTable:
        by_sandbox = {s.id: s for s in sandboxes if not s.host_mode}
        enabled = {n.id: n for n in networks if dns_enabled(n)}
        members: dict[str, list[object]] = {nid: [network] for nid, network in enabled.items()}
        joined: dict[str, Endpoint] = {}
        linking: list[Endpoint] = []
        for endpoint in endpoints:
            sandbox = by_sandbox.get(endpoint.sandbox_id or "")
            if sandbox is None:
                continue  # created but not joined: not reachable, so not in DNS
            joined[endpoint.id] = endpoint
            found = members.get(endpoint.network_id)
            if found is not None:
                found += (endpoint, sandbox)
                if endpoint.links:
                    linking.append(endpoint)
        tables = {nid: self._network(enabled[nid], key) for nid, key in members.items()}
        self._networks = {nid: self._networks[nid] for nid in tables}
        for endpoint in linking:  # few, and their targets may have moved: made every time
            entry = link_entry(endpoint, tables[endpoint.network_id])
            tables[entry.id] = entry
        if self._enabled != enabled.keys():
            self._enabled = frozenset(enabled)  # a new object: every cached view is stale
        ids = self._enabled
        views = {}
        for sandbox in by_sandbox.values():
            cached = self._views.get(sandbox.id)
            if cached is not None and cached[0] is sandbox and cached[1] is ids:
                view = cached[2]
            else:
                view = sandbox_view(sandbox, joined, ids)
            self._views[sandbox.id] = (sandbox, ids, view)
            if view.networks:
                views[sandbox.id] = view
                if sandbox.gateway_names:
                    entry = gateway_entry(sandbox.gateway_names)
                    tables.setdefault(entry.id, entry)
        self._views = {sid: self._views[sid] for sid in by_sandbox}
        return NameTable(tables, views)

    def _network(self, network: Network, key: list[object]) -> NetworkNames:
        cached = self._networks.get(network.id)
        if cached is not None and _same(cached[0], key):
            return cached[1]
        pairs = cast(Iterable[tuple[Endpoint, Sandbox]], zip(key[1::2], key[2::2], strict=True))
        names = network_names(network, pairs)
        self._networks[network.id] = (key, names)
        return names


def _same(old: list[object], new: list[object]) -> bool:
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


def build_table(
    networks: Iterable[Network], endpoints: Iterable[Endpoint], sandboxes: Iterable[Sandbox]
) -> NameTable:
    """The whole table from the controller's records, from scratch."""
    return TableBuilder().build(networks, endpoints, sandboxes)


# --- answering --------------------------------------------------------------------------------


def resolve(scope: Sequence[NetworkNames], qname: str, qtype: int) -> Answer:
    """The local answer for ``qname`` (any case, trailing dot or not) asked by a sandbox whose
    view is ``scope`` (``NameTable.scope``), or ``Forward`` when the name is not ours."""
    name = qname.lower().rstrip(".")
    if qtype == PTR and name.endswith((".in-addr.arpa", ".ip6.arpa")):
        return _pointer(scope, name)
    if name == HOST_NAME or any(name in network.host_names for network in scope):
        return Records(_of_type(gateways(scope), qtype))
    if name.endswith("." + OWN_DOMAIN) or name == OWN_DOMAIN:
        return NxDomain()
    addresses = lookup(scope, name)
    if addresses is None:
        return Forward(single_label="." not in name)
    return Records(_of_type(addresses, qtype))


def lookup(scope: Sequence[NetworkNames], name: str) -> tuple[IPAddress, ...] | None:
    """All addresses of a lowercase name (no trailing dot), both families, or None if unknown."""
    for network in scope:
        found = network.names.get(name)
        if found is not None:
            return found
    # "a.b.c": "a.b" on network "c", then "a" on network "b.c"
    cut = name.rfind(".")
    while cut > 0:
        prefix, suffix = name[:cut], name[cut + 1 :]
        for network in scope:
            if network.name == suffix and prefix in network.names:
                return network.names[prefix]
        cut = name.rfind(".", 0, cut)
    return None


def gateways(scope: Sequence[NetworkNames]) -> tuple[IPAddress, ...]:
    """The gateways (one per family) of the sandbox's first network that has each."""
    found: dict[int, IPAddress] = {}
    for network in scope:
        for gateway in network.gateways:
            found.setdefault(gateway.version, gateway)
    return tuple(found.values())


def _of_type(addresses: tuple[IPAddress, ...], qtype: int) -> tuple[IPAddress, ...]:
    if qtype == ANY:
        return addresses
    version = {A: 4, AAAA: 6}.get(qtype)
    return tuple(a for a in addresses if a.version == version)


def _pointer(scope: Sequence[NetworkNames], name: str) -> Answer:
    address = pointer_address(name)
    if address is not None:
        for network in scope:
            target = network.pointers.get(address)
            if target is not None:
                return Records(pointer=target)
    return Forward(single_label=False)


def pointer_address(name: str) -> IPAddress | None:
    """The address a reverse name stands for (``2.0.18.172.in-addr.arpa`` -> 172.18.0.2, and
    the 32 nibbles of ip6.arpa), or None if it is not one."""
    try:
        if name.endswith(".in-addr.arpa"):
            octets = name[: -len(".in-addr.arpa")].split(".")
            return IPv4Address(".".join(reversed(octets))) if len(octets) == 4 else None
        nibbles = name[: -len(".ip6.arpa")].split(".")
        if len(nibbles) == 32 and all(len(n) == 1 for n in nibbles):
            return IPv6Address(int("".join(reversed(nibbles)), 16))
    except ValueError:
        pass
    return None
