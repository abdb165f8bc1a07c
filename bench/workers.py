"""Workers the suite starts inside a lab namespace (``nsenter --net=<ns> -- python -m
bench.workers KIND ...``): they do the attach work where a runtime would, time it themselves and
answer one JSON line per request read from stdin ("attach", "detach", "quit").

- ``floor``: the same kernel work as an attach, in-process with raw pyroute2 (veth with its peer
  created directly in the sandbox namespace as eth0, host end on the bridge and up; in the
  sandbox: address, up, default route). Detach deletes the veth. Nothing else: no store, no
  firewall, no validation. The sandbox-side netlink socket is opened per attach (a runtime
  cannot keep one for a container that did not exist yet).
- ``cni``: a runtime driving a CNI chain as libcni does: each plugin exec'd in order with the
  previous result (ADD), in reverse order with the cached result (DEL), from this namespace.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

CLONE_NEWNET = 0x40000000
CNI_PATH = "/usr/lib/cni"


class Floor:
    def __init__(self, sandbox: str, bridge: str, subnet_prefix: str) -> None:
        from pyroute2 import IPRoute  # noqa: PLC0415 - only this worker needs it

        self.IPRoute = IPRoute
        self.ipr = IPRoute()
        self.sandbox_fd = os.open(sandbox, os.O_RDONLY)
        self.self_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.gateway, self.address = f"{subnet_prefix}.1", f"{subnet_prefix}.2"
        self.ipr.link("add", ifname=bridge, kind="bridge")
        self.bridge = self.ipr.link_lookup(ifname=bridge)[0]
        self.ipr.addr("add", index=self.bridge, address=self.gateway, prefixlen=24)
        self.ipr.link("set", index=self.bridge, state="up")
        self.host_index = 0

    def _sandbox_socket(self) -> Any:
        if self.libc.setns(self.sandbox_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            return self.IPRoute()
        finally:
            if self.libc.setns(self.self_fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")

    def attach(self) -> None:
        peer = {"ifname": "eth0", "net_ns_fd": self.sandbox_fd}
        self.ipr.link("add", ifname="bbfv0", kind="veth", peer=peer)
        self.host_index = self.ipr.link_lookup(ifname="bbfv0")[0]
        self.ipr.link("set", index=self.host_index, master=self.bridge, state="up")
        sandbox = self._sandbox_socket()
        try:
            index = sandbox.link_lookup(ifname="eth0")[0]
            sandbox.addr("add", index=index, address=self.address, prefixlen=24)
            sandbox.link("set", index=index, state="up")
            sandbox.route("add", dst="0.0.0.0/0", gateway=self.gateway)
        finally:
            sandbox.close()

    def detach(self) -> None:
        self.ipr.link("del", index=self.host_index)

    def scale(self, n: int, name_format: str) -> dict[str, list[float]]:
        """N sandboxes (``ip netns add``, untimed) attached one after another to a second bridge
        (the kernel's own growth with N), then detached; ms per attach and per detach."""
        bridge = "bbfls0"
        self.ipr.link("add", ifname=bridge, kind="bridge")
        br = self.ipr.link_lookup(ifname=bridge)[0]
        self.ipr.addr("add", index=br, address="10.107.0.1", prefixlen=16)
        self.ipr.link("set", index=br, state="up")
        attach, detach, hosts = [], [], []
        for i in range(n):
            path = f"/run/netns/{name_format.format(i)}"
            subprocess.run(["ip", "netns", "add", name_format.format(i)], check=True)
            fd = os.open(path, os.O_RDONLY)
            start = time.perf_counter()
            self.ipr.link("add", ifname=f"bbf{i}", kind="veth",
                          peer={"ifname": "eth0", "net_ns_fd": fd})  # fmt: skip
            host = self.ipr.link_lookup(ifname=f"bbf{i}")[0]
            self.ipr.link("set", index=host, master=br, state="up")
            self.sandbox_fd, saved = fd, self.sandbox_fd
            sandbox = self._sandbox_socket()
            self.sandbox_fd = saved
            try:
                index = sandbox.link_lookup(ifname="eth0")[0]
                address = f"10.107.{(i + 2) // 256}.{(i + 2) % 256}"
                sandbox.addr("add", index=index, address=address, prefixlen=16)
                sandbox.link("set", index=index, state="up")
                sandbox.route("add", dst="0.0.0.0/0", gateway="10.107.0.1")
            finally:
                sandbox.close()
            attach.append((time.perf_counter() - start) * 1e3)
            hosts.append(host)
            os.close(fd)
        for host in hosts:
            start = time.perf_counter()
            self.ipr.link("del", index=host)
            detach.append((time.perf_counter() - start) * 1e3)
        for i in range(n):
            subprocess.run(["ip", "netns", "del", name_format.format(i)], check=False)
        self.ipr.link("del", index=br)
        return {"attach": attach, "detach": detach}


class CniChain:
    def __init__(self, conflist: str, netns: str, container: str) -> None:
        with open(conflist) as f:
            self.conf = json.load(f)
        self.netns, self.container = netns, container
        self.result: dict[str, Any] | None = None
        self.ports = [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]

    def _exec(self, command: str, plugin: dict[str, Any], prev: dict[str, Any] | None) -> Any:
        conf = {**plugin, "cniVersion": self.conf["cniVersion"], "name": self.conf["name"]}
        if prev is not None:
            conf["prevResult"] = prev
        if plugin.get("capabilities", {}).get("portMappings"):
            conf["runtimeConfig"] = {"portMappings": self.ports}
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": self.container,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": CNI_PATH,
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        proc = subprocess.run(
            [f"{CNI_PATH}/{plugin['type']}"],
            input=json.dumps(conf).encode(),
            env=env,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{plugin['type']} {command}: {proc.stdout!r} {proc.stderr!r}")
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def attach(self) -> None:
        result = None
        for plugin in self.conf["plugins"]:
            result = self._exec("ADD", plugin, result)
        self.result = result

    def detach(self) -> None:
        for plugin in reversed(self.conf["plugins"]):
            self._exec("DEL", plugin, self.result)
        self.result = None


def serve(target: Floor | CniChain) -> None:
    ops: dict[str, Callable[[], None]] = {"attach": target.attach, "detach": target.detach}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        op = line.strip()
        if op == "quit":
            break
        if op.startswith("scale ") and isinstance(target, Floor):
            _, count, name_format = op.split(" ", 2)
            print(json.dumps(target.scale(int(count), name_format)), flush=True)
            continue
        start = time.perf_counter()
        try:
            ops[op]()
            reply: dict[str, Any] = {"ms": (time.perf_counter() - start) * 1e3}
        except Exception as err:
            reply = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(reply), flush=True)


def main() -> None:
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "floor":
        serve(Floor(*args))
    elif kind == "cni":
        serve(CniChain(*args))
    else:
        raise SystemExit(f"unknown worker {kind}")


if __name__ == "__main__":
    main()
