"""Docker's HostConfig: which fields berth implements, and the rest, which must stay at their
zero value.

The docker CLI sends the whole HostConfig on every create, zero values included
(``"Privileged":false``, ``"MemorySwappiness":-1``, ``"Devices":[]``...), so every field Docker
has is accepted; a field berth does not implement given a non-zero value is a 400 ("berth does
not support HostConfig.Privileged") instead of being ignored. The same table renders inspect's
HostConfig, so both directions list the same fields.
"""

from __future__ import annotations

from typing import Any

from berth.api.errors import BadRequest, Unsupported
from berth.api.requests import Fields

# Fields berth does not implement, with the zero value inspect shows. Values listed in
# _ALSO_DEFAULT mean "unset" too (what the CLI sends for "use the daemon's default").
UNIMPLEMENTED: dict[str, Any] = {
    "Binds": None,
    "ContainerIDFile": "",
    "VolumeDriver": "",
    "VolumesFrom": None,
    "CapAdd": None,
    "CapDrop": None,
    "CgroupnsMode": "",
    "GroupAdd": None,
    "IpcMode": "",
    "Cgroup": "",
    "OomScoreAdj": 0,
    "PidMode": "",
    "Privileged": False,
    "ReadonlyRootfs": False,
    "SecurityOpt": None,
    "UTSMode": "",
    "UsernsMode": "",
    "ShmSize": 0,
    "Isolation": "",
    "CpuShares": 0,
    "Memory": 0,
    "NanoCpus": 0,
    "CgroupParent": "",
    "BlkioWeight": 0,
    "BlkioWeightDevice": [],
    "BlkioDeviceReadBps": [],
    "BlkioDeviceWriteBps": [],
    "BlkioDeviceReadIOps": [],
    "BlkioDeviceWriteIOps": [],
    "CpuPeriod": 0,
    "CpuQuota": 0,
    "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0,
    "CpusetCpus": "",
    "CpusetMems": "",
    "Devices": [],
    "DeviceCgroupRules": None,
    "DeviceRequests": None,
    "MemoryReservation": 0,
    "MemorySwap": 0,
    "MemorySwappiness": None,
    "OomKillDisable": None,
    "PidsLimit": None,
    "Ulimits": None,
    "CpuCount": 0,
    "CpuPercent": 0,
    "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0,
    "MaskedPaths": None,
    "ReadonlyPaths": None,
}
# shown only when set in Docker (omitempty), accepted empty
_OMITTED_WHEN_EMPTY = (
    "Annotations",
    "StorageOpt",
    "Tmpfs",
    "Sysctls",
    "Runtime",
    "Mounts",
    "Init",
    "KernelMemory",
    "KernelMemoryTCP",
    "Capabilities",
)
_ALSO_DEFAULT: dict[str, tuple[Any, ...]] = {
    "MemorySwappiness": (-1,),
    "Isolation": ("default",),
    "CgroupnsMode": ("private",),
}
LOG_TYPES = ("", "json-file", "local")

IMPLEMENTED = (
    "NetworkMode",
    "PortBindings",
    "PublishAllPorts",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "Links",
    "RestartPolicy",
    "AutoRemove",
    "Rootfs",
)


def _is_default(key: str, value: Any) -> bool:
    if value is None or value is False or value in ("", [], {}):
        return True
    if type(value) is int:
        # PidsLimit: Docker treats zero or negative as unlimited
        return (
            value == 0 or (key == "PidsLimit" and value < 0) or value in _ALSO_DEFAULT.get(key, ())
        )
    return value in _ALSO_DEFAULT.get(key, ())


def check_unimplemented(host: Fields) -> None:
    """Consume every HostConfig field berth does not implement; refuse non-zero values."""
    for key in (*UNIMPLEMENTED, *_OMITTED_WHEN_EMPTY):
        value = host.raw(key)
        if not _is_default(key, value):
            raise Unsupported(host.name(key))
    check_console_size(host)
    _check_log_config(host)


def check_console_size(host: Fields) -> None:
    """The initial tty size: a hint the client follows with a resize, so it is accepted."""
    value = host.raw("ConsoleSize")
    if value is None:
        return
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise BadRequest(f"{host.name('ConsoleSize')} must be [height, width]")


def _check_log_config(host: Fields) -> None:
    log_config = host.obj("LogConfig")
    if log_config is None:
        return
    kind = log_config.text("Type")
    options = log_config.mapping("Config")
    log_config.done()
    if kind not in LOG_TYPES:
        raise Unsupported(
            log_config.name("Type"), f"log driver {kind!r} (berth keeps its own logs)"
        )
    if options:
        raise Unsupported(log_config.name("Config"))


def unimplemented_json() -> dict[str, Any]:
    """Inspect's zero values for the fields berth does not implement."""
    shown = dict(UNIMPLEMENTED)
    shown["LogConfig"] = {"Type": "json-file", "Config": {}}
    shown["ConsoleSize"] = [0, 0]
    return shown
