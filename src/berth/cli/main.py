"""The `berth` command: the root group, lazy loading of subcommands, and exit statuses.

Start-up time matters (shell loops call `berth` a lot), so this module imports only click:
each subcommand's module (and with it the HTTP client, templates...) is imported when that
subcommand runs, and `berth --help` lists commands from the table below without importing any.

Exit statuses (Docker's): 0 success; 1 an error (one line on stderr, e.g. "Error response from
daemon: ..."); 125 a usage error (unknown flag, missing argument: docker's status for flag
errors, used for every command so a container's own exit status 2 is never ambiguous), and for
`run`/`create` any error before the container runs; 126/127 when `run` cannot execute the
command; otherwise `run`, `start -a` and `exec` exit with the process's status.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

VERSION = "0.1.0"
USAGE_STATUS = 125

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("berth.cli.run_cmds", "run", "Create and run a new container"),
    "create": ("berth.cli.run_cmds", "create", "Create a new container"),
    "start": ("berth.cli.run_cmds", "start", "Start one or more stopped containers"),
    "exec": ("berth.cli.exec_cmd", "exec_", "Execute a command in a running container"),
    "ps": ("berth.cli.query_cmds", "ps", "List containers"),
    "inspect": ("berth.cli.query_cmds", "inspect", "Return low-level information on objects"),
    "logs": ("berth.cli.query_cmds", "logs", "Fetch the logs of a container"),
    "port": ("berth.cli.query_cmds", "port", "List port mappings of a container"),
    "stop": ("berth.cli.lifecycle_cmds", "stop", "Stop one or more running containers"),
    "restart": ("berth.cli.lifecycle_cmds", "restart", "Restart one or more containers"),
    "kill": ("berth.cli.lifecycle_cmds", "kill", "Kill one or more running containers"),
    "rm": ("berth.cli.lifecycle_cmds", "rm", "Remove one or more containers"),
    "wait": ("berth.cli.lifecycle_cmds", "wait", "Wait for containers to stop, print exit codes"),
    "rename": ("berth.cli.lifecycle_cmds", "rename", "Rename a container"),
    "network": ("berth.cli.network_cmds", "network", "Manage networks"),
    "events": ("berth.cli.system_cmds", "events", "Get real time events from the daemon"),
    "info": ("berth.cli.system_cmds", "info", "Display system-wide information"),
    "version": ("berth.cli.system_cmds", "version", "Show the berth version information"),
}


class LazyGroup(click.Group):
    """Subcommands resolved from COMMANDS on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attr, _ = entry
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, text) for name, (_, _, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"max_content_width": 100, "help_option_names": ["-h", "--help"]},
)
@click.option(
    "-H",
    "--host",
    envvar="BERTH_HOST",
    metavar="unix:///PATH",
    help="Daemon socket to connect to (default unix:///run/berth/berth.sock, or $BERTH_HOST).",
)
@click.version_option(VERSION, "-v", "--version", message="berth version %(version)s")
@click.pass_context
def cli(ctx: click.Context, host: str | None) -> None:
    """A Docker-compatible command line for berthd: networks and lightweight containers."""
    ctx.meta["berth.host"] = host


def _report(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (for tests and the console script)."""
    from berth.cli.errors import CliError  # noqa: PLC0415 - light, but not needed for --help

    try:
        result: Any = cli.main(args=argv, prog_name="berth", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        exc.show()
        return USAGE_STATUS
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        _report("Aborted.")
        return 130
    except CliError as exc:
        if str(exc):
            _report(str(exc))
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `berth ps | head`: the reader went away; stop quietly like docker does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return result if isinstance(result, int) else 0


def main() -> int:
    return run()


if __name__ == "__main__":
    sys.exit(main())
