"""Row contexts for `network ls` and `ps`: the fields Docker's formatters expose, computed from
the Docker-shaped JSON the daemon returns, with Docker's rendering of ids, commands, ports,
names and times. Each row answers ``template_field`` (for templates) and ``template_json``
(for `--format json`, which like Docker's holds every argument-less field as a string).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from ipaddress import ip_address
from typing import Any

from berth.model.humanize import human_duration

NETWORK_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
CONTAINER_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv4": "IPV4",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
CONTAINER_HEADERS = {
    "ID": "CONTAINER ID",
    "Names": "NAMES",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
}


class Row:
    """A template context over one JSON object; FIELDS lists the argument-less fields."""

    FIELDS: tuple[str, ...] = ()

    def __init__(self, data: Mapping[str, Any], trunc: bool = True) -> None:
        self.data = data
        self.trunc = trunc

    def template_field(self, name: str) -> Callable[..., Any] | None:
        if name in self.FIELDS or name == "Label":
            method: Callable[..., Any] = getattr(self, name)
            return method
        return None

    def template_json(self) -> dict[str, Any]:
        return {name: getattr(self, name)() for name in sorted(self.FIELDS)}

    def ID(self) -> str:
        ident = str(self.data.get("Id") or self.data.get("ID") or "")
        return truncate_id(ident) if self.trunc else ident

    def Labels(self) -> str:
        labels = self.data.get("Labels") or {}
        return ",".join(sorted(f"{k}={v}" for k, v in labels.items()))

    def Label(self, name: str) -> str:
        return str((self.data.get("Labels") or {}).get(name, ""))


class NetworkRow(Row):
    FIELDS = ("ID", "Name", "Driver", "Scope", "IPv4", "IPv6", "Internal", "Labels", "CreatedAt")

    def Name(self) -> str:
        return str(self.data.get("Name", ""))

    def Driver(self) -> str:
        return str(self.data.get("Driver", ""))

    def Scope(self) -> str:
        return str(self.data.get("Scope", ""))

    def IPv4(self) -> str:
        return _bool(self.data.get("EnableIPv4", True))

    def IPv6(self) -> str:
        return _bool(self.data.get("EnableIPv6", False))

    def Internal(self) -> str:
        return _bool(self.data.get("Internal", False))

    def CreatedAt(self) -> str:
        return go_time_string(str(self.data.get("Created", "")))


class ContainerRow(Row):
    FIELDS = (
        "ID",
        "Names",
        "Image",
        "Command",
        "CreatedAt",
        "RunningFor",
        "Ports",
        "State",
        "Status",
        "Size",
        "Labels",
        "Mounts",
        "LocalVolumes",
        "Networks",
        "Platform",
    )

    def Names(self) -> str:
        names = [n.removeprefix("/") for n in self.data.get("Names") or []]
        if self.trunc:
            return next((n for n in names if "/" not in n), "")
        return ",".join(names)

    def Image(self) -> str:
        return str(self.data.get("Image") or "<no image>")

    def Command(self) -> str:
        command = str(self.data.get("Command", ""))
        return go_quote(ellipsis(command, 20) if self.trunc else command)

    def CreatedAt(self) -> str:
        stamp = datetime.fromtimestamp(int(self.data.get("Created", 0))).astimezone()
        return stamp.strftime("%Y-%m-%d %H:%M:%S %z %Z")

    def RunningFor(self) -> str:
        return human_duration(time.time() - int(self.data.get("Created", 0))) + " ago"

    def Ports(self) -> str:
        return displayable_ports(self.data.get("Ports") or [])

    def State(self) -> str:
        state = self.data.get("State", "")
        return str(state.get("Status", "") if isinstance(state, Mapping) else state)

    def Status(self) -> str:
        return str(self.data.get("Status", ""))

    def Size(self) -> str:
        return human_size(int(self.data.get("SizeRw") or 0))

    def Mounts(self) -> str:
        names = [str(m.get("Name") or m.get("Source", "")) for m in self.data.get("Mounts") or []]
        return ",".join(ellipsis(n, 15) if self.trunc else n for n in names)

    def LocalVolumes(self) -> str:
        mounts = self.data.get("Mounts") or []
        return str(sum(1 for m in mounts if m.get("Driver") == "local"))

    def Platform(self) -> Any:
        return self.data.get("ImageManifestDescriptor", {}).get("platform")

    def Networks(self) -> str:
        settings = self.data.get("NetworkSettings") or {}
        return ",".join(sorted(settings.get("Networks") or {}))


def _bool(value: Any) -> str:
    return "true" if value else "false"


def truncate_id(ident: str) -> str:
    """Docker's stringid.TruncateID: drop an "algo:" prefix, keep 12 characters."""
    return ident.partition(":")[2][:12] if ":" in ident else ident[:12]


def ellipsis(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: width - 1] + "…"


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES |= {"\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's strconv.Quote for the strings a command line holds."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def human_size(size: float) -> str:
    """go-units HumanSizeWithPrecision(size, 3) with decimal units."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    n = 0
    while size >= 1000 and n < len(units) - 1:
        size /= 1000
        n += 1
    return f"{size:.3g}{units[n]}"


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def go_time_string(stamp: str) -> str:
    """Go's time.Time.String() for an RFC 3339 timestamp as the API returns it."""
    m = _RFC3339.match(stamp)
    if not m:
        return stamp
    day, clock, frac, zone = m.groups()
    frac = (frac or "").rstrip("0")
    text = f"{day} {clock}" + (f".{frac}" if frac else "")
    if zone == "Z":
        return f"{text} +0000 UTC"
    offset = zone.replace(":", "")
    return f"{text} {offset} {offset}"


def parse_rfc3339(stamp: str) -> datetime | None:
    m = _RFC3339.match(stamp)
    if not m:
        return None
    day, clock, frac, zone = m.groups()
    tz = UTC
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    base = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=tz)
    return base + timedelta(microseconds=int((frac or "0")[:6].ljust(6, "0")))


def join_host_port(host: str, port: object) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ip_key(ip: str) -> tuple[int, int]:
    if not ip:
        return (0, 0)
    addr = ip_address(ip)
    return (addr.version, int(addr))


def displayable_ports(ports: list[Mapping[str, Any]]) -> str:
    """Docker's DisplayablePorts: consecutive ports grouped into ranges, published ports whose
    host port differs from the container port listed last ("0.0.0.0:8080->80/tcp")."""
    ordered = sorted(
        ports,
        key=lambda p: (
            int(p.get("PrivatePort", 0)),
            _ip_key(str(p.get("IP") or "")),
            int(p.get("PublicPort") or 0),
            str(p.get("Type", "")),
        ),
    )
    groups: dict[str, list[int]] = {}
    result: list[str] = []
    mappings: list[str] = []
    for port in ordered:
        current, kind, ip = int(port["PrivatePort"]), str(port["Type"]), str(port.get("IP") or "")
        key = kind
        if ip:
            public = int(port.get("PublicPort") or 0)
            if public != current:
                mappings.append(f"{join_host_port(ip, public)}->{current}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [current, current]
        elif current == group[1] + 1:
            group[1] = current
        else:
            result.append(_form_group(key, *group))
            groups[key] = [current, current]
    result.extend(_form_group(key, *group) for key, group in groups.items())
    return ", ".join(result + mappings)


def _form_group(key: str, first: int, last: int) -> str:
    ip, _, kind = key.rpartition("/")
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{join_host_port(ip, group)}->{group}"
    return f"{group}/{kind}"
