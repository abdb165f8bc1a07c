"""`berth exec`: run a command in a running container, attached like `docker exec`, and exit
with the command's status (read from the exec's inspect once its output has ended)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from berth.cli import opts
from berth.cli.base import api
from berth.cli.client import Client, ref
from berth.cli.errors import CliError
from berth.cli.stdio import following_size, raw_terminal, relay, stdin_is_terminal

EXIT_CODE_WAIT = 5.0


def exec_body(
    command: tuple[str, ...],
    *,
    detach: bool = False,
    interactive: bool = False,
    tty: bool = False,
    env: tuple[str, ...] = (),
    env_file: tuple[str, ...] = (),
    workdir: str = "",
) -> dict[str, Any]:
    """The POST /containers/{id}/exec body the docker CLI sends for these flags."""
    return {
        "User": "",
        "Privileged": False,
        "Tty": tty,
        "AttachStdin": interactive and not detach,
        "AttachStderr": not detach,
        "AttachStdout": not detach,
        "Detach": detach,
        "DetachKeys": "",
        "Env": opts.environment(env_file, env),
        "WorkingDir": workdir,
        "Cmd": list(command),
    }


def exit_code(client: Client, exec_id: str) -> int:
    """The exec's exit status; the daemon may record it a moment after the stream ends."""
    deadline = time.monotonic() + EXIT_CODE_WAIT
    while True:
        info = client.get(f"/exec/{ref(exec_id)}/json")
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        if time.monotonic() > deadline:
            raise CliError(f"exec {exec_id[:12]} did not report an exit code")
        time.sleep(0.02)


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables.")
@click.option("-w", "--workdir", default="", help="Working directory inside the container.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(container: str, command: tuple[str, ...], **flags: Any) -> int:
    """Execute a command in a running container: CONTAINER COMMAND [ARG...]."""
    tty, interactive = flags["tty"], flags["interactive"]
    if tty and interactive and not flags["detach"] and not stdin_is_terminal():
        raise CliError("the input device is not a TTY")
    client = api()
    exec_id = str(
        client.post(f"/containers/{ref(container)}/exec", exec_body(command, **flags))["Id"]
    )
    start = {"Detach": flags["detach"], "Tty": tty}
    if flags["detach"]:
        client.post(f"/exec/{ref(exec_id)}/start", start)
        return 0
    conn = client.hijack(f"/exec/{ref(exec_id)}/start", start)

    def resize(height: int, width: int) -> None:
        client.clone().post(f"/exec/{ref(exec_id)}/resize", h=height, w=width)

    try:
        with raw_terminal(sys.stdin, tty and interactive), following_size(sys.stdout, resize, tty):
            relay(conn, tty=tty, stdin=sys.stdin if interactive else None)
    finally:
        conn.close()
    return exit_code(client, exec_id)


exec_.name = "exec"
