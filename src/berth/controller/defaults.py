"""The predefined networks: `bridge` (the default bridge, like docker0), `host` and `none`."""

from __future__ import annotations

from berth.controller.config import ControllerConfig, DefaultBridgeConfig
from berth.model import netlabels as nl
from berth.model.network import IpamConfig, IpamPoolConfig, NetworkSpec


def default_bridge_spec(cfg: DefaultBridgeConfig) -> NetworkSpec:
    options = {
        nl.BRIDGE_NAME: cfg.bridge_name,
        nl.DEFAULT_BRIDGE: "true",
        nl.ENABLE_ICC: str(cfg.icc).lower(),
        nl.ENABLE_MASQ: str(cfg.ip_masquerade).lower(),
    }
    if cfg.host_ip is not None:
        options[nl.HOST_BINDING_V4] = str(cfg.host_ip)
    if cfg.mtu is not None:
        options[nl.MTU] = str(cfg.mtu)
    pools: list[IpamPoolConfig] = []
    if cfg.bip is not None:
        pools.append(
            IpamPoolConfig(subnet=cfg.bip.network, gateway=cfg.bip.ip, ip_range=cfg.fixed_cidr)
        )
    elif cfg.fixed_cidr is not None:
        pools.append(IpamPoolConfig(subnet=cfg.fixed_cidr, ip_range=cfg.fixed_cidr))
    if cfg.enable_ipv6 and cfg.fixed_cidr_v6 is not None:
        pools.append(IpamPoolConfig(subnet=cfg.fixed_cidr_v6))
    return NetworkSpec(
        name="bridge",
        driver="bridge",
        options=options,
        ipam=IpamConfig(config=tuple(pools)),
        enable_ipv6=cfg.enable_ipv6,
    )


def predefined_specs(config: ControllerConfig) -> list[NetworkSpec]:
    specs = []
    if config.default_bridge is not None:
        specs.append(default_bridge_spec(config.default_bridge))
    specs += [NetworkSpec(name="host", driver="host"), NetworkSpec(name="none", driver="null")]
    return specs
