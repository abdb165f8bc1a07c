"""The bridge driver: a Linux bridge per network, one veth pair per endpoint, nftables around it."""

from berth.drivers.bridge.driver import BridgeDriver

__all__ = ["BridgeDriver"]
