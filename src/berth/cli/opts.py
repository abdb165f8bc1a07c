"""Turning Docker's flag values into the API's JSON shapes, with the docker CLI's rules and
messages: key=value lists, filters, restart policies, env files, `-p` in every form, IPAM
config for `network create`, and --since/--until times. Pure functions; errors are OptError
(the CLI shows them as usage errors)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network, ip_interface, ip_network
from typing import Any

from berth.cli.errors import OptError


def kv_map(values: Iterable[str]) -> dict[str, str]:
    """Docker's MapOpts / ConvertKVStringsToMap: "k=v", and "k" meaning an empty value."""
    result: dict[str, str] = {}
    for value in values:
        key, _, val = value.partition("=")
        result[key] = val
    return result


def strict_kv_map(values: Iterable[str], what: str) -> dict[str, str]:
    """key=value pairs where the "=" is required (driver options on connect)."""
    result: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise OptError(f"invalid key/value pair format in {what}")
        result[key.strip()] = val.strip()
    return result


def filters(values: Iterable[str]) -> dict[str, dict[str, bool]] | None:
    """`-f name=value` flags as Docker's filters JSON (`{"name": {"value": true}}`)."""
    result: dict[str, dict[str, bool]] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            raise OptError(f"bad format of filter (expected name=value): {value}")
        result.setdefault(key.strip().lower(), {})[val.strip()] = True
    return result or None


RESTART_NAMES = ("no", "always", "on-failure", "unless-stopped")


def restart_policy(value: str) -> dict[str, Any]:
    name, colon, count = value.partition(":")
    if colon and not name:
        raise OptError("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        try:
            retries = int(count)
        except ValueError:
            raise OptError(
                "invalid restart policy format: maximum retry count must be an integer"
            ) from None
    if name not in RESTART_NAMES:
        raise OptError(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'"
        )
    if retries and name != "on-failure":
        raise OptError(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if retries < 0:
        raise OptError("invalid restart policy: maximum retry count cannot be negative")
    return {"Name": name, "MaximumRetryCount": retries}


def env_value(value: str) -> str:
    """`-e KEY=v` as is; `-e KEY` takes KEY from the CLI's environment when it is set."""
    key, sep, _ = value.partition("=")
    if not key:
        raise OptError(f"invalid environment variable: {value}")
    if sep or key not in os.environ:
        return value
    return f"{key}={os.environ[key]}"


def read_env_file(path: str) -> list[str]:
    """Docker's env file rules: one VAR=value a line, taken literally (no quotes, no
    expansion); blank lines and lines starting with # are skipped; a bare VAR takes its value
    from the environment."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as err:
        raise OptError(f"open {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise OptError(f"env file {path} contains invalid utf8 bytes") from None
    result: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.lstrip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if any(ch.isspace() for ch in name):
            raise OptError(f"variable '{name}' contains whitespaces")
        if not name:
            raise OptError(f"no variable name on line '{line}'")
        if sep:
            result.append(f"{name}={value}")
        elif name in os.environ:
            result.append(f"{name}={os.environ[name]}")
        else:
            result.append(name)
    return result


def environment(env_files: Sequence[str], env: Sequence[str]) -> list[str]:
    result: list[str] = []
    for path in env_files:
        result.extend(read_env_file(path))
    result.extend(env_value(value) for value in env)
    return result


def _standard_port_notation(spec: str) -> str:
    """The long syntax (`published=8080,target=80,protocol=udp`) as `8080:80/udp`."""
    if "=" not in spec:
        return spec
    fields = kv_map(part for part in spec.split(",") if part)
    unknown = set(fields) - {"target", "published", "protocol", "mode", "host_ip"}
    if unknown:
        raise OptError(f"invalid field key {sorted(unknown)[0]!r} in publish option {spec}")
    if not fields.get("target"):
        raise OptError("missing mandatory field 'target'")
    host = fields.get("published", "")
    host_ip = fields.get("host_ip", "")
    prefix = ""
    if host_ip:
        prefix = (f"[{host_ip}]" if ":" in host_ip else host_ip) + f":{host}:"
    elif host:
        prefix = f"{host}:"
    return f"{prefix}{fields['target']}/{fields.get('protocol') or 'tcp'}"


def _bracket_ipv6(spec: str) -> str:
    """Docker also accepts an unbracketed IPv6 host address ("::1:8080:80")."""
    body, slash, proto = spec.partition("/")
    if body.startswith("[") or body.count(":") <= 2:
        return spec
    parts = body.split(":")
    return "[" + ":".join(parts[:-2]) + "]:" + ":".join(parts[-2:]) + slash + proto


def ports(
    publish: Sequence[str], expose: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """`-p` and `--expose` values as (ExposedPorts, HostConfig.PortBindings)."""
    if not publish and not expose:
        return {}, {}
    # the model's port parser pulls in dataclasses and ipaddress: only for -p
    from berth.model.errors import InvalidParameter  # noqa: PLC0415 - start-up time
    from berth.model.ports import parse_port_spec  # noqa: PLC0415 - start-up time

    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in publish:
        try:
            mappings = parse_port_spec(_bracket_ipv6(_standard_port_notation(spec)))
        except InvalidParameter as err:
            raise OptError(str(err)) from None
        for m in mappings:
            key = f"{m.container_port}/{m.proto}"
            exposed[key] = {}
            host_port = ""
            if m.host_ports is not None:
                first, last = m.host_ports
                host_port = str(first) if first == last else f"{first}-{last}"
            host_ip = "" if m.host_ip is None else str(m.host_ip)
            bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": host_port})
    for spec in expose:
        if ":" in spec:
            raise OptError(f"invalid port format for --expose: {spec}")
        port, _, proto = spec.partition("/")
        low, _, high = port.partition("-")
        try:
            lo, hi = int(low), int(high or low)
        except ValueError:
            raise OptError(f"invalid range format for --expose: {spec}") from None
        if not 0 < lo <= hi <= 65535:
            raise OptError(f"invalid range format for --expose: {spec}")
        for number in range(lo, hi + 1):
            exposed.setdefault(f"{number}/{(proto or 'tcp').lower()}", {})
    return exposed, bindings


def ipam_config(
    subnets: Sequence[str], ip_ranges: Sequence[str], gateways: Sequence[str], aux: Sequence[str]
) -> list[dict[str, Any]]:
    """`network create`'s --subnet/--ip-range/--gateway/--aux-address grouped per subnet,
    with the docker CLI's checks and messages."""
    if len(subnets) < len(ip_ranges) or len(subnets) < len(gateways):
        raise OptError("every ip-range or gateway must have a corresponding subnet")
    nets: list[IPv4Network | IPv6Network] = []
    for subnet in subnets:
        try:
            net = ip_network(subnet, strict=False)
        except ValueError as err:
            raise OptError(f"invalid subnet {subnet}: {err}") from None
        if any(net.overlaps(other) for other in nets):
            raise OptError("multiple overlapping subnet configuration is not supported")
        nets.append(net)
    configs: list[dict[str, Any]] = [{"Subnet": s} for s in subnets]

    def matching(value: str, what: str) -> list[dict[str, Any]]:
        try:
            addr = ip_interface(value).ip
        except ValueError as err:
            raise OptError(f"invalid {what} {value}: {err}") from None
        found = [c for n, c in zip(nets, configs, strict=True) if addr in n]
        if not found:
            raise OptError(f"no matching subnet for {what} {value}")
        return found

    for key, what, values in (("IPRange", "range", ip_ranges), ("Gateway", "gateway", gateways)):
        for value in values:
            for config in matching(value, what):
                if key in config:
                    plural, rel = ("ranges", "on") if key == "IPRange" else ("gateways", "for")
                    raise OptError(
                        f"cannot configure multiple {plural} ({value}, {config[key]}) "
                        f"{rel} the same subnet ({config['Subnet']})"
                    )
                config[key] = value
    for name, value in kv_map(aux).items():
        for config in matching(value, "aux-address"):
            config.setdefault("AuxiliaryAddresses", {})[name] = value
    return configs


_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(value: str) -> float | None:
    """Seconds in a Go duration ("10m", "1h30m", "-2s"), or None if it is not one."""
    sign = -1.0 if value.startswith("-") else 1.0
    body = value.lstrip("+-")
    if not body:
        return None
    total, pos = 0.0, 0
    for m in _DURATION.finditer(body):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total if pos == len(body) else None


def timestamp(value: str, now: float | None = None) -> str:
    """Docker's GetTimestamp for --since/--until: a duration ago, an RFC 3339 time or date
    (local time unless it has a zone), or a unix timestamp passed through."""
    now = time.time() if now is None else now
    duration = go_duration(value) if value != "0" else None
    if duration is not None:
        return str(int(now - duration))
    if "-" in value[1:] or "T" in value:
        try:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise OptError(f"failed to parse value as time or duration: {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.astimezone()
        seconds = parsed.timestamp()
        return f"{int(seconds // 1)}.{parsed.microsecond * 1000:09d}"
    if not re.fullmatch(r"-?\d+(\.\d{1,9})?", value):
        raise OptError(f"failed to parse value as time or duration: {value!r}")
    return value
