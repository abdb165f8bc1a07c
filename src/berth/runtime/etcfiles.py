"""A container's /etc/hosts, /etc/resolv.conf and /etc/hostname: rendering (pure) and writing.

The files live in the container's directory and are bind-mounted over /etc/* inside the
container. A bind mount pins the file's inode, so rewrites (a network connected live) must change
the file *in place*; a new file renamed over it would stay invisible to the container.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

from berth.model.errors import InvalidParameter

HOST_GATEWAY = "host-gateway"

# Docker's defaults (libnetwork/etchosts).
_DEFAULT_HOSTS = (
    ("127.0.0.1", ("localhost",)),
    ("::1", ("localhost", "ip6-localhost", "ip6-loopback")),
    ("fe00::0", ("ip6-localnet",)),
    ("ff00::0", ("ip6-mcastprefix",)),
    ("ff02::1", ("ip6-allnodes",)),
    ("ff02::2", ("ip6-allrouters",)),
)


@dataclass(frozen=True)
class HostEntry:
    address: str
    names: tuple[str, ...]

    def line(self) -> str:
        return f"{self.address}\t{' '.join(self.names)}"


def parse_extra_host(text: str) -> tuple[str, str]:
    """`--add-host name:ip` (or name=ip; IPv6 may be bracketed; ip may be host-gateway)."""
    name, sep, value = text.partition("=")
    if not sep:
        name, sep, value = text.partition(":")
    if not sep or not name:
        raise InvalidParameter(f'bad format for add-host: "{text}"')
    value = value.removeprefix("[").removesuffix("]")
    if value != HOST_GATEWAY:
        try:
            value = str(ip_address(value))
        except ValueError:
            raise InvalidParameter(f'invalid IP address in add-host: "{value}"') from None
    return name, value


def own_names(hostname: str, domainname: str) -> tuple[str, ...]:
    return (f"{hostname}.{domainname}", hostname) if domainname else (hostname,)


def render_hosts(
    own: Iterable[HostEntry], extra: Iterable[HostEntry] = (), base: str | None = None
) -> str:
    """Docker's layout: the defaults (or ``base``, the host's file, in host network mode), then
    --add-host and link entries, then the container's own addresses."""
    if base is None:
        lines = [HostEntry(a, names).line() for a, names in _DEFAULT_HOSTS]
    else:
        lines = base.rstrip("\n").splitlines()
    lines += [entry.line() for entry in extra]
    lines += [entry.line() for entry in own]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def _is_local_nameserver(value: str) -> bool:
    try:
        return ip_address(value.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        return False


def render_resolv(
    host_text: str, override: ResolvConf, *, keep_local_nameservers: bool = False
) -> str:
    """The host's resolv.conf with loopback nameservers dropped (they are unreachable from a
    container's own network namespace; kept in host mode), and the parts the user set
    (--dns, --dns-search, --dns-option) replacing the host's."""
    kept: list[str] = []
    for line in host_text.splitlines():
        fields = line.split()
        key = fields[0] if fields else ""
        if key == "nameserver" and (
            override.nameservers
            or (len(fields) > 1 and _is_local_nameserver(fields[1]) and not keep_local_nameservers)
        ):
            continue
        if key in ("search", "domain") and override.search:
            continue
        if key == "options" and override.options:
            continue
        kept.append(line)
    kept += [f"nameserver {server}" for server in override.nameservers]
    # "--dns-search ." means "no search domains"
    search = [domain for domain in override.search if domain != "."]
    if search:
        kept.append(f"search {' '.join(search)}")
    if override.options:
        kept.append(f"options {' '.join(override.options)}")
    return "\n".join(kept) + "\n" if kept else ""


def render_hostname(hostname: str) -> str:
    return f"{hostname}\n"


def write_in_place(path: str, text: str) -> None:
    """Create or overwrite ``path`` keeping its inode (see module docstring)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        data = text.encode()
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def read_text(path: str) -> str:
    """A host file (/etc/hosts, /etc/resolv.conf), or "" if it is missing."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def validate_dns(servers: Sequence[str]) -> None:
    for server in servers:
        try:
            ip_address(server.split("%")[0])
        except ValueError:
            raise InvalidParameter(f"{server} is not an ip address") from None
