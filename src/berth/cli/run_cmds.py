"""`berth run`, `create` and `start`: Docker's container flags, IMAGE [COMMAND] [ARG...], and
the foreground/detached behaviours and exit statuses of `docker run`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from berth.cli.attach import run_attached
from berth.cli.base import api, err, for_each, out
from berth.cli.client import ref
from berth.cli.ctrconfig import create_request
from berth.cli.errors import ApiError, CliError
from berth.cli.stdio import stdin_is_terminal

F = TypeVar("F", bound=Callable[..., Any])
RUN_SETTINGS = {"allow_interspersed_args": False}

_FLAGS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--name",), {"default": "", "help": "Assign a name to the container."}),
    (("--network", "--net", "networks"), {"multiple": True, "help": "Connect to a network."}),
    (("-p", "--publish"), {"multiple": True, "help": "Publish a container's port to the host."}),
    (("-P", "--publish-all"), {"is_flag": True, "help": "Publish all exposed ports."}),
    (("--expose",), {"multiple": True, "help": "Expose a port or a range of ports."}),
    (("--ip",), {"default": "", "help": "IPv4 address (e.g. 172.30.100.104)."}),
    (("--ip6",), {"default": "", "help": "IPv6 address (e.g. 2001:db8::33)."}),
    (("-h", "--hostname"), {"default": "", "help": "Container host name."}),
    (("--domainname",), {"default": "", "help": "Container NIS domain name."}),
    (("--dns",), {"multiple": True, "help": "Set custom DNS servers."}),
    (("--dns-search",), {"multiple": True, "help": "Set custom DNS search domains."}),
    (("--dns-option", "--dns-opt", "dns_option"), {"multiple": True, "help": "DNS options."}),
    (("--network-alias",), {"multiple": True, "help": "Network-scoped alias."}),
    (("--link",), {"multiple": True, "help": "Add link to another container."}),
    (("--add-host",), {"multiple": True, "help": "Add a custom host-to-IP mapping (host:ip)."}),
    (("-e", "--env"), {"multiple": True, "help": "Set environment variables."}),
    (("--env-file",), {"multiple": True, "help": "Read in a file of environment variables."}),
    (("-w", "--workdir"), {"default": "", "help": "Working directory inside the container."}),
    (("--entrypoint",), {"default": None, "help": "Overwrite the default entrypoint."}),
    (("--restart",), {"default": "no", "help": "Restart policy (no, on-failure[:N], always)."}),
    (("-i", "--interactive"), {"is_flag": True, "help": "Keep STDIN open even if not attached."}),
    (("-t", "--tty"), {"is_flag": True, "help": "Allocate a pseudo-TTY."}),
    (("--rm",), {"is_flag": True, "help": "Remove the container when it exits."}),
    (("-l", "--label"), {"multiple": True, "help": "Set meta data on a container."}),
    (("--mac-address",), {"default": "", "help": "Container MAC address."}),
    (("--rootfs",), {"default": None, "help": "berth: a root directory for the container."}),
]


def container_flags(fn: F) -> F:
    for names, kwargs in reversed(_FLAGS):
        fn = click.option(*names, **kwargs)(fn)
    fn = click.argument("command", nargs=-1, type=click.UNPROCESSED)(fn)
    return click.argument("image")(fn)


def _console_size(tty: bool) -> tuple[int, int] | None:
    if not tty or not sys.stdout.isatty():
        return None
    size = os.get_terminal_size(sys.stdout.fileno())
    return size.lines, size.columns


def _create(image: str, command: tuple[str, ...], flags: dict[str, Any]) -> str:
    query, body = create_request(image, command, console_size=_console_size(flags["tty"]), **flags)
    reply = api().post("/containers/create", body, **query)
    for warning in reply.get("Warnings") or []:
        err(f"WARNING: {warning}")
    return str(reply["Id"])


def _run_failure(exc: CliError) -> CliError:
    """Docker's statuses for `run`: 127/126 when the command cannot be executed, else 125."""
    text = exc.message if isinstance(exc, ApiError) else str(exc)
    exc.status = 125
    if any(s in text for s in ("executable file not found", "no such file or directory")):
        exc.status = 127
    elif "permission denied" in text or "is a directory" in text:
        exc.status = 126
    return exc


@click.command(context_settings=RUN_SETTINGS)
@container_flags
def create(image: str, command: tuple[str, ...], **flags: Any) -> None:
    """Create a new container: IMAGE [COMMAND] [ARG...] (IMAGE is recorded only)."""
    try:
        out(_create(image, command, {**flags, "detach": True}) + "\n")
    except CliError as exc:
        exc.status = 125
        raise


@click.command(context_settings=RUN_SETTINGS)
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the ID.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Proxy signals to the process.")
@container_flags
def run(image: str, command: tuple[str, ...], sig_proxy: bool, **flags: Any) -> int:
    """Create and run a new container: IMAGE [COMMAND] [ARG...] (IMAGE is recorded only)."""
    try:
        interactive_tty = flags["interactive"] and flags["tty"] and not flags["detach"]
        if interactive_tty and not stdin_is_terminal():
            raise CliError("the input device is not a TTY")
        cid = _create(image, command, flags)
        if flags["detach"]:
            api().post(f"/containers/{ref(cid)}/start")
            out(cid + "\n")
            return 0
        return run_attached(
            api(),
            cid,
            tty=flags["tty"],
            stdin=flags["interactive"],
            auto_remove=flags["rm"],
            sig_proxy=sig_proxy,
        )
    except CliError as exc:
        raise _run_failure(exc) from None


@click.command()
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")
def start(attach: bool, interactive: bool, containers: tuple[str, ...]) -> int:
    """Start one or more stopped containers."""
    if not (attach or interactive):

        def start_one(container: str) -> None:
            api().post(f"/containers/{ref(container)}/start")

        return for_each(containers, start_one)
    if len(containers) > 1:
        raise CliError("you cannot start and attach multiple containers at once")
    info = api().get(f"/containers/{ref(containers[0])}/json")
    config = info.get("Config") or {}
    host = info.get("HostConfig") or {}
    return run_attached(
        api(),
        str(info["Id"]),
        tty=bool(config.get("Tty")),
        stdin=interactive and bool(config.get("OpenStdin")),
        auto_remove=bool(host.get("AutoRemove")),
        start=not (info.get("State") or {}).get("Running"),
    )
