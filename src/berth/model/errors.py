"""berth's error tree: every error names what went wrong and which object it concerns.

Errors are grouped by *category* (the class they inherit from). Each category maps to one HTTP
status in the API layer and to one CNI code in the CNI layer; nothing else inspects categories.

    BerthError
    ├── InvalidParameter     bad input (names, subnets, options, port specs)     -> 400
    ├── NotFound             network, endpoint, sandbox, driver unknown          -> 404
    ├── Conflict             duplicate names, overlaps, address or port taken    -> 409
    ├── Forbidden            operation not allowed on this object                -> 403
    ├── Unavailable          pools exhausted, nothing free                       -> 503
    └── InternalError         the kernel or store failed; the cause is chained    -> 500

Kernel failures are raised with ``raise KernelError(...) from err`` so the errno stays visible.
"""

from __future__ import annotations


class BerthError(Exception):
    """Base of every error berth raises on purpose."""


class InvalidParameter(BerthError):
    """The request is malformed or inconsistent; nothing was changed."""


class NotFound(BerthError):
    """The named object does not exist."""


class Conflict(BerthError):
    """The request collides with something that already exists."""


class Forbidden(BerthError):
    """The object exists but the operation is not allowed on it."""


class NotImplementedYet(BerthError):
    """A valid request for something berth does not implement (HTTP 501)."""


class Unavailable(BerthError):
    """A resource (address, pool, port) is exhausted."""


class InternalError(BerthError):
    """The kernel or the store failed underneath an otherwise valid request."""


# --- InvalidParameter -------------------------------------------------------------------------


class InvalidName(InvalidParameter):
    def __init__(self, kind: str, name: str, why: str) -> None:
        super().__init__(f"invalid {kind} name {name!r}: {why}")
        self.kind, self.name = kind, name


class InvalidSubnet(InvalidParameter):
    def __init__(self, value: str, why: str) -> None:
        super().__init__(f"invalid subnet {value!r}: {why}")
        self.value = value


class InvalidAddress(InvalidParameter):
    def __init__(self, value: str, why: str) -> None:
        super().__init__(f"invalid address {value!r}: {why}")
        self.value = value


class InvalidOption(InvalidParameter):
    def __init__(self, key: str, value: object, why: str) -> None:
        super().__init__(f"invalid option {key}={value!r}: {why}")
        self.key = key


class InvalidConfig(InvalidParameter):
    """A daemon configuration value (daemon.json key or berthd flag) is unusable."""

    def __init__(self, key: str, value: str, why: str) -> None:
        super().__init__(f"invalid {key} {value}: {why}")
        self.key = key


class UnknownOption(InvalidParameter):
    def __init__(self, driver: str, key: str) -> None:
        super().__init__(f"driver {driver!r} does not support option {key!r}")
        self.driver, self.key = driver, key


class InvalidPortSpec(InvalidParameter):
    def __init__(self, spec: str, why: str) -> None:
        super().__init__(f"invalid port specification {spec!r}: {why}")
        self.spec = spec


class AddressOutOfRange(InvalidParameter):
    def __init__(self, address: str, pool: str) -> None:
        super().__init__(f"requested address {address} is out of range of pool {pool}")
        self.address, self.pool = address, pool


# --- NotFound ---------------------------------------------------------------------------------


class NetworkNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"network {ref} not found")
        self.ref = ref


class EndpointNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"endpoint {ref} not found")
        self.ref = ref


class SandboxNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"sandbox {ref} not found")
        self.ref = ref


class ContainerNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such container: {ref}")
        self.ref = ref


class ExecNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such exec instance: {ref}")
        self.ref = ref


class DriverNotFound(NotFound):
    def __init__(self, name: str, kind: str = "network") -> None:
        super().__init__(f"{kind} driver {name!r} not found")
        self.name = name


class PoolNotFound(NotFound):
    def __init__(self, pool_id: str) -> None:
        super().__init__(f"address pool {pool_id} not found")
        self.pool_id = pool_id


# --- Conflict ---------------------------------------------------------------------------------


class NameInUse(Conflict):
    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} with name {name} already exists")
        self.kind, self.name = kind, name


class AmbiguousReference(Conflict):
    def __init__(self, kind: str, ref: str, count: int) -> None:
        super().__init__(f"{kind} reference {ref!r} is ambiguous ({count} matches)")
        self.kind, self.ref = kind, ref


class PoolOverlap(Conflict):
    def __init__(self, subnet: str, other: str) -> None:
        super().__init__(f"subnet {subnet} overlaps with the pool of network {other}")
        self.subnet, self.other = subnet, other


class AddressInUse(Conflict):
    def __init__(self, address: str, pool: str) -> None:
        super().__init__(f"address {address} is already in use in pool {pool}")
        self.address, self.pool = address, pool


class PortInUse(Conflict):
    def __init__(self, binding: str, holder: str) -> None:
        super().__init__(f"host port {binding} is already in use by {holder}")
        self.binding, self.holder = binding, holder


class BridgeInUse(Conflict):
    def __init__(self, bridge: str, network: str) -> None:
        super().__init__(f"bridge {bridge} is already used by network {network}")
        self.bridge, self.network = bridge, network


class EndpointExists(Conflict):
    def __init__(self, sandbox: str, network: str) -> None:
        super().__init__(f"sandbox {sandbox} is already connected to network {network}")
        self.sandbox, self.network = sandbox, network


class DaemonRunning(Conflict):
    """Another berthd holds the data root, a socket or the pid file this one was told to use."""


class ActiveEndpoints(Forbidden):
    def __init__(self, network: str, count: int) -> None:
        super().__init__(f"network {network} has {count} active endpoint(s)")
        self.network, self.count = network, count


class PredefinedNetwork(Forbidden):
    def __init__(self, name: str, action: str) -> None:
        super().__init__(f"{name} is a pre-defined network and cannot be {action}")
        self.name = name


# --- Unavailable ------------------------------------------------------------------------------


class PoolsExhausted(Unavailable):
    def __init__(self, family: int, tried: int) -> None:
        super().__init__(
            f"all predefined address pools have been fully subnetted: no free IPv{family} pool "
            f"among {tried} candidate(s) that overlaps neither another network nor a host "
            "address or route; extend default-address-pools"
        )
        self.family = family


class NoAvailableAddress(Unavailable):
    def __init__(self, pool: str) -> None:
        super().__init__(f"no available addresses on pool {pool}")
        self.pool = pool


class NoAvailablePort(Unavailable):
    def __init__(self, what: str) -> None:
        super().__init__(f"no free host port for {what}")


# --- InternalError ----------------------------------------------------------------------------


class KernelError(InternalError):
    """A kernel call failed; ``errno`` is kept when the cause had one."""

    def __init__(self, what: str, cause: BaseException | None = None) -> None:
        detail = f": {cause}" if cause is not None else ""
        super().__init__(f"{what}{detail}")
        self.errno: int | None = getattr(cause, "errno", None) or getattr(cause, "code", None)


class StoreError(InternalError):
    """The state store failed; the cause is chained."""


class TeardownErrors(InternalError):
    """Teardown kept going past failures; this carries all of them."""

    def __init__(self, what: str, errors: list[BaseException]) -> None:
        lines = "; ".join(str(e) for e in errors)
        super().__init__(f"{what}: {len(errors)} step(s) failed: {lines}")
        self.errors = errors
