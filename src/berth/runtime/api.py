"""The container runtime interface the daemon's API serves, and its models.

A container is a sandbox (network namespace, from the NetworkController) plus a process tree
running in its own mount, UTS and PID namespaces, supervised by a per-container shim process that
outlives berthd (so `kill -9 berthd` leaves containers running). The runtime owns the container
records (store kind "container") and their sandboxes; network endpoints stay the controller's.

Every method raises berth.model.errors types: ContainerNotFound (404), NameInUse (409),
Conflict/Forbidden (409/403) for state errors ("container is not running"), InvalidParameter
(400) for bad config. All methods are coroutines run on the daemon's event loop; blocking work
(kernel calls, the controller) goes to a thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Literal, Protocol

from berth.model.endpoint import Endpoint
from berth.model.ports import PortMapping, Proto

Status = Literal["created", "running", "restarting", "removing", "exited", "dead"]
Stream = Literal["stdin", "stdout", "stderr"]


@dataclass(frozen=True)
class RestartPolicy:
    name: Literal["no", "on-failure", "always", "unless-stopped"] = "no"
    maximum_retry_count: int = 0


@dataclass(frozen=True)
class EndpointSettings:
    """Docker's EndpointSettings as given on create (NetworkingConfig) or connect."""

    aliases: tuple[str, ...] = ()
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    links: tuple[str, ...] = ()
    mac: str | None = None
    gw_priority: int = 0
    driver_opts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerConfig:
    """Docker's Config + HostConfig + NetworkingConfig, the parts berth implements.

    ``network_mode``: "bridge" (default), "host", "none", "container:<ref>", or a network name;
    ``networks`` adds endpoint settings for that network and further networks to join at start.
    ``rootfs``: an optional root directory; by default the process sees the host's filesystem
    (with the container's /etc/hosts, /etc/resolv.conf and /etc/hostname mounted over).
    """

    cmd: tuple[str, ...]
    name: str = ""
    image: str = ""  # recorded and shown; berth does not pull images
    entrypoint: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    hostname: str = ""
    domainname: str = ""
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    exposed_ports: tuple[tuple[int, Proto], ...] = ()
    rootfs: str | None = None
    network_mode: str = "bridge"
    port_bindings: tuple[PortMapping, ...] = ()
    publish_all: bool = False
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    networks: Mapping[str, EndpointSettings] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerState:
    status: Status = "created"
    pid: int = 0
    exit_code: int = 0
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    error: str = ""
    restart_count: int = 0

    @property
    def running(self) -> bool:
        return self.status in ("running", "restarting")


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    created: str
    config: ContainerConfig
    state: ContainerState = field(default_factory=ContainerState)
    sandbox_id: str | None = None  # set while running (or shared via container:<ref>)
    path: str = ""  # the container's directory under <exec_root>/containers/<id>

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class ExecConfig:
    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    working_dir: str = ""
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    detach_keys: str = ""


@dataclass(frozen=True)
class ExecInstance:
    id: str
    container_id: str
    config: ExecConfig
    running: bool = False
    exit_code: int | None = None
    pid: int = 0


@dataclass(frozen=True)
class LogEntry:
    stream: Literal["stdout", "stderr"]
    data: bytes
    time_ns: int


class Attachment(Protocol):
    """A live connection to a process's stdio (attach or exec start).

    With ``tty`` the output is one raw stream (reported as stdout); without it stdout and stderr
    are kept apart so the API can multiplex them (Docker's 8-byte frame headers).
    """

    tty: bool

    async def read(self) -> tuple[Literal["stdout", "stderr"], bytes] | None:
        """Next output chunk, or None at end of output."""

    async def write(self, data: bytes) -> None:
        """Send to the process's stdin (ignored when stdin is not attached)."""

    async def close_stdin(self) -> None: ...

    async def close(self) -> None: ...


class ContainerService(Protocol):
    # --- records ---------------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        """By full id, name (with or without leading '/'), or unique id prefix."""

    def list(self, all: bool = False) -> list[Container]: ...

    def endpoints(self, ref: str) -> dict[str, Endpoint]:
        """The container's endpoints by network id (empty when not running)."""

    # --- lifecycle -------------------------------------------------------------------------
    async def create(self, config: ContainerConfig) -> Container:
        """Validate everything (networks exist, ports parse, names free) and record it."""

    async def start(self, ref: str) -> None:
        """Create the sandbox (or share one), join networks, write /etc files, start the shim."""

    async def stop(self, ref: str, timeout: float | None = None, signal: str = "") -> None:
        """SIGTERM (or the given signal), then SIGKILL after ``timeout`` (default 10 s); the
        sandbox and endpoints are released once the process is gone."""

    async def restart(self, ref: str, timeout: float | None = None) -> None: ...

    async def kill(self, ref: str, signal: str = "SIGKILL") -> None: ...

    async def remove(self, ref: str, *, force: bool = False) -> None:
        """Refuses a running container unless ``force`` (then kills it first)."""

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        """Docker's wait conditions: not-running, next-exit, removed. Returns the exit code."""

    async def rename(self, ref: str, name: str) -> None: ...

    # --- stdio -----------------------------------------------------------------------------
    def logs(
        self,
        ref: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        follow: bool = False,
        since_ns: int = 0,
        until_ns: int = 0,
        tail: int | None = None,
    ) -> AsyncIterator[LogEntry]: ...

    async def attach(
        self,
        ref: str,
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        logs: bool = False,
        stream: bool = True,
    ) -> Attachment: ...

    async def resize(self, ref: str, height: int, width: int) -> None: ...

    # --- networks --------------------------------------------------------------------------
    async def connect(self, ref: str, network: str, settings: EndpointSettings) -> Endpoint | None:
        """Join a network live (container running: returns the endpoint) or record it for the
        next start (returns None)."""

    async def disconnect(self, ref: str, network: str, force: bool = False) -> None: ...

    # --- exec ------------------------------------------------------------------------------
    async def exec_create(self, ref: str, config: ExecConfig) -> ExecInstance: ...

    async def exec_start(self, exec_id: str, *, detach: bool = False) -> Attachment | None: ...

    def exec_inspect(self, exec_id: str) -> ExecInstance: ...

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None: ...

    # --- daemon life -----------------------------------------------------------------------
    async def restore(self) -> None:
        """At daemon start: re-attach to running shims, mark containers whose process died
        while the daemon was down, apply restart policies."""

    async def shutdown(self) -> None:
        """At daemon stop: stop watching; containers and their networking stay as they are."""
