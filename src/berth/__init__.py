"""berth: Docker's container networking (libnetwork's Container Network Model) in Python.

The public surface of the library: the controller and the model types it takes and returns.
"""

from berth.controller.config import ControllerConfig, DefaultBridgeConfig
from berth.controller.controller import NetworkController
from berth.local import open_controller
from berth.model.endpoint import Endpoint, EndpointSpec, Sandbox, SandboxSpec
from berth.model.network import IpamConfig, IpamPoolConfig, Network, NetworkSpec
from berth.model.ports import PortMapping, PublishedPort, parse_port_spec

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
