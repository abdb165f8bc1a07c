"""`berth stop|restart|kill|rm|wait|rename`: one request per container, Docker's output (the
names as given, or exit codes for `wait`) and Docker's carry-on-then-fail error handling."""

from __future__ import annotations

import click

from berth.cli.base import api, for_each
from berth.cli.client import ref

STOP_TIMEOUT_HELP = "Seconds to wait before killing the container."
_containers = click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")


def _stop_query(timeout: int | None, signal: str | None) -> dict[str, object]:
    query: dict[str, object] = {}
    if timeout is not None:
        query["t"] = timeout
    if signal:
        query["signal"] = signal
    return query


@click.command()
@click.option("-t", "--timeout", "--time", "timeout", type=int, help=STOP_TIMEOUT_HELP)
@click.option("-s", "--signal", default=None, help="Signal to send to the container.")
@_containers
def stop(timeout: int | None, signal: str | None, containers: tuple[str, ...]) -> int:
    """Stop one or more running containers."""
    query = _stop_query(timeout, signal)

    def stop_one(container: str) -> None:
        api().post(f"/containers/{ref(container)}/stop", **query)

    return for_each(containers, stop_one)


@click.command()
@click.option("-t", "--timeout", "--time", "timeout", type=int, help=STOP_TIMEOUT_HELP)
@click.option("-s", "--signal", default=None, help="Signal to send to the container.")
@_containers
def restart(timeout: int | None, signal: str | None, containers: tuple[str, ...]) -> int:
    """Restart one or more containers."""
    query = _stop_query(timeout, signal)

    def restart_one(container: str) -> None:
        api().post(f"/containers/{ref(container)}/restart", **query)

    return for_each(containers, restart_one)


@click.command()
@click.option("-s", "--signal", default=None, help="Signal to send to the container.")
@_containers
def kill(signal: str | None, containers: tuple[str, ...]) -> int:
    """Kill one or more running containers."""

    def kill_one(container: str) -> None:
        api().post(f"/containers/{ref(container)}/kill", **_stop_query(None, signal))

    return for_each(containers, kill_one)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container.")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes (none in berth).")
@_containers
def rm(force: bool, volumes: bool, containers: tuple[str, ...]) -> int:
    """Remove one or more containers."""

    def remove(container: str) -> None:
        api().delete(f"/containers/{ref(container)}", force=force or None)

    return for_each(containers, remove)


@click.command()
@_containers
def wait(containers: tuple[str, ...]) -> int:
    """Block until one or more containers stop, then print their exit codes."""

    def wait_one(container: str) -> str:
        reply = api().post(f"/containers/{ref(container)}/wait") or {}
        return str(reply.get("StatusCode", ""))

    return for_each(containers, wait_one)


@click.command()
@click.argument("container")
@click.argument("new_name", metavar="NEW_NAME")
def rename(container: str, new_name: str) -> None:
    """Rename a container."""
    api().post(f"/containers/{ref(container)}/rename", name=new_name)
