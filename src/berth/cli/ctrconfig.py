"""`run`/`create` flags -> the POST /containers/create request (query and body), in the shape
and with the client-side checks of the docker CLI (cli/command/container/opts.go).

berth runs the host's filesystem, so IMAGE is only recorded; the command after it is the
process. ``--rootfs DIR`` (a berth extension) sends ``HostConfig.Rootfs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from berth.cli import opts
from berth.cli.errors import OptError

ROOTFS_FIELD = "Rootfs"  # in HostConfig; berth's extension of Docker's create body
BUILTIN_MODES = ("default", "bridge", "host", "none")


def _user_defined(mode: str) -> bool:
    return mode not in BUILTIN_MODES and not mode.startswith("container:")


def extra_host(value: str) -> str:
    """--add-host "name:ip" or "name=ip", sent as "name:ip"."""
    name, sep, address = value.partition("=")
    if not sep:
        name, sep, address = value.partition(":")
    if not sep or not name or not address:
        raise OptError(f"bad format for add-host: {value!r}")
    return f"{name}:{address}"


def endpoints(
    networks: Sequence[str],
    *,
    ip: str = "",
    ip6: str = "",
    aliases: Sequence[str] = (),
    links: Sequence[str] = (),
    mac_address: str = "",
) -> tuple[str, dict[str, Any]]:
    """(NetworkMode, NetworkingConfig.EndpointsConfig). The per-endpoint flags apply to the
    first network; an endpoint with nothing set is left out when there is one network."""
    modes = list(networks) or ["default"]
    if any(_user_defined(m) for m in modes) and any(not _user_defined(m) for m in modes):
        raise OptError(
            "conflicting options: cannot attach both user-defined and non-user-defined "
            "network-modes"
        )
    configs: dict[str, Any] = {}
    for n, mode in enumerate(modes):
        if mode in configs:
            raise OptError(f'network "{mode}" is specified multiple times')
        ipam: dict[str, str] = {}
        endpoint: dict[str, Any] = {
            "IPAMConfig": ipam,
            "Links": None,
            "Aliases": None,
            "MacAddress": "",
            "DriverOpts": None,
            "GwPriority": 0,
        }
        if n == 0:
            if ip:
                ipam["IPv4Address"] = ip
            if ip6:
                ipam["IPv6Address"] = ip6
            endpoint["Links"] = list(links) or None
            endpoint["Aliases"] = list(aliases) or None
            endpoint["MacAddress"] = mac_address
            if len(modes) == 1 and not (ipam or links or aliases or mac_address):
                continue
        endpoint["IPAMConfig"] = ipam or None
        configs[mode] = endpoint
    return modes[0], configs


def create_request(
    image: str,
    command: Sequence[str],
    *,
    name: str = "",
    networks: Sequence[str] = (),
    publish: Sequence[str] = (),
    publish_all: bool = False,
    expose: Sequence[str] = (),
    ip: str = "",
    ip6: str = "",
    hostname: str = "",
    domainname: str = "",
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_option: Sequence[str] = (),
    network_alias: Sequence[str] = (),
    link: Sequence[str] = (),
    add_host: Sequence[str] = (),
    env: Sequence[str] = (),
    env_file: Sequence[str] = (),
    workdir: str = "",
    entrypoint: str | None = None,
    restart: str = "no",
    interactive: bool = False,
    tty: bool = False,
    rm: bool = False,
    label: Sequence[str] = (),
    mac_address: str = "",
    rootfs: str | None = None,
    detach: bool = False,
    console_size: tuple[int, int] | None = None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """(query, body) for POST /containers/create."""
    exposed, bindings = opts.ports(publish, expose)
    policy = opts.restart_policy(restart or "no")
    if rm and policy["Name"] != "no":
        raise OptError("Conflicting options: --restart and --rm")
    mode, endpoint_configs = endpoints(
        networks, ip=ip, ip6=ip6, aliases=network_alias, links=link, mac_address=mac_address
    )
    host: dict[str, Any] = {
        "NetworkMode": mode,
        "PortBindings": bindings,
        "RestartPolicy": policy,
        "AutoRemove": rm,
        "Dns": list(dns),
        "DnsOptions": list(dns_option),
        "DnsSearch": list(dns_search),
        "ExtraHosts": [extra_host(h) for h in add_host] or None,
        "Links": list(link) or None,
        "PublishAllPorts": publish_all,
    }
    if console_size is not None:
        host["ConsoleSize"] = list(console_size)
    if rootfs is not None:
        host[ROOTFS_FIELD] = rootfs
    attach = not detach
    body: dict[str, Any] = {
        "Hostname": hostname,
        "Domainname": domainname,
        "AttachStdin": attach and interactive,
        "AttachStdout": attach,
        "AttachStderr": attach,
    }
    if exposed:
        body["ExposedPorts"] = exposed
    body.update(
        {
            "Tty": tty,
            "OpenStdin": interactive,
            "StdinOnce": attach and interactive,
            "Env": opts.environment(env_file, env),
            "Cmd": list(command) or None,
            "Image": image,
            "WorkingDir": workdir,
            "Entrypoint": None if entrypoint is None else [entrypoint],
            "Labels": opts.kv_map(label),
            "HostConfig": host,
            "NetworkingConfig": {"EndpointsConfig": endpoint_configs},
        }
    )
    return ({"name": name} if name else {}), body
