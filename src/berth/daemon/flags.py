"""berthd's command line and configuration file: argv -> explicitly given flags -> with the
file -> ``DaemonConfig``.

Only flags the user actually gave count (argparse defaults are suppressed): dockerd's rule that a
key set both ways is an error needs to know which flags were given, and defaults live in one
place, ``DaemonConfig``. Boolean flags take dockerd's forms: ``--icc``, ``--icc=false``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from berth.daemon.config import DaemonConfig, merge
from berth.daemon.keys import DEFAULT_CONFIG_FILE, KEYS
from berth.daemon.values import parse_file
from berth.model.errors import InvalidParameter


@dataclass(frozen=True)
class CommandLine:
    flags: dict[str, Any]  # daemon.json key -> raw flag value (str, or list for repeatable)
    config_file: str
    config_file_given: bool
    validate: bool  # check the configuration and exit (dockerd --validate)
    version: bool


class FlagError(InvalidParameter):
    """The command line itself is malformed (unknown flag, missing value)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit(2)
        raise FlagError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="berthd",
        description="berth's daemon: Docker-compatible container networking API",
        argument_default=argparse.SUPPRESS,
    )
    for key in KEYS:
        if key.kind == "bool":
            p.add_argument(
                *key.flags, dest=key.name, nargs="?", const="true", help=key.help, metavar="BOOL"
            )
        elif key.kind in ("list", "pools"):
            p.add_argument(*key.flags, dest=key.name, action="append", help=key.help)
        else:
            p.add_argument(*key.flags, dest=key.name, help=key.help)
    p.add_argument(
        "--config-file",
        dest="config-file",
        help=f"daemon.json to read (default {DEFAULT_CONFIG_FILE})",
    )
    p.add_argument("--validate", action="store_true", help="check the configuration and exit")
    p.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    return p


def parse_command_line(argv: Sequence[str]) -> CommandLine:
    args = vars(parser().parse_args(list(argv)))
    config_file = args.pop("config-file", None)
    validate = bool(args.pop("validate", False))
    version = bool(args.pop("version", False))
    return CommandLine(
        flags=args,
        config_file=config_file or DEFAULT_CONFIG_FILE,
        config_file_given=config_file is not None,
        validate=validate,
        version=version,
    )


def read_config_file(path: str, *, required: bool) -> dict[str, Any] | None:
    """The parsed file; None when the default file does not exist (a file given with
    --config-file must exist)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        if required:
            raise InvalidParameter(f"configuration file {path} does not exist") from None
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidParameter(f"cannot read configuration file {path}: {err}") from None
    return parse_file(text, path)


def load(command_line: CommandLine) -> DaemonConfig:
    """Flags plus the configuration file (also used for SIGHUP reloads)."""
    path = command_line.config_file
    file = read_config_file(path, required=command_line.config_file_given)
    return merge(command_line.flags, file, config_file=path)
