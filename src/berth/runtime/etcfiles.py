"""A container's /etc/hosts, /etc/resolv.conf and /etc/hostname: rendering (pure) and writing.

The files live in the container's directory and are bind-mounted over /etc/* inside the
container. A bind mount pins the file's inode, so rewrites (a network connected live) must change
the file *in place*; a new file renamed over it would stay invisible to the container.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

from berth.dns.resolvconf import parse_resolv_conf
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
    """Docker's ValidateExtraHost: ``name:ip`` or ``name=ip``, split at the first ``=`` (else
    the first ``:``, so an IPv6 address keeps its colons), the address optionally in brackets,
    or ``host-gateway``. The address is kept as written, like Docker. Raises InvalidParameter."""
    name, sep, value = text.partition("=")
    if not sep:
        name, sep, value = text.partition(":")
    # a name is one /etc/hosts field: no ':' (IPv6 ambiguity), no blank, no comment sign
    if not sep or not name or any(c in name for c in ":#") or not name.isprintable():
        raise InvalidParameter(f'bad format for add-host: "{text}"')
    if any(c.isspace() for c in name):
        raise InvalidParameter(f'bad format for add-host: "{text}"')
    if value == HOST_GATEWAY:
        return name, value
    if len(value) > 2 and value[0] == "[" and value[-1] == "]":
        value = value[1:-1]
    try:
        if not value.isprintable() or any(c.isspace() for c in value):
            raise ValueError(value)  # a scope id may hold anything: not a blank here
        ip_address(value)
    except ValueError:
        raise InvalidParameter(f'invalid IP address in add-host: "{value}"') from None
    return name, value


def own_names(hostname: str, domainname: str) -> tuple[str, ...]:
    """Docker's names for the container's own addresses: the FQDN (hostname and domain
    name), then its first label when it has several (``web.example.test web``)."""
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    short = fqdn.split(".", 1)[0]
    return (fqdn, short) if short != fqdn else (fqdn,)


def render_hosts(
    own: Iterable[HostEntry],
    extra: Iterable[HostEntry] = (),
    base: str | None = None,
    links: Iterable[HostEntry] = (),
) -> str:
    """Docker's layout: the defaults (or ``base``, the host's file, in host network mode), then
    --add-host entries, the container's own addresses, and last the legacy links."""
    if base is None:
        lines = [HostEntry(a, names).line() for a, names in _DEFAULT_HOSTS]
    else:
        lines = base.rstrip("\n").splitlines()
    lines += [entry.line() for entry in extra]
    lines += [entry.line() for entry in own]
    lines += [entry.line() for entry in links]
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


# --- resolv.conf with the embedded DNS server, or the default bridge's copy --------------------

RESOLVER = "127.0.0.11"  # berth.dns.binding.ADDRESS, inside every sandbox on a user network
HOST_RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_STUB = "127.0.0.53"
RESOLVED_FILE = "/run/systemd/resolve/resolv.conf"
_HEADER = "# Generated by berth: rewritten when the container's networks change.\n\n"
_NO_UPSTREAM = (
    "# NO EXTERNAL NAMESERVERS DEFINED: only container names resolve. Set --dns, or dns in\n"
    "# berthd's configuration, or list nameservers in the host file.\n"
)
_NO_NAMESERVERS = (
    "# No nameservers: the host file lists only loopback (or, without IPv6, IPv6) servers,\n"
    "# which the container's network namespace cannot reach. Docker would write 8.8.8.8 and\n"
    "# 8.8.4.4 here; berth does not send containers' queries to a public resolver nobody\n"
    "# chose. Set --dns, or dns in berthd's configuration, or use a user-defined network.\n"
)


@dataclass(frozen=True)
class _Merged:
    """The host's file with the user's overrides applied, and where each part came from."""

    nameservers: tuple[str, ...]
    search: tuple[str, ...]
    options: tuple[str, ...]
    other: tuple[str, ...]
    overrides: tuple[str, ...]
    ndots_from: str


def _merge(host_text: str, override: ResolvConf) -> _Merged:
    host = parse_resolv_conf(host_text)
    options = override.options or host.options
    ndots_from = ""
    if host.option("ndots") is not None:
        ndots_from = "host"
    if override.options:
        ndots_from = "override" if any(o.startswith("ndots:") for o in options) else ""
    overrides = tuple(
        name
        for name, given in (
            ("nameservers", override.nameservers),
            ("search", override.search),
            ("options", override.options),
        )
        if given
    )
    return _Merged(
        nameservers=override.nameservers or host.nameservers,
        search=tuple(d for d in override.search if d != ".") if override.search else host.search,
        options=options,
        other=host.other,
        overrides=overrides,
        ndots_from=ndots_from,
    )


def _body(nameservers: Sequence[str], merged: _Merged, options: Sequence[str]) -> list[str]:
    lines = [_HEADER]
    lines += [f"nameserver {server}\n" for server in nameservers]
    if merged.search:
        lines.append(f"search {' '.join(merged.search)}\n")
    if options:
        lines.append(f"options {' '.join(options)}\n")
    lines += [f"{line}\n" for line in merged.other]
    return lines


def render_resolv_internal(host_text: str, override: ResolvConf, *, source: str) -> str:
    """A container on a user-defined network: the embedded server is its only nameserver, the
    host's (or the user's) servers become its upstreams (listed in Docker's ``# ExtServers``:
    ``host(...)`` for those asked from the host's namespace), and ``ndots:0`` is added unless
    an ndots option is set, as Docker does."""
    merged = _merge(host_text, override)
    options = [o for o in merged.options if not _invalid_ndots(o)]
    ndots_from = merged.ndots_from
    if not any(o.startswith("ndots:") for o in options):
        options.append("ndots:0")
        ndots_from = "internal"
    lines = _body([RESOLVER], merged, options)
    lines.append(f"\n# Based on host file: '{source}' (internal resolver)\n")
    if merged.nameservers:
        upstreams = (
            merged.nameservers
            if override.nameservers
            else [f"host({server})" for server in merged.nameservers]
        )
        lines.append(f"# ExtServers: [{' '.join(upstreams)}]\n")
    else:
        lines.append(_NO_UPSTREAM)
    lines.append(f"# Overrides: [{' '.join(merged.overrides)}]\n")
    lines.append(f"# Option ndots from: {ndots_from}\n")
    return "".join(lines)


def render_resolv_legacy(host_text: str, override: ResolvConf, *, source: str, ipv6: bool) -> str:
    """A container with no embedded DNS (default bridge, none): the host's file without the
    servers its namespace cannot reach (loopback ones; IPv6 ones without IPv6), unless the user
    gave servers. When none remain there is no fallback to a public resolver (see the note)."""
    merged = _merge(host_text, override)
    servers = list(merged.nameservers)
    if not override.nameservers:
        servers = [s for s in servers if not _is_local_nameserver(s)]
        servers = [s for s in servers if ipv6 or ip_address(s.split("%")[0]).version == 4]
    lines = _body(servers, merged, merged.options)
    lines.append(f"\n# Based on host file: '{source}' (legacy)\n")
    if not servers:
        lines.append(_NO_NAMESERVERS)
    lines.append(f"# Overrides: [{' '.join(merged.overrides)}]\n")
    if merged.ndots_from:
        lines.append(f"# Option ndots from: {merged.ndots_from}\n")
    return "".join(lines)


def legacy_source(
    path: str, text: str, read: Callable[[str], str] | None = None
) -> tuple[str, str]:
    """Docker's choice of host file for the default bridge's copy: when /etc/resolv.conf names
    only systemd-resolved's stub (127.0.0.53, unreachable from a container), the file behind it
    (/run/systemd/resolve/resolv.conf) lists the real servers."""
    if path == HOST_RESOLV_CONF and parse_resolv_conf(text).nameservers == (RESOLVED_STUB,):
        resolved = (read or read_text)(RESOLVED_FILE)
        if parse_resolv_conf(resolved).nameservers:
            return RESOLVED_FILE, resolved
    return path, text


def _invalid_ndots(option: str) -> bool:
    key, _, value = option.partition(":")
    return key == "ndots" and not value.isdigit()


def render_hostname(hostname: str) -> str:
    return f"{hostname}\n"


def write_in_place(path: str, text: str) -> None:
    """Create or overwrite ``path`` keeping its inode (see module docstring).

    The new bytes go over the old ones, then the file is cut to their length. Truncating to
    zero first would make ext4 (auto_da_alloc) flush the file to disk when it is closed: ~1 ms
    per write on an idle disk, several on a busy one, on every live connect/disconnect. A
    reader in between sees the new text with a stale tail instead of an empty file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        data = text.encode()
        view, offset = memoryview(data), 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
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
