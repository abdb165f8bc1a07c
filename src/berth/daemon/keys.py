"""The daemon.json keys berthd knows (dockerd's networking subset), each with its JSON type, its
command-line spellings and its check. ``berth.daemon.config`` merges them into a DaemonConfig;
``berth.daemon.flags`` builds the command line from the same table, so the two cannot drift.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, ip_address
from typing import Any, Literal

from berth.daemon.values import (
    absolute_path,
    check_labels,
    dns_option,
    dns_search,
    fmt,
    host_socket,
    one_of,
    pool,
    subnet,
)
from berth.model.errors import InvalidConfig, InvalidName
from berth.model.ids import validate_ifname

IPAddress = IPv4Address | IPv6Address
Kind = Literal["str", "bool", "int", "list", "pools"]

DEFAULT_SOCKET = "/run/berth/berth.sock"
DEFAULT_CONFIG_FILE = "/etc/berth/daemon.json"
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}
LOG_FORMATS = ("text", "json")
# what a SIGHUP applies without a restart
LIVE = frozenset({"log-level", "log-format", "debug", "dns", "dns-search", "dns-opts", "labels"})


@dataclass(frozen=True)
class Key:
    """One daemon.json key: its JSON type, its command-line spellings, and its check, which
    turns a well-typed raw value into the DaemonConfig field's value (or raises)."""

    name: str
    kind: Kind
    flags: tuple[str, ...]
    help: str
    check: Callable[[str, Any], Any] = field(default=lambda key, value: value)

    @property
    def attr(self) -> str:
        """The DaemonConfig field."""
        return self.name.replace("-", "_")


def _ifname_or_none(key: str, value: str) -> str:
    if value in ("", "none"):
        return value
    try:
        return validate_ifname(value)
    except InvalidName as err:
        raise InvalidConfig(key, fmt(value), str(err)) from None


def _bip(key: str, value: str) -> IPv4Interface:
    try:
        bip = IPv4Interface(value)
    except ValueError:
        raise InvalidConfig(
            key, fmt(value), "expected an IPv4 address with prefix length, e.g. 172.18.0.1/16"
        ) from None
    if "/" not in value:
        raise InvalidConfig(key, fmt(value), f"needs a prefix length, e.g. {bip.ip}/24")
    net = bip.network
    if net.prefixlen < 31 and bip.ip in (net.network_address, net.broadcast_address):
        raise InvalidConfig(
            key,
            fmt(value),
            "is the subnet's network or broadcast address; "
            f"give the bridge's own address, e.g. {next(net.hosts())}/{net.prefixlen}",
        )
    return bip


def _mtu(key: str, value: int) -> int:
    if not 68 <= value <= 65535:
        raise InvalidConfig(key, fmt(value), "must be between 68 and 65535")
    return value


def _ip(key: str, value: str) -> IPAddress:
    try:
        return ip_address(value)
    except ValueError:
        raise InvalidConfig(key, fmt(value), "expected an IPv4 or IPv6 address") from None


def _each(check: Callable[[str, Any], Any]) -> Callable[[str, Sequence[Any]], tuple[Any, ...]]:
    return lambda key, values: tuple(check(key, value) for value in values)


def _hosts(key: str, values: Sequence[str]) -> tuple[str, ...]:
    paths = [host_socket(key, value, DEFAULT_SOCKET) for value in values] or [DEFAULT_SOCKET]
    for path in paths:
        if paths.count(path) > 1:
            raise InvalidConfig(key, fmt(values), f"socket {path} is listed twice")
    return tuple(paths)


KEYS: tuple[Key, ...] = (
    Key(
        "hosts",
        "list",
        ("-H", "--host"),
        "unix:///path of a socket to listen on (repeatable)",
        _hosts,
    ),
    Key("data-root", "str", ("--data-root",), "directory of persistent state", absolute_path),
    Key(
        "exec-root",
        "str",
        ("--exec-root",),
        "directory of runtime files (namespace mounts)",
        absolute_path,
    ),
    Key("pidfile", "str", ("-p", "--pidfile"), "path of the pid file", absolute_path),
    Key(
        "bridge",
        "str",
        ("-b", "--bridge"),
        'existing bridge to use as the default network\'s device, or "none"',
        _ifname_or_none,
    ),
    Key("bip", "str", ("--bip",), "default bridge address and subnet, e.g. 172.18.0.1/16", _bip),
    Key(
        "fixed-cidr",
        "str",
        ("--fixed-cidr",),
        "IPv4 sub-range for default-bridge containers",
        lambda k, v: subnet(k, v, 4),
    ),
    Key(
        "fixed-cidr-v6",
        "str",
        ("--fixed-cidr-v6",),
        "IPv6 subnet of the default bridge",
        lambda k, v: subnet(k, v, 6),
    ),
    Key("ipv6", "bool", ("--ipv6",), "IPv6 on the default bridge"),
    Key("mtu", "int", ("--mtu",), "MTU of the default bridge", _mtu),
    Key("icc", "bool", ("--icc",), "traffic between containers on the default bridge"),
    Key("ip-forward", "bool", ("--ip-forward",), "enable the host's IP forwarding"),
    Key("ip-masq", "bool", ("--ip-masq",), "masquerade default-bridge traffic leaving the host"),
    Key("iptables", "bool", ("--iptables",), "berth manages its firewall (nftables) rules"),
    Key("ip", "str", ("--ip",), "default host IP for ports published on the default bridge", _ip),
    Key("dns", "list", ("--dns",), "DNS server for containers (repeatable)", _each(_ip)),
    Key(
        "dns-search", "list", ("--dns-search",), "DNS search domain (repeatable)", _each(dns_search)
    ),
    Key("dns-opts", "list", ("--dns-opt",), "resolv.conf option (repeatable)", _each(dns_option)),
    Key(
        "host-resolv-conf",
        "str",
        ("--host-resolv-conf",),
        "the host's resolv.conf: upstream DNS servers and the default bridge's copy",
        absolute_path,
    ),
    Key(
        "default-address-pools",
        "pools",
        ("--default-address-pool",),
        "base=CIDR,size=N pool for automatic subnets (repeatable)",
        _each(pool),
    ),
    Key(
        "labels", "list", ("--label",), "key=value label of this daemon (repeatable)", check_labels
    ),
    Key(
        "log-level",
        "str",
        ("-l", "--log-level"),
        "debug, info, warn, error or fatal",
        lambda k, v: one_of(k, v, tuple(LOG_LEVELS)),
    ),
    Key(
        "log-format",
        "str",
        ("--log-format",),
        "text or json",
        lambda k, v: one_of(k, v, LOG_FORMATS),
    ),
    Key("debug", "bool", ("-D", "--debug"), "debug logging"),
)
BY_NAME = {key.name: key for key in KEYS}
