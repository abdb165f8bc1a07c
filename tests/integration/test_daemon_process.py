"""The real ``berthd`` process, run inside a throwaway host namespace with its own data root,
exec root, pid file and socket: it serves, claims its resources, refuses a second instance,
stops cleanly (leaving its containers running), reloads, and its networking flags take effect
in the kernel. The daemon and its helpers are in daemonenv.py.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from typing import Any

from tests.integration.daemonenv import (  # noqa: F401
    Berthd,
    alive,
    api,
    berthd_fixture,
    link_json,
    network_names,
    nft_tables,
    pings,
)
from tests.integration.netenv import Ns, wait_for

# --- tests ------------------------------------------------------------------------------------


def test_serves_on_its_socket_with_predefined_networks(berthd: Berthd, host: Ns) -> None:
    seconds = berthd.start()
    reply = api(berthd.sock, "HEAD", "/_ping")
    assert reply.status == 200 and reply.headers.get("Api-Version")
    mode = os.stat(berthd.sock)
    assert stat.S_ISSOCK(mode.st_mode) and stat.S_IMODE(mode.st_mode) == 0o660
    assert mode.st_uid == 0
    assert berthd.pidfile.read_text().strip() == str(berthd.proc.pid)  # type: ignore[union-attr]
    assert network_names(berthd.sock) >= {"bridge", "host", "none"}
    bridge = link_json(host, "berth0")
    assert bridge is not None and bridge["ifalias"].startswith("berth:")
    assert "table inet berth" in nft_tables(host)
    lines = berthd.log().splitlines()
    serving = [line for line in lines if "berthd is serving" in line]
    assert serving and serving[0].startswith("time=") and " level=info " in serving[0]
    time.sleep(1.0)  # idle
    print(f"\nberthd start-up to first ping: {seconds * 1000:.0f} ms; idle RSS "
          f"{berthd.rss_kb() / 1024:.1f} MB")  # fmt: skip
    assert berthd.stop() == 0


def test_a_second_berthd_on_the_same_socket_or_data_root_refuses(berthd: Berthd, host: Ns) -> None:
    berthd.start()
    other = berthd.base / "other"
    same_socket, log1 = berthd.spawn(
        *berthd.args(data=other / "data", sock=berthd.sock)[:-2],
        "--pidfile", str(other / "pid"), "--exec-root", str(other / "run"),
    )  # fmt: skip
    assert same_socket.wait(30) == 1
    assert f"another berthd is listening on {berthd.sock}" in log1.read_text()
    same_root, log2 = berthd.spawn(*berthd.args(sock=str(other / "b.sock")))
    assert same_root.wait(30) == 1
    text = log2.read_text()
    assert f"is using the data root {berthd.data}" in text
    assert f"pid {berthd.proc.pid}" in text  # type: ignore[union-attr]
    assert not os.path.exists(other / "b.sock")
    assert pings(berthd.sock)  # the first one is untouched
    assert berthd.pidfile.read_text().strip() == str(berthd.proc.pid)  # type: ignore[union-attr]
    assert berthd.stop() == 0


def run_container(sock: str, name: str, network: str, *cmd: str) -> dict[str, Any]:
    """Create and start a container through the API; its inspect JSON."""
    body = {"Image": "busybox", "Cmd": list(cmd), "HostConfig": {"NetworkMode": network}}
    created = api(sock, "POST", f"/containers/create?name={name}", body)
    assert created.status == 201, created.body
    started = api(sock, "POST", f"/containers/{name}/start")
    assert started.status == 204, started.body
    inspect: dict[str, Any] = api(sock, "GET", f"/containers/{name}/json").body
    return inspect


def test_sigterm_exits_0_removes_socket_and_pidfile_and_leaves_containers_and_networking(
    berthd: Berthd, host: Ns
) -> None:
    berthd.start()
    created = api(berthd.sock, "POST", "/networks/create", {"Name": "front"})
    assert created.status == 201, created.body
    bridge = f"br-{created.body['Id'][:12]}"
    pid = run_container(berthd.sock, "sleeper", "front", "sleep", "300")["State"]["Pid"]
    assert pid > 0 and alive(pid)
    assert berthd.stop(signal.SIGTERM) == 0
    assert not os.path.exists(berthd.sock) and not berthd.pidfile.exists()
    assert link_json(host, bridge) is not None and link_json(host, "berth0") is not None
    assert "table inet berth" in nft_tables(host)
    assert alive(pid)  # the runtime let go of its container; it did not stop it
    log = berthd.log()
    assert "containers and their networking stay" in log and "berthd stopped" in log
    berthd.start()  # a clean restart repairs nothing and takes the container back
    assert "front" in network_names(berthd.sock)
    log = berthd.log()
    assert "repairs=0 errors=0" in log
    assert "container sleeper: re-attached to its running shim" in log
    state = api(berthd.sock, "GET", "/containers/sleeper/json").body["State"]
    assert (state["Running"], state["Pid"]) == (True, pid)
    assert api(berthd.sock, "DELETE", "/containers/sleeper?force=1").status == 204
    assert wait_for(lambda: not alive(pid), 10)
    assert berthd.stop(signal.SIGINT) == 0


def test_sighup_reloads_what_can_change_live(berthd: Berthd, host: Ns) -> None:
    config = berthd.base / "daemon.json"
    config.write_text(json.dumps({"log-level": "info"}))
    berthd.start()
    api(berthd.sock, "GET", "/networks")
    assert "logger=aiohttp.access" not in berthd.log()  # at info, requests are not logged
    config.write_text(json.dumps({"log-level": "debug", "labels": ["zone=a"], "mtu": 1400}))
    berthd.send(signal.SIGHUP)
    assert wait_for(lambda: "configuration reloaded" in berthd.log(), 10)
    line = next(x for x in berthd.log().splitlines() if "configuration reloaded" in x)
    assert "applied=labels,log-level" in line and "needs_restart=mtu" in line
    assert "zone=a" in api(berthd.sock, "GET", "/info").body["Labels"]
    api(berthd.sock, "GET", "/networks")  # at debug, requests are logged
    assert wait_for(lambda: "logger=aiohttp.access" in berthd.log(), 5)
    config.write_text("{not json")
    berthd.send(signal.SIGHUP)
    assert wait_for(lambda: "configuration not reloaded" in berthd.log(), 10)
    assert pings(berthd.sock)
    assert berthd.stop() == 0


def test_bridge_none_gives_no_default_network(berthd: Berthd, host: Ns) -> None:
    berthd.start("-b", "none")
    names = network_names(berthd.sock)
    assert "bridge" not in names and {"host", "none"} <= names
    assert link_json(host, "berth0") is None
    assert berthd.stop() == 0


def test_networking_flags_take_effect_in_the_kernel(berthd: Berthd, host: Ns) -> None:
    berthd.start("--bip", "10.123.0.1/24", "--fixed-cidr", "10.123.0.128/25", "--mtu", "1400",
                 "--icc=false", "--ip-masq=false")  # fmt: skip
    bridge = link_json(host, "berth0")
    assert bridge is not None and bridge["mtu"] == 1400
    assert [(a["local"], a["prefixlen"]) for a in bridge["addr_info"] if a["family"] == "inet"] == [
        ("10.123.0.1", 24)
    ]
    inspect = api(berthd.sock, "GET", "/networks/bridge").body
    assert inspect["IPAM"]["Config"][0]["IPRange"] == "10.123.0.128/25"
    assert inspect["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    masq = host.run("nft", "list", "set", "inet", "berth", "masq4").stdout
    assert "10.123.0.0/24" not in masq  # --ip-masq=false
    intra = host.run("nft", "list", "set", "inet", "berth", "intra").stdout
    assert '"berth0" . "berth0"' not in intra  # --icc=false
    assert host.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert berthd.stop() == 0


def test_firewall_and_forwarding_off(berthd: Berthd, host: Ns) -> None:
    berthd.start("--iptables=false", "--ip-forward=false")
    assert link_json(host, "berth0") is not None
    assert "inet berth" not in nft_tables(host)
    assert host.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "0"
    assert berthd.stop() == 0


def test_a_bad_configuration_is_one_clear_line_and_exit_1(berthd: Berthd) -> None:
    (berthd.base / "daemon.json").write_text(json.dumps({"mtu": 1400, "bogus": 1}))
    proc, log = berthd.spawn(*berthd.args("--mtu", "1500"))
    assert proc.wait(30) == 1
    assert log.read_text().strip().splitlines() == [
        f"berthd: unable to configure berthd with file {berthd.base / 'daemon.json'}: the "
        "following directives don't match any configuration option: bogus"
    ]
    assert not os.path.exists(berthd.sock)


def test_dash_b_uses_an_existing_bridge_and_never_takes_it_over(berthd: Berthd, host: Ns) -> None:
    proc, log = berthd.spawn(*berthd.args("-b", "brmissing"))
    assert proc.wait(30) == 1
    assert "bridge brmissing (-b) does not exist" in log.read_text()
    host.ip("link", "add", "bruser", "type", "bridge")
    host.ip("link", "set", "bruser", "alias", "the admin's")
    host.ip("addr", "add", "10.77.0.1/24", "dev", "bruser")
    berthd.start("-b", "bruser")
    ipam = api(berthd.sock, "GET", "/networks/bridge").body["IPAM"]["Config"][0]
    assert (ipam["Subnet"], ipam["Gateway"]) == ("10.77.0.0/24", "10.77.0.1")
    assert link_json(host, "berth0") is None
    assert berthd.stop() == 0
    berthd.start()  # without -b: the default network moves to berth0, bruser stays as it was
    assert link_json(host, "berth0") is not None
    user = link_json(host, "bruser")
    assert user is not None and user["ifalias"] == "the admin's"
    assert [a["local"] for a in user["addr_info"] if a["family"] == "inet"] == ["10.77.0.1"]
    assert berthd.stop() == 0
