"""Container records <-> store documents (kind "container"). Only this module knows the mapping,
so the model classes carry no persistence code.

Besides the public ``Container``, a record keeps what only the runtime needs: whether the last
stop was asked for (restart policies skip such containers) and the last restart delay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, cast

from berth.model.ports import PortMapping, Proto, parse_port_spec
from berth.runtime.api import (
    Container,
    ContainerConfig,
    ContainerState,
    EndpointSettings,
    RestartPolicy,
    Status,
)
from berth.store.api import Doc

KIND = "container"


@dataclass(frozen=True)
class Record:
    container: Container
    manually_stopped: bool = False
    backoff_s: float = 0.0


def _settings_doc(s: EndpointSettings) -> Doc:
    return {
        "aliases": list(s.aliases),
        "ipv4": None if s.ipv4 is None else str(s.ipv4),
        "ipv6": None if s.ipv6 is None else str(s.ipv6),
        "links": list(s.links),
        "mac": s.mac,
        "gw_priority": s.gw_priority,
        "driver_opts": dict(s.driver_opts),
    }


def _settings(doc: Mapping[str, Any]) -> EndpointSettings:
    return EndpointSettings(
        aliases=tuple(doc["aliases"]),
        ipv4=None if doc["ipv4"] is None else IPv4Address(doc["ipv4"]),
        ipv6=None if doc["ipv6"] is None else IPv6Address(doc["ipv6"]),
        links=tuple(doc["links"]),
        mac=doc["mac"],
        gw_priority=doc["gw_priority"],
        driver_opts=dict(doc["driver_opts"]),
    )


def _mapping(text: str) -> PortMapping:
    """A port mapping from its canonical text (``str(PortMapping)`` parses back to itself)."""
    (mapping,) = parse_port_spec(text)
    return mapping


def config_to_doc(c: ContainerConfig) -> Doc:
    return {
        "cmd": list(c.cmd),
        "name": c.name,
        "image": c.image,
        "entrypoint": list(c.entrypoint),
        "env": list(c.env),
        "working_dir": c.working_dir,
        "hostname": c.hostname,
        "domainname": c.domainname,
        "tty": c.tty,
        "open_stdin": c.open_stdin,
        "stdin_once": c.stdin_once,
        "labels": dict(c.labels),
        "exposed_ports": [[port, proto] for port, proto in c.exposed_ports],
        "rootfs": c.rootfs,
        "network_mode": c.network_mode,
        "port_bindings": [str(m) for m in c.port_bindings],
        "publish_all": c.publish_all,
        "dns": list(c.dns),
        "dns_search": list(c.dns_search),
        "dns_options": list(c.dns_options),
        "extra_hosts": list(c.extra_hosts),
        "links": list(c.links),
        "restart_policy": [c.restart_policy.name, c.restart_policy.maximum_retry_count],
        "auto_remove": c.auto_remove,
        # a list keeps the order: the first network is the primary one
        "networks": [[name, _settings_doc(s)] for name, s in c.networks.items()],
    }


def config_from_doc(doc: Mapping[str, Any]) -> ContainerConfig:
    policy, retries = doc["restart_policy"]
    return ContainerConfig(
        cmd=tuple(doc["cmd"]),
        name=doc["name"],
        image=doc["image"],
        entrypoint=tuple(doc["entrypoint"]),
        env=tuple(doc["env"]),
        working_dir=doc["working_dir"],
        hostname=doc["hostname"],
        domainname=doc["domainname"],
        tty=doc["tty"],
        open_stdin=doc["open_stdin"],
        stdin_once=doc["stdin_once"],
        labels=dict(doc["labels"]),
        exposed_ports=tuple((port, cast(Proto, proto)) for port, proto in doc["exposed_ports"]),
        rootfs=doc["rootfs"],
        network_mode=doc["network_mode"],
        port_bindings=tuple(_mapping(m) for m in doc["port_bindings"]),
        publish_all=doc["publish_all"],
        dns=tuple(doc["dns"]),
        dns_search=tuple(doc["dns_search"]),
        dns_options=tuple(doc["dns_options"]),
        extra_hosts=tuple(doc["extra_hosts"]),
        links=tuple(doc["links"]),
        restart_policy=RestartPolicy(policy, retries),
        auto_remove=doc["auto_remove"],
        networks={name: _settings(s) for name, s in doc["networks"]},
    )


def record_to_doc(record: Record) -> Doc:
    c, s = record.container, record.container.state
    return {
        "id": c.id,
        "name": c.name,
        "created": c.created,
        "config": config_to_doc(c.config),
        "state": {
            "status": s.status,
            "pid": s.pid,
            "exit_code": s.exit_code,
            "started_at": s.started_at,
            "finished_at": s.finished_at,
            "error": s.error,
            "restart_count": s.restart_count,
        },
        "sandbox_id": c.sandbox_id,
        "path": c.path,
        "manually_stopped": record.manually_stopped,
        "backoff_s": record.backoff_s,
    }


def record_from_doc(doc: Mapping[str, Any]) -> Record:
    s = doc["state"]
    container = Container(
        id=doc["id"],
        name=doc["name"],
        created=doc["created"],
        config=config_from_doc(doc["config"]),
        state=ContainerState(
            status=cast(Status, s["status"]),
            pid=s["pid"],
            exit_code=s["exit_code"],
            started_at=s["started_at"],
            finished_at=s["finished_at"],
            error=s["error"],
            restart_count=s["restart_count"],
        ),
        sandbox_id=doc["sandbox_id"],
        path=doc["path"],
    )
    return Record(container, doc["manually_stopped"], doc["backoff_s"])
