"""resolv.conf as data: parsing a host's file (Docker's rules, ``internal/resolvconf``), and the
host's nameservers as the embedded server's last-resort upstreams, re-read when the file changes.

Pure parsing plus one small file reader; rendering a container's file is the runtime's
(``berth.runtime.etcfiles``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

log = logging.getLogger(__name__)

IPAddress = IPv4Address | IPv6Address
DEFAULT_PATH = "/etc/resolv.conf"
RECHECK_S = 1.0  # how stale the host's nameservers may be (one stat() per forward otherwise)


@dataclass(frozen=True)
class ResolvFile:
    """The directives of a resolv.conf: nameservers that parse as addresses (``invalid`` the
    others), the last search/domain line, every option, and unrecognised lines verbatim."""

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()

    def option(self, name: str) -> str | None:
        """The value of the last ``name[:value]`` option ("" if it has none), or None."""
        for option in reversed(self.options):
            key, _, value = option.partition(":")
            if key == name:
                return value
        return None


def parse_resolv_conf(text: str) -> ResolvFile:
    nameservers: list[str] = []
    invalid: list[str] = []
    search: list[str] = []
    options: list[str] = []
    other: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0][0] in "#;":
            continue
        key, values = fields[0], fields[1:]
        if key == "nameserver":
            if values:
                (nameservers if is_address(values[0]) else invalid).append(values[0])
        elif key in ("search", "domain"):
            if values:
                search = values  # only the last one counts
        elif key == "options":
            options += values
        else:
            other.append(line)
    return ResolvFile(
        tuple(nameservers), tuple(search), tuple(options), tuple(other), tuple(invalid)
    )


def is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def ndots_set(options: tuple[str, ...]) -> bool:
    """Did the user ask for ``ndots:N`` with N > 0 (Docker's NdotsSet)?"""
    for option in options:
        key, _, value = option.partition(":")
        if key == "ndots" and value.isdigit() and int(value) > 0:
            return True
    return False


class HostNameservers:
    """The nameservers of the host's resolv.conf (at ``path``), re-read when the file's mtime,
    size or inode changes, checked at most every ``RECHECK_S`` seconds. A missing or unreadable
    file has none (logged once per change)."""

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._checked = -RECHECK_S
        self._stamp: tuple[int, int, int] | None = None
        self._servers: tuple[IPAddress, ...] = ()

    def __call__(self) -> tuple[IPAddress, ...]:
        now = self._clock()
        if now - self._checked >= RECHECK_S:
            self._checked = now
            self._refresh()
        return self._servers

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as err:
            if self._stamp != (0, 0, 0):
                log.warning("cannot read the host's resolv.conf %s: %s", self.path, err)
            self._stamp, self._servers = (0, 0, 0), ()
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                parsed = parse_resolv_conf(f.read())
        except OSError as err:
            log.warning("cannot read the host's resolv.conf %s: %s", self.path, err)
            parsed = ResolvFile()
        self._stamp = stamp
        self._servers = tuple(ip_address(s) for s in parsed.nameservers)
        log.info(
            "upstream DNS servers from %s: %s",
            self.path,
            ", ".join(map(str, self._servers)) or "none",
        )
