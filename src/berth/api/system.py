"""System routes: /_ping (how the docker CLI learns the API version), /version (what docker-py
negotiates with) and /info (its network-relevant part)."""

from __future__ import annotations

import functools
import os
import platform
import time
from typing import Any

from aiohttp import web

from berth.api.base import Route, ctx_of, reply
from berth.api.context import MAX_API_VERSION, MIN_API_VERSION
from berth.api.timefmt import rfc3339nano_ns

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}
NETWORK_PLUGINS = ["bridge", "host", "null"]


@functools.cache
def _host_facts() -> dict[str, Any]:
    """Facts about the machine that do not change while berthd runs."""
    pretty = "Linux"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "PRETTY_NAME":
                    pretty = value.strip('"')
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    machine = platform.machine()
    return {
        "os": pretty,
        "mem": mem,
        "kernel": platform.release(),
        "machine": machine,
        "arch": _GO_ARCH.get(machine, machine),
        "ncpu": os.cpu_count() or 1,
    }


async def ping(request: web.Request) -> web.Response:
    """Docker's pingHandler: "OK" for GET, an empty text/plain body for HEAD."""
    headers = {
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
        "Docker-Experimental": "false",
        "Swarm": "inactive",
    }
    if request.method == "HEAD":
        headers["Content-Length"] = "0"
        return web.Response(headers=headers, content_type="text/plain", charset="utf-8")
    return web.Response(body=b"OK", headers=headers, content_type="text/plain", charset="utf-8")


async def version(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    facts = _host_facts()
    details = {
        "ApiVersion": MAX_API_VERSION,
        "Arch": facts["arch"],
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": "",
        "GoVersion": f"python{platform.python_version()}",
        "KernelVersion": facts["kernel"],
        "MinAPIVersion": MIN_API_VERSION,
        "Os": "linux",
    }
    return reply(
        {
            "Platform": {"Name": f"berth {ctx.info.version}"},
            "Components": [{"Name": "Engine", "Version": ctx.info.version, "Details": details}],
            "Version": ctx.info.version,
            "ApiVersion": MAX_API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": details["GoVersion"],
            "Os": "linux",
            "Arch": facts["arch"],
            "KernelVersion": facts["kernel"],
            "BuildTime": "",
        }
    )


async def info(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    facts = _host_facts()
    containers = ctx.containers.list(all=True)
    running = sum(1 for c in containers if c.state.running)
    return reply(
        {
            "ID": "",
            "Name": ctx.info.name,
            "ServerVersion": ctx.info.version,
            "OperatingSystem": facts["os"],
            "OSType": "linux",
            "OSVersion": "",
            "KernelVersion": facts["kernel"],
            "Architecture": facts["machine"],
            "NCPU": facts["ncpu"],
            "MemTotal": facts["mem"],
            "Containers": len(containers),
            "ContainersRunning": running,
            "ContainersPaused": 0,
            "ContainersStopped": len(containers) - running,
            "Images": 0,
            "Driver": "berth",
            "DriverStatus": [
                ["Exec root", ctx.info.exec_root],
                ["Firewall backend", ctx.info.firewall_backend],
                *_dns_status(ctx.extra.get("dns")),
            ],
            "DockerRootDir": ctx.info.data_root,
            "Plugins": {
                "Volume": [],
                "Network": NETWORK_PLUGINS,
                "Authorization": None,
                "Log": [],
            },
            "DefaultAddressPools": list(ctx.info.default_address_pools),
            "Labels": list(ctx.info.labels),
            "IPv4Forwarding": True,
            "BridgeNfIptables": False,
            "BridgeNfIp6tables": False,
            "Debug": False,
            "SystemTime": rfc3339nano_ns(time.time_ns()),
            "LoggingDriver": "berth",
            "CgroupDriver": "none",
            "DefaultRuntime": "berth",
            "Runtimes": {},
            "LiveRestoreEnabled": True,  # containers keep running across berthd restarts
            "ExperimentalBuild": False,
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "SecurityOptions": [],
            "Warnings": [],
        }
    )


# the embedded DNS server's counters (berth.dns.server.DnsServer.snapshot), as /info shows them
DNS_COUNTERS = (
    ("sandboxes", "Embedded DNS sandboxes"),
    ("queries", "Embedded DNS queries"),
    ("local", "Embedded DNS answered locally"),
    ("cache_hits", "Embedded DNS cache hits"),
    ("forwarded", "Embedded DNS forwarded"),
    ("no_answer", "Embedded DNS SERVFAIL, no upstream answered"),
    ("no_upstream", "Embedded DNS SERVFAIL, no upstream configured"),
    ("refused", "Embedded DNS refused, too many in flight"),
)


def _dns_status(dns: Any) -> list[list[str]]:
    """DriverStatus rows (``docker info`` prints them as they are) with the counters, so that
    SERVFAILs for want of an upstream can be seen without reading the log."""
    if dns is None:
        return []
    counts = dns.snapshot()
    return [[label, str(counts.get(key, 0))] for key, label in DNS_COUNTERS]


ROUTES = [
    Route("GET", "/_ping", ping),
    Route("HEAD", "/_ping", ping),
    Route("GET", "/version", version),
    Route("GET", "/info", info),
]
