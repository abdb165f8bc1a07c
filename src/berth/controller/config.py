"""Controller configuration: where state lives and how the predefined networks look."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Network

ANY_V4 = IPv4Address("0.0.0.0")

DEFAULT_BRIDGE_NAME = "berth0"


@dataclass(frozen=True)
class DefaultBridgeConfig:
    """The predefined `bridge` network (dockerd's -b/--bip/--fixed-cidr/--icc/--ip-masq/--ip)."""

    bridge_name: str = DEFAULT_BRIDGE_NAME
    bip: IPv4Interface | None = None  # bridge address and subnet; auto-selected when None
    fixed_cidr: IPv4Network | None = None  # sub-range for container addresses
    icc: bool = True
    ip_masquerade: bool = True
    host_ip: IPv4Address | IPv6Address | None = None  # default host IP for published ports
    mtu: int | None = None
    enable_ipv6: bool = False
    fixed_cidr_v6: IPv6Network | None = None


@dataclass(frozen=True)
class ControllerConfig:
    state_dir: str = "/var/lib/berth"
    exec_root: str = "/run/berth"  # sandbox namespaces are bound under <exec_root>/netns
    default_host_ip: IPv4Address | IPv6Address = ANY_V4
    default_bridge: DefaultBridgeConfig | None = field(default_factory=DefaultBridgeConfig)
    predefined: bool = True  # create the `bridge`, `host` and `none` networks at start

    @property
    def netns_dir(self) -> str:
        return f"{self.exec_root}/netns"

    @property
    def store_path(self) -> str:
        return f"{self.state_dir}/berth.db"
