"""Containers in Docker's JSON shapes: inspect (/containers/{id}/json) and list items
(/containers/json), with NetworkSettings built from the controller's live endpoints.

Network facts come from one read of the controller (``NetInfo``) per request, so listing many
containers does not cost a controller call per container.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from berth.api.base import version_tuple
from berth.api.hostconfig import unimplemented_json
from berth.api.timefmt import rfc3339nano, since, unix_seconds
from berth.controller.controller import NetworkController
from berth.model.endpoint import Endpoint
from berth.model.humanize import human_duration
from berth.model.network import Network
from berth.model.ports import PortMapping, PublishedPort
from berth.runtime.api import Container, ContainerState, EndpointSettings

DEFAULT_BRIDGE = "bridge"


@dataclass(frozen=True)
class NetInfo:
    networks: dict[str, Network]  # by id
    netns: dict[str, str]  # sandbox id -> namespace path

    @classmethod
    def read(cls, controller: NetworkController) -> NetInfo:
        """Blocking: run it in the executor."""
        return cls(
            {n.id: n for n in controller.networks()},
            {s.id: s.netns_path for s in controller.sandboxes()},
        )

    def name_of(self, network_id: str) -> str:
        network = self.networks.get(network_id)
        return network.name if network else network_id


def command(c: Container) -> list[str]:
    return [*c.config.entrypoint, *c.config.cmd]


def status_text(state: ContainerState) -> str:
    """Docker's State.String(), which `docker ps` shows as STATUS."""
    if state.status == "restarting":
        return f"Restarting ({state.exit_code}) {human_duration(since(state.finished_at))} ago"
    if state.running:
        return f"Up {human_duration(since(state.started_at))}"
    if state.status == "removing":
        return "Removal In Progress"
    if state.status == "dead":
        return "Dead"
    if state.status == "created" or state.started_at.startswith("0001"):
        return "Created"
    if state.finished_at.startswith("0001"):
        return ""
    return f"Exited ({state.exit_code}) {human_duration(since(state.finished_at))} ago"


def state_json(state: ContainerState) -> dict[str, Any]:
    return {
        "Status": state.status,
        "Running": state.running,
        "Paused": False,
        "Restarting": state.status == "restarting",
        "OOMKilled": False,
        "Dead": state.status == "dead",
        "Pid": state.pid,
        "ExitCode": state.exit_code,
        "Error": state.error,
        "StartedAt": rfc3339nano(state.started_at),
        "FinishedAt": rfc3339nano(state.finished_at),
    }


def _published(eps: dict[str, Endpoint]) -> dict[str, list[PublishedPort]]:
    found: dict[str, list[PublishedPort]] = defaultdict(list)
    for ep in eps.values():
        for port in ep.published:
            found[f"{port.container_port}/{port.proto}"].append(port)
    return found


def _exposed_keys(c: Container) -> list[str]:
    keys = [f"{port}/{proto}" for port, proto in c.config.exposed_ports]
    keys += [f"{m.container_port}/{m.proto}" for m in c.config.port_bindings]
    return list(dict.fromkeys(keys))


def ports_map(c: Container, eps: dict[str, Endpoint]) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed port, with its host bindings or null."""
    if not c.state.running:
        return {}
    published = _published(eps)
    ports: dict[str, Any] = dict.fromkeys(_exposed_keys(c))
    for key, bindings in published.items():
        ports[key] = [{"HostIp": str(p.host_ip), "HostPort": str(p.host_port)} for p in bindings]
    return ports


def ports_list(c: Container, eps: dict[str, Endpoint]) -> list[dict[str, Any]]:
    """The list item's Ports: bindings, and exposed ports without one."""
    published = _published(eps)
    found: list[dict[str, Any]] = []
    for key in dict.fromkeys([*_exposed_keys(c), *published]):
        port, _, proto = key.partition("/")
        for p in published.get(key, []):
            found.append(
                {
                    "IP": str(p.host_ip),
                    "PrivatePort": int(port),
                    "PublicPort": p.host_port,
                    "Type": proto,
                }
            )
        if key not in published:
            found.append({"PrivatePort": int(port), "Type": proto})
    return found


def endpoint_json(
    c: Container, name: str, network: Network | None, ep: Endpoint | None, version: str
) -> dict[str, Any]:
    """One NetworkSettings.Networks entry: what was asked (IPAMConfig, Aliases, Links,
    DriverOpts) and what is live (addresses, gateway, ids)."""
    asked = c.config.networks.get(name) or EndpointSettings()
    ipam: dict[str, str] = {}
    if asked.ipv4 is not None:
        ipam["IPv4Address"] = str(asked.ipv4)
    if asked.ipv6 is not None:
        ipam["IPv6Address"] = str(asked.ipv6)
    entry: dict[str, Any] = {
        "IPAMConfig": ipam or None,
        "Links": list(asked.links) or None,
        "Aliases": list(asked.aliases) or None,
        "MacAddress": (ep.mac if ep else asked.mac) or "",
        "DriverOpts": dict(asked.driver_opts) or None,
        "NetworkID": network.id if network else "",
        "EndpointID": ep.id if ep else "",
        "Gateway": str(ep.gateway4) if ep and ep.gateway4 else "",
        "IPAddress": str(ep.ipv4.ip) if ep and ep.ipv4 else "",
        "IPPrefixLen": ep.ipv4.network.prefixlen if ep and ep.ipv4 else 0,
        "IPv6Gateway": str(ep.gateway6) if ep and ep.gateway6 else "",
        "GlobalIPv6Address": str(ep.ipv6.ip) if ep and ep.ipv6 else "",
        "GlobalIPv6PrefixLen": ep.ipv6.network.prefixlen if ep and ep.ipv6 else 0,
    }
    if version_tuple(version) >= (1, 44):
        entry["DNSNames"] = _dns_names(c, name, ep)
    return entry


def _dns_names(c: Container, network: str, ep: Endpoint | None) -> list[str] | None:
    """Docker's buildEndpointDNSNames; only user-defined networks have service discovery."""
    if ep is None or network in (DEFAULT_BRIDGE, "host", "none"):
        return None
    names = [c.name, *ep.aliases, c.short_id]
    if c.config.hostname:
        names.append(c.config.hostname)
    return list(dict.fromkeys(n for n in names if n))


def networks_json(
    c: Container, eps: dict[str, Endpoint], info: NetInfo, version: str
) -> dict[str, Any]:
    mode = c.config.network_mode
    if mode.startswith("container:"):
        return {}
    live = {info.name_of(net_id): (info.networks.get(net_id), ep) for net_id, ep in eps.items()}
    by_name = {n.name: n for n in info.networks.values()}
    names = list(dict.fromkeys([*live, *([] if c.state.running else [mode]), *c.config.networks]))
    found: dict[str, Any] = {}
    for name in names:
        network, ep = live.get(name, (by_name.get(name), None))
        found[name] = endpoint_json(c, name, network, ep, version)
    return found


def network_settings_json(
    c: Container, eps: dict[str, Endpoint], info: NetInfo, version: str
) -> dict[str, Any]:
    networks = networks_json(c, eps, info, version)
    legacy = networks.get(DEFAULT_BRIDGE, {})
    sandbox = c.sandbox_id or ""
    return {
        "Bridge": "",
        "SandboxID": sandbox,
        "SandboxKey": info.netns.get(sandbox, ""),
        "Ports": ports_map(c, eps),
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": legacy.get("EndpointID", ""),
        "Gateway": legacy.get("Gateway", ""),
        "GlobalIPv6Address": legacy.get("GlobalIPv6Address", ""),
        "GlobalIPv6PrefixLen": legacy.get("GlobalIPv6PrefixLen", 0),
        "IPAddress": legacy.get("IPAddress", ""),
        "IPPrefixLen": legacy.get("IPPrefixLen", 0),
        "IPv6Gateway": legacy.get("IPv6Gateway", ""),
        "MacAddress": legacy.get("MacAddress", ""),
        "Networks": networks,
    }


def _binding_json(mapping: PortMapping) -> dict[str, str]:
    port = ""
    if mapping.host_ports is not None:
        first, last = mapping.host_ports
        port = str(first) if first == last else f"{first}-{last}"
    return {"HostIp": str(mapping.host_ip or ""), "HostPort": port}


def host_config_json(c: Container) -> dict[str, Any]:
    cfg = c.config
    bindings: dict[str, list[dict[str, str]]] = defaultdict(list)
    for mapping in cfg.port_bindings:
        bindings[f"{mapping.container_port}/{mapping.proto}"].append(_binding_json(mapping))
    return {
        "NetworkMode": cfg.network_mode,
        "PortBindings": dict(bindings),
        "RestartPolicy": {
            "Name": cfg.restart_policy.name,
            "MaximumRetryCount": cfg.restart_policy.maximum_retry_count,
        },
        "AutoRemove": cfg.auto_remove,
        "PublishAllPorts": cfg.publish_all,
        "Dns": list(cfg.dns),
        "DnsOptions": list(cfg.dns_options),
        "DnsSearch": list(cfg.dns_search),
        "ExtraHosts": list(cfg.extra_hosts) or None,
        "Links": list(cfg.links) or None,
        **({"Rootfs": cfg.rootfs} if cfg.rootfs else {}),  # berth's extension
        **unimplemented_json(),
    }


def config_json(c: Container) -> dict[str, Any]:
    cfg = c.config
    config: dict[str, Any] = {
        "Hostname": cfg.hostname or c.short_id,
        "Domainname": cfg.domainname,
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": cfg.tty,
        "OpenStdin": cfg.open_stdin,
        "StdinOnce": cfg.stdin_once,
        "Env": list(cfg.env) or None,
        "Cmd": list(cfg.cmd) or None,
        "Image": cfg.image,
        "Volumes": None,
        "WorkingDir": cfg.working_dir,
        "Entrypoint": list(cfg.entrypoint) or None,
        "OnBuild": None,
        "Labels": dict(cfg.labels),
    }
    exposed = _exposed_keys(c)
    if exposed:
        config["ExposedPorts"] = {key: {} for key in exposed}
    return config


def _file(c: Container, name: str) -> str:
    return os.path.join(c.path, name) if c.path else ""


def log_path(data_root: str, c: Container) -> str:
    """Docker's (and berth's runtime's) layout: <data-root>/containers/<id>/<id>-json.log."""
    return os.path.join(data_root, "containers", c.id, f"{c.id}-json.log")


def inspect_json(
    c: Container, eps: dict[str, Endpoint], info: NetInfo, version: str, data_root: str
) -> dict[str, Any]:
    args = command(c)
    return {
        "Id": c.id,
        "Created": rfc3339nano(c.created),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": state_json(c.state),
        "Image": c.config.image,
        "ResolvConfPath": _file(c, "resolv.conf"),
        "HostnamePath": _file(c, "hostname"),
        "HostsPath": _file(c, "hosts"),
        "LogPath": log_path(data_root, c),
        "Name": f"/{c.name}",
        "RestartCount": c.state.restart_count,
        "Driver": "berth",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config_json(c),
        "GraphDriver": {"Data": None, "Name": "berth"},
        "Mounts": [],
        "Config": config_json(c),
        "NetworkSettings": network_settings_json(c, eps, info, version),
    }


def summary_json(
    c: Container, eps: dict[str, Endpoint], info: NetInfo, version: str
) -> dict[str, Any]:
    return {
        "Id": c.id,
        "Names": [f"/{c.name}"],
        "Image": c.config.image,
        "ImageID": "",
        "Command": " ".join(command(c)),
        "Created": unix_seconds(c.created),
        "Ports": ports_list(c, eps),
        "Labels": dict(c.config.labels),
        "State": c.state.status,
        "Status": status_text(c.state),
        "HostConfig": {"NetworkMode": c.config.network_mode},
        "NetworkSettings": {"Networks": networks_json(c, eps, info, version)},
        "Mounts": [],
    }
