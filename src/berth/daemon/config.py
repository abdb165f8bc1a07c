"""berthd's configuration: Docker's daemon.json keys and the equal command-line flags (the
networking subset of dockerd), merged and validated into one frozen ``DaemonConfig``.

Pure: no file or kernel access here (``berth.daemon.flags`` reads argv and the file). The rules
are dockerd's: a key set both as a flag and in the file is an error naming it, an unknown key in
the file is an error naming it, and every value is checked before the daemon touches anything,
with a message that says which key and why (``berth.model.errors.InvalidConfig``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from ipaddress import IPv4Interface, IPv4Network, IPv6Network
from typing import Any

from berth.controller.config import DEFAULT_BRIDGE_NAME, ControllerConfig, DefaultBridgeConfig
from berth.daemon.keys import (
    BY_NAME,
    DEFAULT_CONFIG_FILE,
    DEFAULT_SOCKET,
    LOG_LEVELS,
    IPAddress,
    Key,
    Kind,
)
from berth.daemon.values import fmt
from berth.ipam.pools import PredefinedPool
from berth.model.errors import InvalidConfig, InvalidParameter


@dataclass(frozen=True)
class DaemonConfig:
    """Field names are the daemon.json keys with ``_`` for ``-``; ``hosts`` are socket paths.

    ``bridge``: "" lets berth create its default bridge device (berth0), "none" disables the
    default network, anything else names an existing bridge to use as its device.
    """

    hosts: tuple[str, ...] = (DEFAULT_SOCKET,)
    data_root: str = "/var/lib/berth"
    exec_root: str = "/run/berth"
    pidfile: str = "/run/berth/berthd.pid"
    bridge: str = ""
    bip: IPv4Interface | None = None
    fixed_cidr: IPv4Network | None = None
    fixed_cidr_v6: IPv6Network | None = None
    ipv6: bool = False
    mtu: int | None = None
    icc: bool = True
    ip_forward: bool = True
    ip_masq: bool = True
    iptables: bool = True
    ip: IPAddress | None = None
    dns: tuple[IPAddress, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opts: tuple[str, ...] = ()
    host_resolv_conf: str = "/etc/resolv.conf"
    default_address_pools: tuple[PredefinedPool, ...] = ()
    labels: tuple[str, ...] = ()
    log_level: str = "info"
    log_format: str = "text"
    debug: bool = False
    config_file: str = DEFAULT_CONFIG_FILE

    @property
    def level(self) -> int:
        """The logging level: ``debug`` wins over ``log-level``, as in dockerd."""
        return logging.DEBUG if self.debug else LOG_LEVELS[self.log_level]

    def default_bridge(self) -> DefaultBridgeConfig | None:
        if self.bridge == "none":
            return None
        return DefaultBridgeConfig(
            bridge_name=self.bridge or DEFAULT_BRIDGE_NAME,
            bip=self.bip,
            fixed_cidr=self.fixed_cidr,
            icc=self.icc,
            ip_masquerade=self.ip_masq,
            host_ip=self.ip,
            mtu=self.mtu,
            enable_ipv6=self.ipv6,
            fixed_cidr_v6=self.fixed_cidr_v6,
        )

    def controller_config(self) -> ControllerConfig:
        return ControllerConfig(
            state_dir=self.data_root,
            exec_root=self.exec_root,
            default_bridge=self.default_bridge(),
            predefined=False,  # the daemon creates them itself, after reconciliation
        )


# --- merging ----------------------------------------------------------------------------------


def merge(
    flags: Mapping[str, Any],
    file: Mapping[str, Any] | None,
    *,
    config_file: str = DEFAULT_CONFIG_FILE,
) -> DaemonConfig:
    """The configuration from explicitly given flags (key -> the flag's raw value: a string,
    or a list for repeatable flags) and the parsed daemon.json object (None when absent).
    Errors about the file say which file, like dockerd's "unable to configure the daemon with
    file ..."."""
    values: dict[str, Any] = {"config_file": config_file}
    try:
        values.update(_from_file(file or {}, flags))
    except InvalidParameter as err:
        raise InvalidParameter(
            f"unable to configure berthd with file {config_file}: {err}"
        ) from None
    for name, raw in flags.items():
        key = BY_NAME[name]
        values[key.attr] = key.check(name, _from_flag(key, raw))
    config = DaemonConfig(**values)
    _check_together(config)
    return config


def _from_file(file: Mapping[str, Any], flags: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(file) - set(BY_NAME))
    if unknown:
        raise InvalidParameter(
            "the following directives don't match any configuration option: " + ", ".join(unknown)
        )
    both = sorted(set(file) & set(flags))
    if both:
        raise InvalidParameter(
            "the following directives are specified both as a flag and in the configuration "
            "file: "
            + ", ".join(
                f"{k}: (from flag: {fmt(flags[k])}, from file: {fmt(file[k])})" for k in both
            )
        )
    values = {}
    for name, raw in file.items():
        key = BY_NAME[name]
        values[key.attr] = key.check(name, _typed(key, raw))
    return values


def _typed(key: Key, raw: Any) -> Any:
    """A daemon.json value must have the key's JSON type (dockerd refuses "mtu": "1500")."""
    expected: dict[Kind, tuple[type, str]] = {
        "str": (str, "a string"),
        "bool": (bool, "true or false"),
        "int": (int, "an integer"),
        "list": (list, "a list of strings"),
        "pools": (list, 'a list of {"base": CIDR, "size": N} objects'),
    }
    python_type, wanted = expected[key.kind]
    ok = isinstance(raw, python_type) and not (key.kind == "int" and isinstance(raw, bool))
    if ok and key.kind == "list":
        ok = all(isinstance(item, str) for item in raw)
    if ok and key.kind == "pools":
        ok = all(isinstance(item, dict) for item in raw)
    if not ok:
        raise InvalidConfig(key.name, fmt(raw), f"expected {wanted}")
    return raw


def _from_flag(key: Key, raw: Any) -> Any:
    if key.kind == "bool":
        return bool_flag(key.name, raw)
    if key.kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise InvalidConfig(key.name, fmt(raw), "expected an integer") from None
    return raw


def bool_flag(name: str, raw: str) -> bool:
    """Go's strconv.ParseBool, which dockerd's boolean flags use (--icc=false, --icc=0)."""
    if raw in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if raw in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise InvalidConfig(name, fmt(raw), "expected true or false")


def _check_together(config: DaemonConfig) -> None:
    """Rules across keys, checked once every value is valid on its own."""
    if config.bridge and config.bip is not None:
        raise InvalidParameter(
            "you specified -b (bridge) and --bip, mutually exclusive options: "
            "please specify only one"
        )
    if config.bridge == "none":
        for name in ("fixed-cidr", "fixed-cidr-v6"):
            if getattr(config, name.replace("-", "_")) is not None:
                raise InvalidParameter(
                    f'{name} configures the default bridge, which bridge: "none" disables'
                )
    bip, fixed = config.bip, config.fixed_cidr
    if bip is not None and fixed is not None and not fixed.subnet_of(bip.network):
        raise InvalidConfig(
            "fixed-cidr",
            str(fixed),
            f"is not within the subnet of bip {bip.network}",
        )
    if config.fixed_cidr_v6 is not None and not config.ipv6:
        raise InvalidConfig("fixed-cidr-v6", str(config.fixed_cidr_v6), "needs ipv6: true")


def changed_keys(old: DaemonConfig, new: DaemonConfig) -> list[str]:
    """daemon.json names of the keys whose values differ (for SIGHUP reloads)."""
    return [
        f.name.replace("_", "-")
        for f in fields(DaemonConfig)
        if getattr(old, f.name) != getattr(new, f.name)
    ]
