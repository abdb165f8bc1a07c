"""POST /containers/create bodies (Docker's Config + HostConfig + NetworkingConfig, as the
docker CLI and docker-py send them) -> the runtime's ContainerConfig."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from ipaddress import ip_address
from typing import Any

from berth.api.base import version_tuple
from berth.api.errors import BadRequest, Unsupported
from berth.api.hostconfig import check_unimplemented
from berth.api.netparse import parse_endpoint_settings
from berth.api.requests import Fields
from berth.model.errors import InvalidParameter
from berth.model.ports import PortMapping, Proto, parse_exposed, parse_port_spec
from berth.runtime.api import ContainerConfig, EndpointSettings, RestartPolicy
from berth.runtime.etcfiles import parse_extra_host
from berth.runtime.syntax import parse_link, validate_dns_options, validate_dns_search

NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")  # berth allows 1-char names
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
# Config fields berth does not implement: accepted at their zero value only
_CONFIG_ZERO_ONLY = (
    "User",
    "Volumes",
    "OnBuild",
    "Healthcheck",
    "StopSignal",
    "StopTimeout",
    "Shell",
    "ArgsEscaped",
    "NetworkDisabled",
)


def validate_container_name(name: str) -> str:
    if not NAME.match(name):
        raise BadRequest(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")


def parse_container_create(body: Fields, name: str, version: str) -> ContainerConfig:
    entrypoint = body.strings("Entrypoint", allow_string=True)
    cmd = body.strings("Cmd", allow_string=True)
    if not cmd and not entrypoint:
        raise BadRequest("No command specified (Cmd or Entrypoint): berth does not read images")
    working_dir = body.text("WorkingDir")
    if working_dir and not working_dir.startswith("/"):
        raise BadRequest(
            f"the working directory '{working_dir}' is invalid, it needs to be an absolute path"
        )
    body.ignore("AttachStdin", "AttachStdout", "AttachStderr")  # attaching is its own request
    for key in _CONFIG_ZERO_ONLY:
        value = body.raw(key)
        if value not in (None, "", False, [], {}):
            raise Unsupported(key)
    legacy_mac = body.opt_text("MacAddress") or None
    config: dict[str, Any] = {
        "cmd": cmd,
        "name": validate_container_name(name) if name else "",
        "image": body.text("Image"),
        "entrypoint": entrypoint,
        "env": body.strings("Env"),
        "working_dir": working_dir,
        "hostname": body.text("Hostname"),
        "domainname": body.text("Domainname"),
        "tty": body.flag("Tty"),
        "open_stdin": body.flag("OpenStdin"),
        "stdin_once": body.flag("StdinOnce"),
        "labels": body.mapping("Labels"),
        "exposed_ports": _exposed(body),
    }
    host = body.obj("HostConfig")
    if host is not None:
        config.update(parse_host_config(host))
    mode = config.get("network_mode", "bridge")
    networks = _endpoints(body.obj("NetworkingConfig"), mode, version)
    body.done()
    if legacy_mac is not None:
        networks = _migrate_mac(networks, mode, legacy_mac)
    return ContainerConfig(**config, networks=networks)


def _exposed(body: Fields) -> tuple[tuple[int, Proto], ...]:
    raw = body.raw("ExposedPorts")
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise BadRequest('ExposedPorts must be an object like {"80/tcp": {}}')
    try:
        return tuple(parse_exposed(key) for key in raw)
    except InvalidParameter as err:
        raise BadRequest(f"ExposedPorts: {err}") from None


def parse_host_config(host: Fields) -> dict[str, Any]:
    mode = host.text("NetworkMode") or "default"
    found: dict[str, Any] = {
        "network_mode": "bridge" if mode == "default" else mode,
        "port_bindings": _port_bindings(host),
        "publish_all": host.flag("PublishAllPorts"),
        "dns": _dns(host),
        "dns_search": _each(host, "DnsSearch", lambda v: validate_dns_search([v])),
        "dns_options": _each(host, "DnsOptions", lambda v: validate_dns_options([v])),
        "extra_hosts": _each(host, "ExtraHosts", parse_extra_host),
        "links": _each(host, "Links", parse_link),
        "restart_policy": _restart_policy(host.obj("RestartPolicy")),
        "auto_remove": host.flag("AutoRemove"),
        "rootfs": _rootfs(host),
    }
    if found["auto_remove"] and found["restart_policy"].name != "no":
        raise BadRequest("conflicting options: cannot specify both --restart and --rm")
    check_unimplemented(host)
    host.done()
    return found


def _each(fields: Fields, key: str, check: Callable[[str], object]) -> tuple[str, ...]:
    """An array of strings, each passing ``check`` (which raises InvalidParameter)."""
    values = fields.strings(key)
    for i, value in enumerate(values):
        try:
            check(value)
        except InvalidParameter as err:
            raise BadRequest(f"{fields.name(key)}[{i}]: {err}") from None
    return values


def _rootfs(host: Fields) -> str | None:
    """berth's extension: ``HostConfig.Rootfs``, a root directory on the host for the process
    (berth does not unpack images)."""
    path = host.opt_text("Rootfs") or None
    if path is not None and not path.startswith("/"):
        raise BadRequest(f"{host.name('Rootfs')} must be an absolute path, not {path!r}")
    return path


def _dns(host: Fields) -> tuple[str, ...]:
    servers = host.strings("Dns")
    for i, server in enumerate(servers):
        try:
            ip_address(server)
        except ValueError:
            raise BadRequest(f"{host.name('Dns')}[{i}]: {server!r} is not an IP address") from None
    return servers


def _restart_policy(fields: Fields | None) -> RestartPolicy:
    if fields is None:
        return RestartPolicy()
    name = fields.text("Name") or "no"
    count = fields.number("MaximumRetryCount")
    fields.done()
    if name not in RESTART_POLICIES:
        raise BadRequest(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'"
        )
    if count < 0:
        raise BadRequest("invalid restart policy: maximum retry count cannot be negative")
    if count and name != "on-failure":
        raise BadRequest(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    return RestartPolicy(name=name, maximum_retry_count=count)  # type: ignore[arg-type]


def _port_bindings(host: Fields) -> tuple[PortMapping, ...]:
    """{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}; an empty list or an empty binding
    publishes on an ephemeral host port (Docker back-fills empty lists the same way)."""
    raw = host.raw("PortBindings")
    if raw is None:
        return ()
    where = host.name("PortBindings")
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object")
    found: list[PortMapping] = []
    for key, bindings in raw.items():
        try:
            port, proto = parse_exposed(key)
        except InvalidParameter as err:
            raise BadRequest(f"{where}: {err}") from None
        if bindings is not None and not isinstance(bindings, list):
            raise BadRequest(f"{where}.{key} must be an array of bindings")
        for i, binding in enumerate(bindings or [{}]):
            if not isinstance(binding, dict):
                raise BadRequest(f"{where}.{key}[{i}] must be an object")
            fields = Fields(binding, "container create request", f"{where}.{key}[{i}].")
            spec = _binding_spec(fields.text("HostIp"), fields.text("HostPort"), port, proto)
            fields.done()
            try:
                found.extend(parse_port_spec(spec))
            except InvalidParameter as err:
                raise BadRequest(f"{where}.{key}[{i}]: {err}") from None
    return tuple(found)


def _binding_spec(host_ip: str, host_port: str, port: int, proto: str) -> str:
    target = f"{port}/{proto}"
    if host_ip:
        shown = f"[{host_ip}]" if ":" in host_ip else host_ip
        return f"{shown}:{host_port}:{target}"
    return f"{host_port}:{target}" if host_port else target


def _endpoints(fields: Fields | None, mode: str, version: str) -> dict[str, EndpointSettings]:
    if fields is None:
        return {}
    raw = fields.obj_map("EndpointsConfig")
    fields.done()
    if version_tuple(version) < (1, 44) and len(raw) > 1:
        raise BadRequest(
            "Container cannot be created with multiple network endpoints: " + ", ".join(raw)
        )
    found: dict[str, EndpointSettings] = {}
    for name, settings in raw.items():
        # the CLI names the endpoint of the default network "default"
        key = mode if name == "default" and mode == "bridge" else name
        found[key] = parse_endpoint_settings(settings)
    return found


def _migrate_mac(
    networks: dict[str, EndpointSettings], mode: str, mac: str
) -> dict[str, EndpointSettings]:
    """The container-wide MacAddress (API < 1.52) moves to the main network's endpoint."""
    if mode in ("host", "none") or mode.startswith("container:"):
        raise BadRequest("conflicting options: mac-address and the network mode")
    current = networks.get(mode, EndpointSettings())
    migrated = parse_endpoint_settings(Fields({"MacAddress": mac}, "container create request"))
    if current.mac and current.mac != migrated.mac:
        raise BadRequest(
            "the container-wide MAC address must match the endpoint-specific MAC address for "
            "the main network, or be left empty"
        )
    return {**networks, mode: replace(current, mac=migrated.mac)}
