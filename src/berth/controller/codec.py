"""Model <-> store documents. The store holds plain JSON; only this module knows the mapping,
so model classes carry no persistence code."""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_address, ip_network
from typing import Any, cast

from berth.model.endpoint import Endpoint, Sandbox
from berth.model.network import AllocatedPool, IpamConfig, IpamPoolConfig, Network, Scope
from berth.model.ports import PortMapping, Proto, PublishedPort
from berth.store.api import Doc


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _ip(value: str | None) -> IPv4Address | IPv6Address | None:
    return None if value is None else ip_address(value)


def _net(value: str | None):  # type: ignore[no-untyped-def]
    return None if value is None else ip_network(value)


def _pool_config_doc(cfg: IpamPoolConfig) -> Doc:
    return {
        "subnet": _opt(cfg.subnet),
        "ip_range": _opt(cfg.ip_range),
        "gateway": _opt(cfg.gateway),
        "aux": {k: str(v) for k, v in cfg.aux_addresses.items()},
    }


def _pool_config(doc: Mapping[str, Any]) -> IpamPoolConfig:
    return IpamPoolConfig(
        subnet=_net(doc["subnet"]),
        ip_range=_net(doc["ip_range"]),
        gateway=_ip(doc["gateway"]),
        aux_addresses={k: ip_address(v) for k, v in doc["aux"].items()},
    )


def _pool_doc(pool: AllocatedPool) -> Doc:
    return {
        "pool_id": pool.pool_id,
        "subnet": str(pool.subnet),
        "gateway": _opt(pool.gateway),
        "ip_range": _opt(pool.ip_range),
        "aux": {k: str(v) for k, v in pool.aux_addresses.items()},
    }


def _pool(doc: Mapping[str, Any]) -> AllocatedPool:
    return AllocatedPool(
        pool_id=doc["pool_id"],
        subnet=ip_network(doc["subnet"]),
        gateway=_ip(doc["gateway"]),
        ip_range=_net(doc["ip_range"]),
        aux_addresses={k: ip_address(v) for k, v in doc["aux"].items()},
    )


def network_to_doc(net: Network) -> Doc:
    return {
        "id": net.id,
        "name": net.name,
        "driver": net.driver,
        "scope": net.scope,
        "created": net.created,
        "ipam": {
            "driver": net.ipam.driver,
            "options": dict(net.ipam.options),
            "config": [_pool_config_doc(c) for c in net.ipam.config],
        },
        "pools": [_pool_doc(p) for p in net.pools],
        "options": dict(net.options),
        "labels": dict(net.labels),
        "internal": net.internal,
        "attachable": net.attachable,
        "enable_ipv6": net.enable_ipv6,
        "driver_state": dict(net.driver_state),
    }


def network_from_doc(doc: Mapping[str, Any]) -> Network:
    ipam = doc["ipam"]
    return Network(
        id=doc["id"],
        name=doc["name"],
        driver=doc["driver"],
        scope=cast(Scope, doc["scope"]),
        created=doc["created"],
        ipam=IpamConfig(
            driver=ipam["driver"],
            options=ipam["options"],
            config=tuple(_pool_config(c) for c in ipam["config"]),
        ),
        pools=tuple(_pool(p) for p in doc["pools"]),
        options=doc["options"],
        labels=doc["labels"],
        internal=doc["internal"],
        attachable=doc["attachable"],
        enable_ipv6=doc["enable_ipv6"],
        driver_state=doc["driver_state"],
    )


def _mapping_doc(m: PortMapping) -> Doc:
    return {
        "container_port": m.container_port,
        "proto": m.proto,
        "host_ip": _opt(m.host_ip),
        "host_ports": list(m.host_ports) if m.host_ports else None,
    }


def _mapping(doc: Mapping[str, Any]) -> PortMapping:
    ports = doc["host_ports"]
    return PortMapping(
        doc["container_port"],
        cast(Proto, doc["proto"]),
        _ip(doc["host_ip"]),
        (ports[0], ports[1]) if ports else None,
    )


def endpoint_to_doc(ep: Endpoint) -> Doc:
    return {
        "id": ep.id,
        "name": ep.name,
        "network_id": ep.network_id,
        "mac": ep.mac,
        "ipv4": _opt(ep.ipv4),
        "ipv6": _opt(ep.ipv6),
        "aliases": list(ep.aliases),
        "links": [list(link) for link in ep.links],
        "ports": [_mapping_doc(m) for m in ep.ports],
        "exposed": [[p, proto] for p, proto in ep.exposed],
        "publish_all": ep.publish_all,
        "gw_priority": ep.gw_priority,
        "sandbox_id": ep.sandbox_id,
        "ifname": ep.ifname,
        "gateway4": _opt(ep.gateway4),
        "gateway6": _opt(ep.gateway6),
        "published": [
            [p.proto, str(p.host_ip), p.host_port, p.container_port] for p in ep.published
        ],
        "driver_state": dict(ep.driver_state),
    }


def endpoint_from_doc(doc: Mapping[str, Any]) -> Endpoint:
    return Endpoint(
        id=doc["id"],
        name=doc["name"],
        network_id=doc["network_id"],
        mac=doc["mac"],
        ipv4=IPv4Interface(doc["ipv4"]) if doc["ipv4"] else None,
        ipv6=IPv6Interface(doc["ipv6"]) if doc["ipv6"] else None,
        aliases=tuple(doc["aliases"]),
        links=tuple((name, alias) for name, alias in doc.get("links", ())),  # issue 4
        ports=tuple(_mapping(m) for m in doc["ports"]),
        exposed=tuple((p, cast(Proto, proto)) for p, proto in doc["exposed"]),
        publish_all=doc["publish_all"],
        gw_priority=doc["gw_priority"],
        sandbox_id=doc["sandbox_id"],
        ifname=doc["ifname"],
        gateway4=IPv4Address(doc["gateway4"]) if doc["gateway4"] else None,
        gateway6=IPv6Address(doc["gateway6"]) if doc["gateway6"] else None,
        published=tuple(
            PublishedPort(cast(Proto, proto), ip_address(ip), hp, cp)
            for proto, ip, hp, cp in doc["published"]
        ),
        driver_state=doc["driver_state"],
    )


def sandbox_to_doc(sb: Sandbox) -> Doc:
    return {
        "id": sb.id,
        "name": sb.name,
        "netns_path": sb.netns_path,
        "hostname": sb.hostname,
        "host_mode": sb.host_mode,
        "endpoints": list(sb.endpoints),
        "gateway_endpoint": sb.gateway_endpoint,
        "gateway_names": list(sb.gateway_names),
    }


def sandbox_from_doc(doc: Mapping[str, Any]) -> Sandbox:
    return Sandbox(
        id=doc["id"],
        name=doc["name"],
        netns_path=doc["netns_path"],
        hostname=doc["hostname"],
        host_mode=doc["host_mode"],
        endpoints=tuple(doc["endpoints"]),
        gateway_endpoint=doc["gateway_endpoint"],
        gateway_names=tuple(doc.get("gateway_names", ())),  # absent before issue 4
    )
