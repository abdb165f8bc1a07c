"""The one live copy of every network, endpoint and sandbox, and lookups by reference.

The registry mirrors the store. Within a write transaction the controller first calls
``sync``: if another process committed since we last looked (the store's generation moved),
the registry reloads everything from the store; otherwise it is already current. A reload
decodes every document (milliseconds with hundreds of endpoints), so ``changed`` tells the
controller whether a failed operation touched the live copy at all: one that failed a check
before changing anything leaves it current. Networks and sandboxes are indexed by name (unique
names, looked up on every connect), so a lookup does not scan them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from berth.controller.codec import (
    endpoint_from_doc,
    endpoint_to_doc,
    network_from_doc,
    network_to_doc,
    sandbox_from_doc,
    sandbox_to_doc,
)
from berth.controller.portalloc import PortTable
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.errors import (
    AmbiguousReference,
    EndpointNotFound,
    NetworkNotFound,
    NotFound,
    SandboxNotFound,
)
from berth.model.network import Network
from berth.store.api import StoreTxn

NETWORK, ENDPOINT, SANDBOX = "network", "endpoint", "sandbox"
T = TypeVar("T", Network, Sandbox, Endpoint)


def _resolve(
    kind: str,
    ref: str,
    items: dict[str, T],
    named_by: Callable[[str], list[T]],
    not_found: Callable[[str], NotFound],
) -> T:
    """Docker's lookup order: full id, exact name, then a unique id prefix."""
    if ref in items:
        return items[ref]
    named = named_by(ref)
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise AmbiguousReference(kind, ref, len(named))
    if ref:
        prefixed = [item for key, item in items.items() if key.startswith(ref)]
        if len(prefixed) == 1:
            return prefixed[0]
        if len(prefixed) > 1:
            raise AmbiguousReference(kind, ref, len(prefixed))
    raise not_found(ref)


class _NameIndex:
    """name -> ids of the items that have it (a set: the store might hold a duplicate)."""

    def __init__(self) -> None:
        self._ids: dict[str, set[str]] = {}

    def rebuild(self, items: Iterable[Network | Sandbox]) -> None:
        self._ids = {}
        for item in items:
            self.add(item.name, item.id)

    def add(self, name: str, item_id: str) -> None:
        self._ids.setdefault(name, set()).add(item_id)

    def discard(self, name: str, item_id: str) -> None:
        ids = self._ids.get(name)
        if ids is not None:
            ids.discard(item_id)
            if not ids:
                del self._ids[name]

    def ids(self, name: str) -> set[str]:
        return self._ids.get(name, set())


class Registry:
    def __init__(self) -> None:
        self.networks: dict[str, Network] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self.ports = PortTable()
        self.generation = -1
        self.changed = False  # a save or drop since the controller's write began
        self._network_names = _NameIndex()
        self._sandbox_names = _NameIndex()

    def sync(self, txn: StoreTxn) -> None:
        if txn.generation == self.generation:
            return
        self.networks = {d["id"]: network_from_doc(d) for d in txn.list(NETWORK)}
        self.endpoints = {d["id"]: endpoint_from_doc(d) for d in txn.list(ENDPOINT)}
        self.sandboxes = {d["id"]: sandbox_from_doc(d) for d in txn.list(SANDBOX)}
        self._network_names.rebuild(self.networks.values())
        self._sandbox_names.rebuild(self.sandboxes.values())
        self.ports = PortTable()
        for ep in self.endpoints.values():
            for binding in ep.published:
                self.ports.add(binding, self.port_holder(ep))
        self.generation = txn.generation

    def invalidate(self) -> None:
        """Live copies may hold changes that were rolled back: reload at the next sync."""
        self.generation = -1

    # --- lookups --------------------------------------------------------------------------

    def network(self, ref: str) -> Network:
        return _resolve(NETWORK, ref, self.networks, self.networks_named, NetworkNotFound)

    def sandbox(self, ref: str) -> Sandbox:
        return _resolve(SANDBOX, ref, self.sandboxes, self.sandboxes_named, SandboxNotFound)

    def endpoint(self, ref: str) -> Endpoint:
        return _resolve(ENDPOINT, ref, self.endpoints, self._endpoints_named, EndpointNotFound)

    def networks_named(self, name: str) -> list[Network]:
        return [self.networks[i] for i in sorted(self._network_names.ids(name))]

    def sandboxes_named(self, name: str) -> list[Sandbox]:
        return [self.sandboxes[i] for i in sorted(self._sandbox_names.ids(name))]

    def _endpoints_named(self, name: str) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.name == name]

    def network_endpoints(self, network_id: str) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.network_id == network_id]

    def sandbox_endpoints(self, sandbox: Sandbox) -> list[Endpoint]:
        return [self.endpoints[e] for e in sandbox.endpoints if e in self.endpoints]

    def port_holder(self, ep: Endpoint) -> str:
        net = self.networks.get(ep.network_id)
        return f"endpoint {ep.name} on network {net.name if net else ep.network_id[:12]}"

    # --- changes (store first, then the live copy) -----------------------------------------

    def save_network(self, txn: StoreTxn, net: Network) -> None:
        self.changed = True
        txn.put(NETWORK, net.id, network_to_doc(net))
        old = self.networks.get(net.id)
        if old is not None:
            self._network_names.discard(old.name, old.id)
        self.networks[net.id] = net
        self._network_names.add(net.name, net.id)

    def drop_network(self, txn: StoreTxn, net: Network) -> None:
        self.changed = True
        txn.delete(NETWORK, net.id)
        old = self.networks.pop(net.id, None)
        if old is not None:
            self._network_names.discard(old.name, old.id)

    def save_sandbox(self, txn: StoreTxn, sb: Sandbox) -> None:
        self.changed = True
        txn.put(SANDBOX, sb.id, sandbox_to_doc(sb))
        old = self.sandboxes.get(sb.id)
        if old is not None:
            self._sandbox_names.discard(old.name, old.id)
        self.sandboxes[sb.id] = sb
        self._sandbox_names.add(sb.name, sb.id)

    def drop_sandbox(self, txn: StoreTxn, sb: Sandbox) -> None:
        self.changed = True
        txn.delete(SANDBOX, sb.id)
        old = self.sandboxes.pop(sb.id, None)
        if old is not None:
            self._sandbox_names.discard(old.name, old.id)

    def save_endpoint(self, txn: StoreTxn, ep: Endpoint) -> None:
        self.changed = True
        old = self.endpoints.get(ep.id)
        self._unindex(old)
        txn.put(ENDPOINT, ep.id, endpoint_to_doc(ep))
        self.endpoints[ep.id] = ep
        for binding in ep.published:
            self.ports.add(binding, self.port_holder(ep))

    def drop_endpoint(self, txn: StoreTxn, ep: Endpoint) -> None:
        self.changed = True
        txn.delete(ENDPOINT, ep.id)
        self._unindex(self.endpoints.pop(ep.id, None))

    def _unindex(self, ep: Endpoint | None) -> None:
        for binding in ep.published if ep else ():
            self.ports.remove(binding)

    def all_networks(self) -> Iterable[Network]:
        return sorted(self.networks.values(), key=lambda n: (n.created, n.name))
