"""berth: Docker's container networking (libnetwork's Container Network Model) in Python.

The public surface of the library: the controller and the model types it takes and returns.
The names are imported on first use (PEP 562), so that light entry points inside the package
(the `berth` CLI, the CNI plugin) do not pay for loading the controller and its drivers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from berth.controller.config import ControllerConfig, DefaultBridgeConfig
    from berth.controller.controller import NetworkController
    from berth.local import open_controller
    from berth.model.endpoint import Endpoint, EndpointSpec, Sandbox, SandboxSpec
    from berth.model.network import IpamConfig, IpamPoolConfig, Network, NetworkSpec
    from berth.model.ports import PortMapping, PublishedPort, parse_port_spec

_EXPORTS = {
    "ControllerConfig": "berth.controller.config",
    "DefaultBridgeConfig": "berth.controller.config",
    "Endpoint": "berth.model.endpoint",
    "EndpointSpec": "berth.model.endpoint",
    "IpamConfig": "berth.model.network",
    "IpamPoolConfig": "berth.model.network",
    "Network": "berth.model.network",
    "NetworkController": "berth.controller.controller",
    "NetworkSpec": "berth.model.network",
    "PortMapping": "berth.model.ports",
    "PublishedPort": "berth.model.ports",
    "Sandbox": "berth.model.endpoint",
    "SandboxSpec": "berth.model.endpoint",
    "open_controller": "berth.local",
    "parse_port_spec": "berth.model.ports",
}

__all__ = [
    "ControllerConfig",
    "DefaultBridgeConfig",
    "Endpoint",
    "EndpointSpec",
    "IpamConfig",
    "IpamPoolConfig",
    "Network",
    "NetworkController",
    "NetworkSpec",
    "PortMapping",
    "PublishedPort",
    "Sandbox",
    "SandboxSpec",
    "open_controller",
    "parse_port_spec",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'berth' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
