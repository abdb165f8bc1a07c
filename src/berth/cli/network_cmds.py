"""`berth network create|ls|inspect|rm|connect|disconnect|prune`, with docker's flags, request
bodies and output."""

from __future__ import annotations

import sys
from typing import Any

import click

from berth.cli import opts
from berth.cli.base import (
    SilentExit,
    api,
    err,
    for_each,
    is_not_found,
    list_options,
    list_output,
    out,
)
from berth.cli.client import ref
from berth.cli.errors import CliError
from berth.cli.output import natural_key, render_inspect
from berth.cli.rows import NETWORK_HEADERS, NETWORK_TABLE, NetworkRow

PRUNE_WARNING = (
    "WARNING! This will remove all custom networks not used by at least one container.\n"
    "Are you sure you want to continue? [y/N] "
)


class _AliasedGroup(click.Group):
    """docker's hidden aliases: `network list` = `ls`, `network remove` = `rm`."""

    ALIASES = {"list": "ls", "remove": "rm"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))


@click.group(cls=_AliasedGroup)
def network() -> None:
    """Manage networks."""


def create_body(
    name: str,
    *,
    driver: str = "bridge",
    options: tuple[str, ...] = (),
    labels: tuple[str, ...] = (),
    internal: bool = False,
    ipv4: bool | None = None,
    ipv6: bool | None = None,
    attachable: bool = False,
    ingress: bool = False,
    scope: str = "",
    config_only: bool = False,
    config_from: str = "",
    ipam_driver: str = "default",
    subnets: tuple[str, ...] = (),
    ip_ranges: tuple[str, ...] = (),
    gateways: tuple[str, ...] = (),
    aux_addresses: tuple[str, ...] = (),
    ipam_opts: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The POST /networks/create body the docker CLI sends for these flags."""
    body: dict[str, Any] = {"Driver": driver, "Scope": scope}
    if ipv4 is not None:
        body["EnableIPv4"] = ipv4
    if ipv6 is not None:
        body["EnableIPv6"] = ipv6
    body["IPAM"] = {
        "Driver": ipam_driver,
        "Options": opts.kv_map(ipam_opts),
        "Config": opts.ipam_config(subnets, ip_ranges, gateways, aux_addresses),
    }
    body.update(
        {
            "Internal": internal,
            "Attachable": attachable,
            "Ingress": ingress,
            "ConfigOnly": config_only,
            "ConfigFrom": {"Network": config_from} if config_from else None,
            "Options": opts.kv_map(options),
            "Labels": opts.kv_map(labels),
            "Name": name,
        }
    )
    return body


@network.command("create")
@click.option("-d", "--driver", default="bridge", show_default=True, help="Network driver.")
@click.option("-o", "--opt", "options", multiple=True, metavar="KEY=VALUE", help="Driver option.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Network label.")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--ipv4/--no-ipv4", default=None, help="Enable or disable IPv4 addresses.")
@click.option("--ipv6/--no-ipv6", default=None, help="Enable or disable IPv6 addresses.")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment.")
@click.option("--ingress", is_flag=True, help="Create swarm routing-mesh network.")
@click.option("--scope", default="", help="Control the network's scope.")
@click.option("--config-only", is_flag=True, help="Create a configuration only network.")
@click.option("--config-from", default="", help="The network to copy the configuration from.")
@click.option("--ipam-driver", default="default", show_default=True, help="IPAM driver.")
@click.option("--subnet", "subnets", multiple=True, help="Subnet in CIDR format.")
@click.option("--ip-range", "ip_ranges", multiple=True, help="Allocate container IPs from here.")
@click.option("--gateway", "gateways", multiple=True, help="Gateway for the master subnet.")
@click.option("--aux-address", "aux_addresses", multiple=True, metavar="NAME=IP")
@click.option("--ipam-opt", "ipam_opts", multiple=True, metavar="KEY=VALUE", help="IPAM option.")
@click.argument("name", metavar="NETWORK")
def create(name: str, **flags: Any) -> None:
    """Create a network."""
    reply = api().post("/networks/create", create_body(name, **flags))
    if reply.get("Warning"):
        err(f"WARNING: {reply['Warning']}")
    out(f"{reply['Id']}\n")


@network.command("ls")
@list_options
def ls(quiet: bool, no_trunc: bool, fmt: str | None, filters: tuple[str, ...]) -> None:
    """List networks."""
    items = api().get("/networks", filters=opts.filters(filters)) or []
    items.sort(key=lambda n: natural_key(str(n.get("Name", ""))))
    rows = [NetworkRow(item, trunc=not no_trunc) for item in items]
    list_output(rows, fmt, quiet, NETWORK_TABLE, NETWORK_HEADERS)


@network.command("inspect")
@click.option("-f", "--format", "fmt", metavar="STRING", help="Format output with a template.")
@click.option("-v", "--verbose", is_flag=True, help="Verbose output for diagnostics.")
@click.argument("names", nargs=-1, required=True, metavar="NETWORK...")
def inspect(fmt: str | None, verbose: bool, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""
    found, errors = [], []
    for name in names:
        try:
            found.append(api().get(f"/networks/{ref(name)}", verbose=verbose or None))
        except CliError as exc:
            errors.append(str(exc))
    out(render_inspect(found, fmt))
    if errors:
        for message in errors:
            err(message)
        raise SilentExit(1)


@network.command("rm")
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist.")
@click.argument("names", nargs=-1, required=True, metavar="NETWORK...")
def rm(force: bool, names: tuple[str, ...]) -> int:
    """Remove one or more networks."""

    def remove(name: str) -> str | None:
        try:
            api().delete(f"/networks/{ref(name)}")
        except CliError as exc:
            if not (force and is_not_found(exc)):
                raise
            return ""  # docker says nothing about a missing network with -f
        return None

    return for_each(names, remove)


@network.command("connect")
@click.option("--ip", default="", help='IPv4 address (e.g. "172.30.100.104").')
@click.option("--ip6", default="", help='IPv6 address (e.g. "2001:db8::33").')
@click.option("--alias", "aliases", multiple=True, help="Network-scoped alias for the container.")
@click.option("--link", "links", multiple=True, help="Add link to another container.")
@click.option("--link-local-ip", "link_local", multiple=True, help="A link-local address.")
@click.option("--driver-opt", "driver_opts", multiple=True, help="Driver options for the network.")
@click.option("--gw-priority", type=int, default=0, help="Highest priority gets the default route.")
@click.option("--mac-address", default="", help="MAC address for the container on this network.")
@click.argument("net", metavar="NETWORK")
@click.argument("container", metavar="CONTAINER")
def connect(net: str, container: str, **flags: Any) -> None:
    """Connect a container to a network."""
    api().post(f"/networks/{ref(net)}/connect", connect_body(container, **flags))


def connect_body(
    container: str,
    *,
    ip: str = "",
    ip6: str = "",
    aliases: tuple[str, ...] = (),
    links: tuple[str, ...] = (),
    link_local: tuple[str, ...] = (),
    driver_opts: tuple[str, ...] = (),
    gw_priority: int = 0,
    mac_address: str = "",
) -> dict[str, Any]:
    ipam: dict[str, Any] = {}
    if ip:
        ipam["IPv4Address"] = ip
    if ip6:
        ipam["IPv6Address"] = ip6
    if link_local:
        ipam["LinkLocalIPs"] = list(link_local)
    endpoint: dict[str, Any] = {
        "IPAMConfig": ipam,
        "Links": list(links) or None,
        "Aliases": list(aliases),
        "MacAddress": mac_address,
        "DriverOpts": opts.strict_kv_map(driver_opts, "driver options"),
        "GwPriority": gw_priority,
    }
    return {"Container": container, "EndpointConfig": endpoint}


@network.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect.")
@click.argument("net", metavar="NETWORK")
@click.argument("container", metavar="CONTAINER")
def disconnect(net: str, container: str, force: bool) -> None:
    """Disconnect a container from a network."""
    api().post(f"/networks/{ref(net)}/disconnect", {"Container": container, "Force": force})


@network.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help='Filter values (e.g. "until=24h").')
def prune(force: bool, filters: tuple[str, ...]) -> None:
    """Remove all unused networks."""
    if not force and not confirm(PRUNE_WARNING):
        return
    reply = api().post("/networks/prune", filters=opts.filters(filters)) or {}
    deleted = reply.get("NetworksDeleted") or []
    if deleted:
        out("Deleted Networks:\n" + "".join(f"{name}\n" for name in deleted) + "\n")


def confirm(question: str) -> bool:
    """Docker's prompt: "y" or "Y" on stdin (a terminal or a pipe) means yes."""
    out(question)
    answer = sys.stdin.readline()
    if not answer.endswith("\n"):
        out("\n")
    return answer.strip() in ("y", "Y")
