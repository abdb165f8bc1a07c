"""Networks in Docker's JSON shape (network list items and inspect), and the list filters.

The view is built from one consistent read of the controller (``NetworkView``): networks,
endpoints and sandbox names, so a list of 500 networks costs one pass, not 500 lookups.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from berth.api.errors import BadRequest
from berth.api.filters import Filters
from berth.api.timefmt import parse_datetime, rfc3339nano
from berth.controller.controller import PREDEFINED, NetworkController
from berth.model.endpoint import Endpoint
from berth.model.network import AllocatedPool, Network

LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
PRUNE_FILTERS = ("label", "label!", "until")


@dataclass(frozen=True)
class NetworkView:
    networks: list[Network]
    endpoints: dict[str, list[Endpoint]]  # by network id
    sandbox_names: dict[str, str]  # sandbox (container) id -> name

    @classmethod
    def read(cls, controller: NetworkController) -> NetworkView:
        """Blocking: run it in the executor."""
        by_network: dict[str, list[Endpoint]] = defaultdict(list)
        for endpoint in controller.endpoints():
            by_network[endpoint.network_id].append(endpoint)
        names = {s.id: s.name for s in controller.sandboxes()}
        return cls(controller.networks(), dict(by_network), names)

    def in_use(self, network: Network) -> bool:
        return bool(self.endpoints.get(network.id))

    def containers(self, network: Network) -> dict[str, Any]:
        """Inspect's ``Containers``: sandbox (container) id -> endpoint summary; an endpoint
        not joined to any sandbox shows as ``ep-<endpoint id>`` like Docker's."""
        found: dict[str, Any] = {}
        for ep in self.endpoints.get(network.id, []):
            key = ep.sandbox_id or f"ep-{ep.id}"
            found[key] = {
                "Name": self.sandbox_names.get(ep.sandbox_id or "", ep.name),
                "EndpointID": ep.id,
                "MacAddress": ep.mac or "",
                "IPv4Address": str(ep.ipv4) if ep.ipv4 else "",
                "IPv6Address": str(ep.ipv6) if ep.ipv6 else "",
            }
        return found


def pool_json(pool: AllocatedPool) -> dict[str, Any]:
    """One IPAM.Config entry as Docker shows it: the allocated subnet and gateway, and the
    range and auxiliary addresses only when they were configured."""
    entry: dict[str, Any] = {"Subnet": str(pool.subnet)}
    if pool.ip_range is not None:
        entry["IPRange"] = str(pool.ip_range)
    if pool.gateway is not None:
        entry["Gateway"] = str(pool.gateway)
    if pool.aux_addresses:
        entry["AuxiliaryAddresses"] = {k: str(v) for k, v in pool.aux_addresses.items()}
    return entry


def network_json(network: Network, containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": rfc3339nano(network.created),
        "Scope": network.scope,
        "Driver": network.driver,
        "EnableIPv6": network.enable_ipv6,
        "IPAM": {
            "Driver": network.ipam.driver,
            "Options": dict(network.ipam.options),
            "Config": [pool_json(p) for p in network.pools],
        },
        "Internal": network.internal,
        "Attachable": network.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }


def is_predefined(network: Network) -> bool:
    return network.name in PREDEFINED


def check_list_filters(filters: Filters) -> bool | None:
    """Validate the value-checked keys up front; returns the `dangling` choice (None = any)."""
    for value in filters.get("type"):
        if value not in ("builtin", "custom"):
            raise BadRequest(f"invalid filter: 'type'='{value}'")
    dangling = filters.single("dangling")
    if dangling is None:
        return None
    if dangling in ("1", "true"):
        return True
    if dangling in ("0", "false"):
        return False
    raise BadRequest(
        'invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")'
    )


def matches(filters: Filters, network: Network, in_use: bool, dangling: bool | None) -> bool:
    """Docker's network filter (daemon/network/filter.go)."""
    if not filters.exact("driver", network.driver):
        return False
    if filters.contains("name") and not filters.match("name", network.name):
        return False
    if filters.contains("id") and not filters.match("id", network.id):
        return False
    if not filters.labels("label", network.labels):
        return False
    if filters.contains("label!") and filters.labels("label!", network.labels):
        return False
    if not filters.exact("scope", network.scope):
        return False
    if dangling is not None and dangling == (is_predefined(network) or in_use):
        return False
    types = filters.get("type")
    return not types or ("builtin" if is_predefined(network) else "custom") in types


def created_after(network: Network, until: datetime) -> bool:
    created = parse_datetime(network.created)
    return created is not None and created > until
