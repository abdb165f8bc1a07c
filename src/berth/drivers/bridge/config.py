"""Bridge network options (Docker's keys) parsed into a frozen config before anything changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from berth.model.errors import InvalidName, InvalidOption, UnknownOption
from berth.model.ids import validate_ifname
from berth.model.netlabels import (
    BRIDGE_NAME,
    DEFAULT_BRIDGE,
    ENABLE_ICC,
    ENABLE_MASQ,
    GATEWAY_MODE_V4,
    GATEWAY_MODE_V6,
    HOST_BINDING_V4,
    HOST_IPV4,
    HOST_IPV6,
    IFACE_PREFIX,
    INHIBIT_IPV4,
    MTU,
)
from berth.model.options import parse_bool, parse_int, parse_ip, parse_ipv4, parse_ipv6

KNOWN = frozenset(
    {
        BRIDGE_NAME,
        ENABLE_ICC,
        ENABLE_MASQ,
        HOST_BINDING_V4,
        DEFAULT_BRIDGE,
        INHIBIT_IPV4,
        GATEWAY_MODE_V4,
        GATEWAY_MODE_V6,
        MTU,
        IFACE_PREFIX,
        HOST_IPV4,
        HOST_IPV6,
    }
)
# berth implements Docker's default gateway mode; "nat-unprotected" differs only in filtering
# that berth keeps either way.
GATEWAY_MODES = ("nat", "nat-unprotected")


@dataclass(frozen=True)
class BridgeConfig:
    bridge_name: str | None = None
    icc: bool = True
    masquerade: bool = True
    host_binding: IPv4Address | IPv6Address | None = None
    default_bridge: bool = False
    inhibit_ipv4: bool = False
    mtu: int | None = None
    iface_prefix: str = "eth"
    snat4: IPv4Address | None = None
    snat6: IPv6Address | None = None


def parse_bridge_options(options: Mapping[str, str], *, predefined: bool = False) -> BridgeConfig:
    """Validate every option; unknown keys are errors (a typo must not be silently ignored)."""
    for key in options:
        if key not in KNOWN:
            raise UnknownOption("bridge", key)
    if (
        DEFAULT_BRIDGE in options
        and parse_bool(DEFAULT_BRIDGE, options[DEFAULT_BRIDGE])
        and not predefined
    ):
        raise InvalidOption(
            DEFAULT_BRIDGE,
            options[DEFAULT_BRIDGE],
            "only the predefined default network is the default bridge",
        )
    for key in (GATEWAY_MODE_V4, GATEWAY_MODE_V6):
        if key in options and options[key] not in GATEWAY_MODES:
            raise InvalidOption(key, options[key], f"supported modes: {', '.join(GATEWAY_MODES)}")
    name = options.get(BRIDGE_NAME)
    if name is not None:
        try:
            validate_ifname(name)
        except InvalidName as err:
            raise InvalidOption(BRIDGE_NAME, name, str(err)) from None
    prefix = options.get(IFACE_PREFIX, "eth")
    if not prefix or len(prefix) > 12 or not prefix.isalnum():
        raise InvalidOption(IFACE_PREFIX, prefix, "1 to 12 letters or digits")
    return BridgeConfig(
        bridge_name=name,
        icc=parse_bool(ENABLE_ICC, options.get(ENABLE_ICC, "true")),
        masquerade=parse_bool(ENABLE_MASQ, options.get(ENABLE_MASQ, "true")),
        host_binding=parse_ip(HOST_BINDING_V4, options[HOST_BINDING_V4])
        if HOST_BINDING_V4 in options
        else None,
        default_bridge=parse_bool(DEFAULT_BRIDGE, options.get(DEFAULT_BRIDGE, "false")),
        inhibit_ipv4=parse_bool(INHIBIT_IPV4, options.get(INHIBIT_IPV4, "false")),
        mtu=parse_int(MTU, options[MTU], 68, 65535) if MTU in options else None,
        iface_prefix=prefix,
        snat4=parse_ipv4(HOST_IPV4, options[HOST_IPV4]) if HOST_IPV4 in options else None,
        snat6=parse_ipv6(HOST_IPV6, options[HOST_IPV6]) if HOST_IPV6 in options else None,
    )


def bridge_name_for(network_id: str, config: BridgeConfig) -> str:
    """Docker's naming: the given name, else br-<first 12 hex of the network id>."""
    return config.bridge_name or f"br-{network_id[:12]}"
