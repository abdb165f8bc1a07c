"""What the daemon tells a shim to run: the container's process (``LaunchSpec``, written as
``<dir>/config.json``) and exec'd processes (``ExecSpec``, sent in an exec request).

Everything here is resolved by the daemon beforehand (final argv, full environment, the files to
bind over /etc/*), so the shim and the forked children make no decisions. Standard library only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

CONFIG_NAME = "config.json"
STATE_NAME = "state.json"
EXIT_NAME = "exit.json"
SHIM_LOG_NAME = "shim.log"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class LaunchSpec:
    id: str
    args: list[str]
    env: list[str]
    netns: str  # the sandbox's namespace file the process joins
    log_path: str
    cwd: str = "/"
    hostname: str = ""
    domainname: str = ""
    rootfs: str | None = None
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    # container path (/etc/hosts, ...) -> host file bind-mounted over it
    etc_files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> LaunchSpec:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class ExecSpec:
    id: str
    args: list[str]
    env: list[str]
    cwd: str = "/"
    tty: bool = False
    stdin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecSpec:
        return cls(**data)


def merge_env(base: list[str], extra: tuple[str, ...] | list[str]) -> list[str]:
    """``base`` with ``extra`` applied: a later KEY=value replaces an earlier one."""
    merged: dict[str, str] = {}
    for entry in [*base, *extra]:
        merged[entry.split("=", 1)[0]] = entry
    return list(merged.values())


def container_env(env: tuple[str, ...], hostname: str, tty: bool) -> list[str]:
    """Docker's environment for a container's process: PATH and HOSTNAME first, TERM with a
    tty, then the user's variables; HOME=/root unless the user set one."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}", *(["TERM=xterm"] if tty else [])]
    merged = merge_env(base, env)
    if not any(entry.startswith("HOME=") for entry in merged):
        merged.append("HOME=/root")
    return merged


def write_json_atomic(path: str, data: dict[str, Any]) -> None:
    """For state files read by another process: readers see the old or the new file whole."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            data = json.load(f)
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None
