"""NetworkController: the CNM lifecycle over drivers, IPAM, the store and the kernel.

Every public method that changes something is one all-or-nothing operation: it runs inside one
exclusive store transaction (which also serialises berth processes sharing the state dir) and one
undo stack; a failure at any step undoes the kernel steps already made and rolls the store back,
then re-raises the original error. Validation happens before the first change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from berth.controller import sandbox_net
from berth.controller.config import ControllerConfig
from berth.controller.networks import NetworkPlanner
from berth.controller.registry import Registry
from berth.controller.transaction import Teardown, Transaction
from berth.drivers.api import NetworkDriver
from berth.events import Event, EventSink, NullSink
from berth.ipam.api import IpamDriver
from berth.kernel.api import Kernel
from berth.model.endpoint import Endpoint, EndpointSpec, Sandbox, SandboxSpec
from berth.model.errors import (
    ActiveEndpoints,
    DriverNotFound,
    NameInUse,
    PredefinedNetwork,
)
from berth.model.ids import new_id, validate_name
from berth.model.network import Network, NetworkSpec
from berth.store.api import Store, StoreTxn

log = logging.getLogger(__name__)

PREDEFINED = ("bridge", "host", "none")


@dataclass
class Op:
    """One write operation in progress: the store transaction, the undo stack, and the events
    to publish once it has committed."""

    txn: StoreTxn
    undo: Transaction
    events: list[Event] = field(default_factory=list)

    def emit(self, action: str, network: Network, **attributes: str) -> None:
        attrs = {"name": network.name, "type": network.driver, **attributes}
        self.events.append(Event("network", action, network.id, attrs))


class NetworkController:
    def __init__(
        self,
        *,
        config: ControllerConfig,
        store: Store,
        kernel: Kernel,
        ipam: Mapping[str, IpamDriver],
        drivers: Mapping[str, NetworkDriver],
        on_close: Callable[[], None] | None = None,
        events: EventSink | None = None,
    ) -> None:
        self.config = config
        self.events: EventSink = events or NullSink()
        self._on_close = on_close
        self.kernel = kernel
        self._store = store
        self._ipam = dict(ipam)
        self._drivers = dict(drivers)
        self._lock = threading.RLock()
        self._reg = Registry()
        self._planner = NetworkPlanner(kernel, self._ipam)
        from berth.controller.attach import Attacher  # noqa: PLC0415 - avoids an import cycle

        self._attacher = Attacher(config, kernel, self._ipam, self._reg, self.driver)

    # --- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        """Release the store and kernel handles (kernel objects and state stay as they are)."""
        with self._lock:
            self._store.close()
            if self._on_close is not None:
                self._on_close()
                self._on_close = None

    def __enter__(self) -> NetworkController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def driver(self, name: str) -> NetworkDriver:
        try:
            return self._drivers[name]
        except KeyError:
            raise DriverNotFound(name) from None

    def register_driver(self, name: str, driver: NetworkDriver) -> None:
        with self._lock:
            self._drivers[name] = driver

    @contextmanager
    def _write(self, what: str) -> Iterator[Op]:
        with self._lock:
            try:
                with Transaction(what) as undo, self._store.write() as txn:
                    self._reg.sync(txn)
                    self._reg.changed = False
                    op = Op(txn, undo)
                    yield op
                    generation = txn.generation
                self._reg.generation = generation + 1
            except BaseException:
                if self._reg.changed:  # else it is still the committed state (no reload)
                    self._reg.invalidate()
                raise
        for event in op.events:
            self.events.publish(event)

    @contextmanager
    def _read(self) -> Iterator[Registry]:
        with self._lock, self._store.read() as txn:
            self._reg.sync(txn)
            yield self._reg

    # --- networks -------------------------------------------------------------------------

    def create_network(self, spec: NetworkSpec, *, predefined: bool = False) -> Network:
        """Validate, allocate pools, build the network in the kernel, persist it."""
        validate_name("network", spec.name)
        if spec.name in PREDEFINED and not predefined:
            raise PredefinedNetwork(spec.name, "created")
        driver = self.driver(spec.driver)
        plan = self._planner.validate(spec, driver, predefined=predefined)
        with self._write(f"create network {spec.name}") as op:
            if self._reg.networks_named(spec.name):
                raise NameInUse("network", spec.name)
            pools = self._planner.allocate_pools(op.txn, op.undo, plan)
            network = Network(
                id=spec.id or new_id(),
                name=spec.name,
                driver=spec.driver,
                scope=plan.scope,
                created=datetime.now(UTC).isoformat(),
                ipam=spec.ipam,
                pools=pools,
                options=dict(spec.options),
                labels=dict(spec.labels),
                internal=spec.internal,
                attachable=spec.attachable,
                enable_ipv6=spec.enable_ipv6,
            )
            result = driver.create_network(network)
            network = replace(network, driver_state=dict(result.state))
            op.undo.on_rollback("driver delete_network", lambda: driver.delete_network(network))
            self._reg.save_network(op.txn, network)
            op.emit("create", network)
        log.info(
            "created network %s (%s) %s",
            network.name,
            network.short_id,
            ", ".join(str(p.subnet) for p in network.pools),
        )
        return network

    def delete_network(self, ref: str, *, predefined: bool = False) -> None:
        with self._write(f"delete network {ref}") as op:
            network = self._reg.network(ref)
            if network.name in PREDEFINED and not predefined:
                raise PredefinedNetwork(network.name, "removed")
            active = self._reg.network_endpoints(network.id)
            if active:
                raise ActiveEndpoints(network.name, len(active))
            self.driver(network.driver).delete_network(network)
            self._planner.release_pools(op.txn, network)
            self._reg.drop_network(op.txn, network)
            op.emit("destroy", network)
        log.info("deleted network %s (%s)", network.name, network.short_id)

    def network(self, ref: str) -> Network:
        with self._read() as reg:
            return reg.network(ref)

    def networks(self) -> list[Network]:
        with self._read() as reg:
            return list(reg.all_networks())

    def endpoints(self, network_ref: str | None = None) -> list[Endpoint]:
        with self._read() as reg:
            if network_ref is None:
                return list(reg.endpoints.values())
            return reg.network_endpoints(reg.network(network_ref).id)

    def endpoint(self, ref: str) -> Endpoint:
        with self._read() as reg:
            return reg.endpoint(ref)

    # --- sandboxes ------------------------------------------------------------------------

    def create_sandbox(self, spec: SandboxSpec | None = None) -> Sandbox:
        spec = spec or SandboxSpec()
        sandbox_id = spec.id or new_id()
        name = validate_name("sandbox", spec.name) if spec.name else sandbox_id[:12]
        with self._write(f"create sandbox {name}") as op:
            if self._reg.sandboxes_named(name):
                raise NameInUse("sandbox", name)
            if spec.host_mode:
                # "The namespace of the process that opens this path": berthd's own and its shims'
                # (they share it), also after a restart; never PID 1's, since a berthd in a test
                # namespace must not put containers into the machine's real one
                path = self.kernel.host_ns or "/proc/self/ns/net"
            else:
                path = f"{self.config.netns_dir}/{sandbox_id}"
                self.kernel.netns.create(path)
                op.undo.on_rollback("remove netns", lambda: self._remove_netns(path))
                sandbox_net.ipv6_off_by_default(self.kernel, path)
            sandbox = Sandbox(
                id=sandbox_id,
                name=name,
                netns_path=path,
                hostname=spec.hostname or sandbox_id[:12],
                host_mode=spec.host_mode,
                gateway_names=_dns_names(spec.gateway_names),
            )
            self._reg.save_sandbox(op.txn, sandbox)
        return sandbox

    def delete_sandbox(self, ref: str) -> None:
        """Disconnect every endpoint, then remove the namespace; keeps going past failures."""
        with self._write(f"delete sandbox {ref}") as op:
            sandbox = self._reg.sandbox(ref)
            teardown = Teardown(f"delete sandbox {sandbox.name}")
            for endpoint in reversed(self._reg.sandbox_endpoints(sandbox)):
                teardown.step(
                    f"disconnect {endpoint.name}",
                    partial(self._attacher.disconnect, op, endpoint),
                )
            if not sandbox.host_mode:
                teardown.step("remove netns", lambda: self._remove_netns(sandbox.netns_path))
            teardown.finish()
            self._reg.drop_sandbox(op.txn, self._reg.sandboxes[sandbox.id])

    def _remove_netns(self, path: str) -> None:
        self.kernel.netlink.close(path)
        self.kernel.netns.remove(path)

    def sandbox(self, ref: str) -> Sandbox:
        with self._read() as reg:
            return reg.sandbox(ref)

    def sandboxes(self) -> list[Sandbox]:
        with self._read() as reg:
            return list(reg.sandboxes.values())

    # --- endpoints ------------------------------------------------------------------------

    def connect(
        self, network_ref: str, sandbox_ref: str, spec: EndpointSpec | None = None
    ) -> Endpoint:
        """Create an endpoint on the network and join it to the sandbox, all or nothing."""
        with self._write(f"connect {sandbox_ref} to {network_ref}") as op:
            network = self._reg.network(network_ref)
            sandbox = self._reg.sandbox(sandbox_ref)
            return self._attacher.connect(op, network, sandbox, spec or EndpointSpec())

    def disconnect(self, network_ref: str, sandbox_ref: str) -> None:
        """Leave and delete the sandbox's endpoint on the network."""
        with self._write(f"disconnect {sandbox_ref} from {network_ref}") as op:
            network = self._reg.network(network_ref)
            sandbox = self._reg.sandbox(sandbox_ref)
            endpoint = self._attacher.endpoint_of(network, sandbox)
            # the veth pair is deleted in the background: the kernel takes ~20 ms to unregister it
            self._attacher.disconnect(op, endpoint, background=True)

    def create_endpoint(self, network_ref: str, spec: EndpointSpec | None = None) -> Endpoint:
        """CNM step 1 of 2: an endpoint with addresses, not yet in any sandbox."""
        with self._write(f"create endpoint on {network_ref}") as op:
            network = self._reg.network(network_ref)
            return self._attacher.create_endpoint(op, network, spec or EndpointSpec())

    def join(self, endpoint_ref: str, sandbox_ref: str) -> Endpoint:
        """CNM step 2 of 2: put the endpoint's interface into the sandbox."""
        with self._write(f"join {endpoint_ref} to {sandbox_ref}") as op:
            endpoint = self._reg.endpoint(endpoint_ref)
            return self._attacher.join(op, endpoint, self._reg.sandbox(sandbox_ref))

    def leave(self, endpoint_ref: str) -> Endpoint:
        with self._write(f"leave {endpoint_ref}") as op:
            return self._attacher.leave(op, self._reg.endpoint(endpoint_ref), background=True)

    def delete_endpoint(self, endpoint_ref: str) -> None:
        with self._write(f"delete endpoint {endpoint_ref}") as op:
            self._attacher.delete_endpoint(op, self._reg.endpoint(endpoint_ref))

    # --- predefined networks --------------------------------------------------------------

    def ensure_predefined_networks(self) -> None:
        """Create `bridge` (unless disabled), `host` and `none` if they do not exist yet."""
        from berth.controller.defaults import predefined_specs  # noqa: PLC0415

        existing = {n.name for n in self.networks()}
        for spec in predefined_specs(self.config):
            if spec.name not in existing:
                self.create_network(spec, predefined=True)


def _dns_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Names as the embedded DNS compares them: lowercase, no trailing dot, each once."""
    return tuple(dict.fromkeys(name.lower().rstrip(".") for name in names))
