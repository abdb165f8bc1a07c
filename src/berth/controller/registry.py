"""The one live copy of every network, endpoint and sandbox, and lookups by reference.

The registry mirrors the store. Within a write transaction the controller first calls
``sync``: if another process committed since we last looked (the store's generation moved),
the registry reloads everything from the store; otherwise it is already current.
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
    name_of: Callable[[T], str],
    not_found: Callable[[str], NotFound],
) -> T:
    """Docker's lookup order: full id, exact name, then a unique id prefix."""
    if ref in items:
        return items[ref]
    named = [item for item in items.values() if name_of(item) == ref]
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


class Registry:
    def __init__(self) -> None:
        self.networks: dict[str, Network] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self.ports = PortTable()
        self.generation = -1

    def sync(self, txn: StoreTxn) -> None:
        if txn.generation == self.generation:
            return
        self.networks = {d["id"]: network_from_doc(d) for d in txn.list(NETWORK)}
        self.endpoints = {d["id"]: endpoint_from_doc(d) for d in txn.list(ENDPOINT)}
        self.sandboxes = {d["id"]: sandbox_from_doc(d) for d in txn.list(SANDBOX)}
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
        return _resolve(NETWORK, ref, self.networks, lambda n: n.name, NetworkNotFound)

    def sandbox(self, ref: str) -> Sandbox:
        return _resolve(SANDBOX, ref, self.sandboxes, lambda s: s.name, SandboxNotFound)

    def endpoint(self, ref: str) -> Endpoint:
        return _resolve(ENDPOINT, ref, self.endpoints, lambda e: e.name, EndpointNotFound)

    def network_endpoints(self, network_id: str) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.network_id == network_id]

    def sandbox_endpoints(self, sandbox: Sandbox) -> list[Endpoint]:
        return [self.endpoints[e] for e in sandbox.endpoints if e in self.endpoints]

    def port_holder(self, ep: Endpoint) -> str:
        net = self.networks.get(ep.network_id)
        return f"endpoint {ep.name} on network {net.name if net else ep.network_id[:12]}"

    # --- changes (store first, then the live copy) -----------------------------------------

    def save_network(self, txn: StoreTxn, net: Network) -> None:
        txn.put(NETWORK, net.id, network_to_doc(net))
        self.networks[net.id] = net

    def drop_network(self, txn: StoreTxn, net: Network) -> None:
        txn.delete(NETWORK, net.id)
        self.networks.pop(net.id, None)

    def save_sandbox(self, txn: StoreTxn, sb: Sandbox) -> None:
        txn.put(SANDBOX, sb.id, sandbox_to_doc(sb))
        self.sandboxes[sb.id] = sb

    def drop_sandbox(self, txn: StoreTxn, sb: Sandbox) -> None:
        txn.delete(SANDBOX, sb.id)
        self.sandboxes.pop(sb.id, None)

    def save_endpoint(self, txn: StoreTxn, ep: Endpoint) -> None:
        old = self.endpoints.get(ep.id)
        self._unindex(old)
        txn.put(ENDPOINT, ep.id, endpoint_to_doc(ep))
        self.endpoints[ep.id] = ep
        for binding in ep.published:
            self.ports.add(binding, self.port_holder(ep))

    def drop_endpoint(self, txn: StoreTxn, ep: Endpoint) -> None:
        txn.delete(ENDPOINT, ep.id)
        self._unindex(self.endpoints.pop(ep.id, None))

    def _unindex(self, ep: Endpoint | None) -> None:
        for binding in ep.published if ep else ():
            self.ports.remove(binding)

    def all_networks(self) -> Iterable[Network]:
        return sorted(self.networks.values(), key=lambda n: (n.created, n.name))
