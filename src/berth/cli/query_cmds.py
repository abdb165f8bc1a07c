"""`berth ps|inspect|logs|port`: reading containers (and, for inspect, networks) in docker's
output formats."""

from __future__ import annotations

from typing import Any

import click

from berth.cli import opts
from berth.cli.base import SilentExit, api, err, is_not_found, list_options, list_output, out
from berth.cli.client import ref
from berth.cli.errors import CliError
from berth.cli.output import natural_key, render_inspect
from berth.cli.rows import CONTAINER_HEADERS, CONTAINER_TABLE, ContainerRow, join_host_port
from berth.cli.stdio import OutputSink

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers.")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers.")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@list_options
def ps(
    *,
    all_: bool,
    last: int,
    latest: bool,
    size: bool,
    quiet: bool,
    no_trunc: bool,
    fmt: str | None,
    filters: tuple[str, ...],
) -> None:
    """List containers."""
    if quiet and fmt and fmt != "table":
        err("WARNING: Ignoring custom format, because both --format and --quiet are set.")
    query: dict[str, Any] = {"all": all_ or None, "size": size or None}
    limit = 1 if latest else last
    if limit > 0:
        query["limit"] = limit
    query["filters"] = opts.filters(filters)
    items = api().get("/containers/json", **query) or []
    rows = [ContainerRow(item, trunc=not no_trunc) for item in items]
    table = CONTAINER_TABLE + ("\t{{.Size}}" if size else "")
    list_output(rows, fmt, quiet, table, CONTAINER_HEADERS, quiet_wins=True)


def _inspect_one(name: str, kind: str | None) -> Any:
    if kind in (None, "container"):
        try:
            return api().get(f"/containers/{ref(name)}/json")
        except CliError as exc:
            if kind or not is_not_found(exc):
                raise
    if kind in (None, "network"):
        try:
            return api().get(f"/networks/{ref(name)}")
        except CliError as exc:
            if kind or not is_not_found(exc):
                raise
    raise CliError(f"Error: No such object: {name}")


@click.command()
@click.option("-f", "--format", "fmt", metavar="STRING", help="Format output with a template.")
@click.option("--type", "kind", type=click.Choice(["container", "network"]), default=None)
@click.option("-s", "--size", is_flag=True, help="Display total file sizes (ignored).")
@click.argument("names", nargs=-1, required=True, metavar="NAME|ID...")
def inspect(fmt: str | None, kind: str | None, size: bool, names: tuple[str, ...]) -> None:
    """Return low-level information on containers and networks."""
    found, errors = [], []
    for name in names:
        try:
            found.append(_inspect_one(name, kind))
        except CliError as exc:
            errors.append(str(exc))
    out(render_inspect(found, fmt))
    for message in errors:
        err(message)
    if errors:
        raise SilentExit(1)


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help='Lines to show from the end ("all").')
@click.option("--since", default=None, help="Logs since a timestamp or relative (e.g. 42m).")
@click.option("--until", default=None, help="Logs before a timestamp or relative (e.g. 42m).")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--details", is_flag=True, help="Show extra details (ignored).")
@click.argument("container")
def logs(
    *,
    follow: bool,
    tail: str,
    since: str | None,
    until: str | None,
    timestamps: bool,
    details: bool,
    container: str,
) -> None:
    """Fetch the logs of a container."""
    query: dict[str, Any] = {"stdout": True, "stderr": True, "tail": tail}
    if follow:
        query["follow"] = True
    if since:
        query["since"] = opts.timestamp(since)
    if until:
        query["until"] = opts.timestamp(until)
    if timestamps:
        query["timestamps"] = True
    resp = api().stream("GET", f"/containers/{ref(container)}/logs", query=query)
    kind = (resp.getheader("Content-Type") or "").split(";")[0].strip()
    if kind not in (MULTIPLEXED, RAW):
        tty = (api().get(f"/containers/{ref(container)}/json").get("Config") or {}).get("Tty")
        kind = RAW if tty else MULTIPLEXED
    sink = OutputSink(tty=kind == RAW)
    while chunk := resp.read1(65536):
        sink.feed(chunk)
    sink.finish()


@click.command()
@click.argument("container")
@click.argument("private_port", required=False, metavar="[PRIVATE_PORT[/PROTO]]")
def port(container: str, private_port: str | None) -> None:
    """List port mappings or a specific mapping for the container."""
    info = api().get(f"/containers/{ref(container)}/json")
    ports: dict[str, Any] = (info.get("NetworkSettings") or {}).get("Ports") or {}
    lines: list[str] = []
    if private_port:
        number, _, proto = private_port.partition("/")
        if not number.isdigit() or int(number) > 65535:
            raise CliError(f"Error: invalid port ({number})")
        frontends = ports.get(f"{number}/{proto or 'tcp'}") or []
        if not frontends:
            raise CliError(f"Error: No public port '{private_port}' published for {container}")
        lines = [join_host_port(f["HostIp"], f["HostPort"]) for f in frontends]
    else:
        for private, frontends in ports.items():
            for f in frontends or []:
                lines.append(f"{private} -> {join_host_port(f['HostIp'], f['HostPort'])}")
    if lines:
        out("\n".join(sorted(lines, key=natural_key)) + "\n")
