"""berth's main job, end to end, through the Python API.

Two sandboxes on a user-defined bridge network talk to each other; one of them publishes a port
that is reached from the host's 127.0.0.1 and from "another machine" on the host's link.

By default the demo's "host" is a throwaway network namespace (the way berth's tests run), so
nothing touches this machine's real network; everything it makes is removed at the end.
``--real-host`` runs it on this machine's own network namespace instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from ipaddress import ip_network

from berth import (
    Endpoint,
    EndpointSpec,
    IpamConfig,
    IpamPoolConfig,
    NetworkController,
    NetworkSpec,
    SandboxSpec,
    open_controller,
)
from berth.kernel.netns import LinuxNetns, in_netns
from berth.model.ports import parse_port_spec

SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(8); print("ready", flush=True)
for _ in range(int(sys.argv[1])):
    c, addr = s.accept()
    c.sendall(f"hello from the web sandbox, you are {addr[0]}\\n".encode())
    c.close()
"""


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", flush=True)


def in_ns(path: str, *cmd: str) -> str:
    """Run a command inside the network namespace at ``path``; its stdout."""
    result = subprocess.run(
        ["nsenter", f"--net={path}", "--", *cmd],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def fetch(path: str | None, host: str, port: int) -> str:
    """Connect from the namespace at ``path`` (None: this process's own)."""
    with ExitStack() as stack:
        if path:
            stack.enter_context(in_netns(path))
        sock = socket.create_connection((host, port), timeout=3)
    with sock:
        return sock.recv(200).decode().strip()


def from_another_machine(netns: LinuxNetns, host_ns: str, outside_ns: str) -> str:
    """Link a second namespace to the host (198.51.100.0/24) and connect from it."""
    netns.create(outside_ns)
    subprocess.run(
        [
            "nsenter",
            f"--net={host_ns}",
            "--",
            "sh",
            "-c",
            f"ip link add vdemo type veth peer name eth0 netns {outside_ns}"
            " && ip addr add 198.51.100.1/24 dev vdemo && ip link set vdemo up",
        ],
        check=True,
    )
    in_ns(
        outside_ns,
        "sh",
        "-c",
        "ip addr add 198.51.100.2/24 dev eth0 && ip link set eth0 up",
    )
    time.sleep(0.2)
    return fetch(outside_ns, "198.51.100.1", 8080)


def show_endpoints(*endpoints: Endpoint) -> None:
    for ep in endpoints:
        published = f", published {', '.join(map(str, ep.published))}" if ep.published else ""
        print(f"    {ep.name}: {ep.ifname} {ep.ipv4} mac {ep.mac}{published}")


def run(
    ctl: NetworkController,
    netns: LinuxNetns,
    host_ns: str | None,
    outside_ns: str,
    procs: list[subprocess.Popen[str]],
) -> None:
    say("create network 'front' (bridge, 10.77.0.0/24)")
    front = ctl.create_network(
        NetworkSpec(
            name="front",
            ipam=IpamConfig(config=(IpamPoolConfig(subnet=ip_network("10.77.0.0/24")),)),
        )
    )
    print(f"    id {front.short_id}, bridge {front.driver_state['bridge']}")
    say("sandboxes 'web' (publishing 8080->80) and 'client', connected to 'front'")
    for name in ("web", "client"):
        ctl.create_sandbox(SandboxSpec(name=name))
    web = ctl.connect("front", "web", EndpointSpec(ports=parse_port_spec("8080:80")))
    client = ctl.connect("front", "client")
    show_endpoints(web, client)
    web_ip = str(web.ipv4.ip) if web.ipv4 else ""
    web_ns, client_ns = ctl.sandbox("web").netns_path, ctl.sandbox("client").netns_path
    say("client pings web")
    print("    " + in_ns(client_ns, "ping", "-c", "2", "-W", "2", "-q", web_ip).splitlines()[-2])
    server = subprocess.Popen(
        ["nsenter", f"--net={web_ns}", "--", sys.executable, "-c", SERVER, "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    procs.append(server)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    say("client connects to web:80 directly")
    print("    " + fetch(client_ns, web_ip, 80))
    say("the host connects to the published port 127.0.0.1:8080 (kernel DNAT, no proxy)")
    print("    " + fetch(host_ns, "127.0.0.1", 8080))
    if host_ns:
        say("another machine (198.51.100.2) connects to the host's 198.51.100.1:8080")
        print("    " + from_another_machine(netns, host_ns, outside_ns))
    say("nftables: berth's table holds the mapping as one map element")
    table = in_ns(host_ns or "/proc/self/ns/net", "nft", "list", "map", "inet", "berth", "pub4any")
    print("    " + next(line.strip() for line in table.splitlines() if "8080" in line))
    say("tear down: sandboxes, then the network")
    for name in ("web", "client"):
        ctl.delete_sandbox(name)
    ctl.delete_network("front")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real-host",
        action="store_true",
        help="use this machine's own network namespace as berth's host",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("the demo needs root (it creates namespaces, bridges and nftables rules)")
        return 1
    work = tempfile.mkdtemp(prefix="berth-demo-")
    netns = LinuxNetns()
    host_ns = None if args.real_host else os.path.join(work, "host-ns")
    outside_ns = os.path.join(work, "outside-ns")
    procs: list[subprocess.Popen[str]] = []
    try:
        if host_ns:
            say(f"a throwaway namespace plays the host: {host_ns}")
            netns.create(host_ns)
        with open_controller(
            state_dir=f"{work}/state", exec_root=f"{work}/run", host_ns=host_ns, predefined=False
        ) as ctl:
            run(ctl, netns, host_ns, outside_ns, procs)
        say("done: every link, namespace, rule and row berth made is gone")
        return 0
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        run_netns = f"{work}/run/netns"
        leftovers = netns.list(run_netns) if os.path.isdir(run_netns) else []
        for path in [outside_ns, *([host_ns] if host_ns else []), *leftovers]:
            if netns.exists(path):
                netns.remove(path)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
