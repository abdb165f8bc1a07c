"""`berth version`, `berth info` and `berth events`, shaped like docker's."""

from __future__ import annotations

import platform
from datetime import datetime
from typing import Any

import click

from berth.cli import opts
from berth.cli.base import api, out
from berth.cli.client import CLIENT_MAX_VERSION
from berth.cli.errors import CliError
from berth.cli.main import VERSION
from berth.cli.template import Template
from berth.cli.tfuncs import go_str

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def _client_facts() -> dict[str, Any]:
    machine = platform.machine()
    return {
        "Version": VERSION,
        "ApiVersion": CLIENT_MAX_VERSION,
        "PythonVersion": platform.python_version(),
        "Os": "linux",
        "Arch": _GO_ARCH.get(machine, machine),
    }


def _go_names(facts: dict[str, Any] | None) -> dict[str, Any] | None:
    """docker's version templates name Go struct fields ({{.Server.APIVersion}}), which differ
    from the JSON keys (ApiVersion) for the API versions; offer both spellings."""
    if facts is None:
        return None
    renamed = {"ApiVersion": "APIVersion", "MinAPIVersion": "MinAPIVersion"}
    return {**facts, **{go: facts[key] for key, go in renamed.items() if key in facts}}


def _lines(title: str, rows: list[tuple[str, Any]], indent: str = " ") -> str:
    text = f"{title}\n" if title else ""
    return text + "".join(f"{indent}{f'{name}:':<18}{value}\n" for name, value in rows)


@click.command()
@click.option("-f", "--format", "fmt", metavar="STRING", help="Format output with a template.")
def version(fmt: str | None) -> None:
    """Show the berth version information."""
    client = _client_facts()
    server: dict[str, Any] | None = None
    failure: CliError | None = None
    try:
        client["ApiVersion"] = api().version
        server = api().get("/version")
    except CliError as exc:
        failure = exc
    if fmt:
        out(Template(fmt).render({"Client": _go_names(client), "Server": _go_names(server)}) + "\n")
    else:
        out(
            _lines(
                "Client:",
                [
                    ("Version", client["Version"]),
                    ("API version", client["ApiVersion"]),
                    ("Python version", client["PythonVersion"]),
                    ("OS/Arch", f"{client['Os']}/{client['Arch']}"),
                ],
            )
        )
        if server is not None:
            out("\n" + _server_lines(server))
    if failure is not None:
        raise failure


def _server_lines(server: dict[str, Any]) -> str:
    engine = [
        ("Version", server.get("Version", "")),
        (
            "API version",
            f"{server.get('ApiVersion')} (minimum version {server.get('MinAPIVersion')})",
        ),
        ("Runtime", server.get("GoVersion", "")),
        ("Kernel version", server.get("KernelVersion", "")),
        ("OS/Arch", f"{server.get('Os')}/{server.get('Arch')}"),
    ]
    name = (server.get("Platform") or {}).get("Name", "")
    return f"Server: {name}\n".replace(": \n", ":\n") + _lines(" Engine:", engine, "  ")


@click.command()
@click.option("-f", "--format", "fmt", metavar="STRING", help="Format output with a template.")
def info(fmt: str | None) -> None:
    """Display system-wide information (the parts berth has)."""
    data = api().get("/info")
    if fmt:
        out(Template(fmt).render(data) + "\n")
        return
    rows: list[tuple[str, Any]] = [
        ("Containers", data.get("Containers", 0)),
        (" Running", data.get("ContainersRunning", 0)),
        (" Paused", data.get("ContainersPaused", 0)),
        (" Stopped", data.get("ContainersStopped", 0)),
        ("Server Version", data.get("ServerVersion", "")),
    ]
    rows += [(str(k), v) for k, v in data.get("DriverStatus") or []]
    plugins = (data.get("Plugins") or {}).get("Network") or []
    rows += [
        ("Network plugins", " ".join(plugins)),
        ("Kernel Version", data.get("KernelVersion", "")),
        ("Operating System", data.get("OperatingSystem", "")),
        ("Architecture", data.get("Architecture", "")),
        ("CPUs", data.get("NCPU", "")),
        ("Name", data.get("Name", "")),
        ("Root Dir", data.get("DockerRootDir", "")),
        ("Live Restore Enabled", go_str(data.get("LiveRestoreEnabled", False))),
    ]
    text = "Client:\n Version:    " + VERSION + "\n\nServer:\n"
    text += "".join(f" {name}: {value}\n" for name, value in rows)
    pools = data.get("DefaultAddressPools") or []
    if pools:
        text += " Default Address Pools:\n"
        text += "".join(f"   Base: {p.get('Base')}, Size: {p.get('Size')}\n" for p in pools)
    labels = data.get("Labels") or []
    if labels:
        text += " Labels:\n" + "".join(f"  {label}\n" for label in labels)
    out(text)


def event_line(event: dict[str, Any]) -> str:
    """docker events' default line: time, type, action, actor id, (sorted attributes)."""
    nanos = int(event.get("timeNano") or 0) or int(event.get("time") or 0) * 10**9
    text = ""
    if nanos:
        stamp = datetime.fromtimestamp(nanos // 10**9).astimezone()
        zone = stamp.strftime("%z")
        zone = "Z" if zone == "+0000" else f"{zone[:3]}:{zone[3:]}"
        text = stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos % 10**9:09d}{zone} "
    actor = event.get("Actor") or {}
    text += f"{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    attributes = actor.get("Attributes") or {}
    if attributes:
        text += " (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")"
    return text + "\n"


@click.command()
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (e.g. type=network).")
@click.option("--since", default=None, help="Show all events created since timestamp.")
@click.option("--until", default=None, help="Stream events until this timestamp.")
@click.option("--format", "fmt", metavar="STRING", help="Format output: 'json' or a template.")
def events(filters: tuple[str, ...], since: str | None, until: str | None, fmt: str | None) -> None:
    """Get real time events from the daemon."""
    query: dict[str, Any] = {"filters": opts.filters(filters)}
    if since:
        query["since"] = opts.timestamp(since)
    if until:
        query["until"] = opts.timestamp(until)
    template = Template("{{json .}}" if fmt == "json" else fmt) if fmt else None
    for event in api().json_stream("/events", query):
        out(template.render(event) + "\n" if template else event_line(event))
