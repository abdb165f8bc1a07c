"""What every subcommand module shares: the API client for this invocation, output helpers,
Docker's multi-target error handling, and the common list options (-f, -q, --format,
--no-trunc)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

from berth.cli.client import Client
from berth.cli.errors import ApiError, CliError
from berth.cli.output import render_rows, resolve_format

F = TypeVar("F", bound=Callable[..., Any])


def api() -> Client:
    """The client for this invocation (one keep-alive connection, closed at exit)."""
    ctx = click.get_current_context()
    client: Client | None = ctx.meta.get("berth.client")
    if client is None:
        client = Client(ctx.meta.get("berth.host"))
        ctx.meta["berth.client"] = client
        ctx.find_root().call_on_close(client.close)
    return client


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


def for_each(refs: Sequence[str], action: Callable[[str], str | None]) -> int:
    """Docker's handling of `rm a b c`: act on each, print what ``action`` returns (the ref
    when it returns None, nothing when it returns ""), print each failure on stderr, carry
    on, and fail at the end if any failed."""
    failed = False
    for ref in refs:
        try:
            shown = action(ref)
        except CliError as exc:
            err(str(exc))
            failed = True
            continue
        if shown != "":
            out(f"{ref if shown is None else shown}\n")
    if failed:
        raise SilentExit(1)
    return 0


class SilentExit(CliError):
    """Exit with a status; the messages were already printed."""

    def __init__(self, status: int) -> None:
        super().__init__("")
        self.status = status

    def __str__(self) -> str:
        return ""


def is_not_found(exc: CliError) -> bool:
    return isinstance(exc, ApiError) and exc.code == 404


def list_output(
    rows: Iterable[Any],
    fmt: str | None,
    quiet: bool,
    default: str,
    headers: dict[str, str],
    *,
    quiet_wins: bool = False,
) -> None:
    out(render_rows(resolve_format(fmt, quiet, default, quiet_wins), rows, headers))


def filter_option(fn: F) -> F:
    return click.option(
        "-f",
        "--filter",
        "filters",
        multiple=True,
        metavar="FILTER",
        help='Provide filter values (e.g. "driver=bridge").',
    )(fn)


def format_option(fn: F) -> F:
    return click.option(
        "--format",
        "fmt",
        metavar="STRING",
        help="Format output: 'table', 'table TEMPLATE', 'json' or a Go-like template.",
    )(fn)


def list_options(fn: F) -> F:
    """-q, --no-trunc, --format and -f, in docker's order."""
    fn = click.option("-q", "--quiet", is_flag=True, help="Only display IDs.")(fn)
    fn = click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")(fn)
    return filter_option(format_option(fn))
