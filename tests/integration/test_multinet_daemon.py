"""A container on several networks, and bad input, end to end: the real berthd in a throwaway
host namespace (daemonenv.py), driven by the berth CLI, with real traffic.

What it shows (issue 4, multiple networks and bad input): ``network connect`` adds eth1, eth2
live with their routes and the container reaches both sides; the default route stays on the
first network unless a network with a higher gateway priority comes, and moves when its network
is disconnected; /etc/hosts follows; ``disconnect`` removes the interface live. Bad input, from
the CLI as a user types it, ends with a clear error and leaves the daemon's records, the
kernel's links, berth's nft tables and the container's files as they were.
"""

# ruff: noqa: E501  (the table of bad input reads best as one case per line)

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.daemonenv import Cli, api, berthd_in
from tests.integration.netenv import PEER, PYTHON, Ns, wait_for

pytestmark = pytest.mark.root

COUNTER = re.compile(r"counter packets \d+ bytes \d+")


@pytest.fixture
def cli(host: Ns) -> Iterator[Cli]:
    with berthd_in(host) as daemon:
        daemon.start()
        cli = Cli(daemon)
        cli("network", "create", "front", "--subnet", "10.98.0.0/24")
        cli("network", "create", "back", "--subnet", "10.98.1.0/24")
        cli("network", "create", "side", "--subnet", "10.98.2.0/24")
        yield cli


def serve(cli: Cli, name: str, network: str) -> str:
    cli(
        "run", "-d", "--name", name, "--network", network, "busybox",
        PYTHON, PEER, "serve", "--port", "80", "--tag", name, "--lifetime", "300",
    )  # fmt: skip
    assert wait_for(lambda: "ready" in cli.out("logs", name), timeout=15)
    return ip_on(cli, name, network)


def ip_on(cli: Cli, name: str, network: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    return cli.out("inspect", "-f", template, name).strip()


def call(cli: Cli, name: str, host: str) -> str | None:
    result = cli(
        "exec", name, PYTHON, PEER, "call", "--host", host, "--port", "80", "--timeout", "2",
        status=None,
    )  # fmt: skip
    return result.stdout.strip() if result.returncode == 0 else None


def interfaces(cli: Cli, name: str) -> dict[str, str]:
    """ifname -> IPv4 address inside the container."""
    out = cli.out("exec", name, "ip", "-o", "-4", "addr", "show")
    found = {}
    for line in out.splitlines():
        fields = line.split()
        if fields[1] != "lo":
            found[fields[1]] = fields[3].split("/")[0]
    return found


def default_route(cli: Cli, name: str) -> str:
    return cli.out("exec", name, "ip", "route", "show", "default").strip()


def test_connect_and_disconnect_live(cli: Cli) -> None:
    front_peer = serve(cli, "fpeer", "front")
    back_peer = serve(cli, "bpeer", "back")
    cli("run", "-d", "--name", "app", "--network", "front", "busybox", "sleep", "300")
    app_front = ip_on(cli, "app", "front")
    assert interfaces(cli, "app") == {"eth0": app_front}
    assert call(cli, "app", back_peer) is None  # not on back yet

    cli("network", "connect", "back", "app")
    app_back = ip_on(cli, "app", "back")
    assert interfaces(cli, "app") == {"eth0": app_front, "eth1": app_back}
    assert call(cli, "app", front_peer) == f"fpeer {app_front}"
    assert call(cli, "app", back_peer) == f"bpeer {app_back}"  # through eth1's own route
    assert default_route(cli, "app").startswith("default via 10.98.0.1 dev eth0")
    hosts = cli.out("exec", "app", "cat", "/etc/hosts")
    assert f"{app_front}\t" in hosts and f"{app_back}\t" in hosts

    # a higher gateway priority takes the default route; it comes back when that network goes
    cli("network", "connect", "--gw-priority", "10", "side", "app")
    assert interfaces(cli, "app")["eth2"] == ip_on(cli, "app", "side")
    assert default_route(cli, "app").startswith("default via 10.98.2.1 dev eth2")
    cli("network", "disconnect", "side", "app")
    assert default_route(cli, "app").startswith("default via 10.98.0.1 dev eth0")
    assert "eth2" not in interfaces(cli, "app")

    # disconnecting the gateway's network moves the default route to the other one
    cli("network", "disconnect", "front", "app")
    assert interfaces(cli, "app") == {"eth1": app_back}
    assert default_route(cli, "app").startswith("default via 10.98.1.1 dev eth1")
    assert call(cli, "app", front_peer) is None
    assert call(cli, "app", back_peer) == f"bpeer {app_back}"
    assert f"{app_front}\t" not in cli.out("exec", "app", "cat", "/etc/hosts")
    # connecting again takes the lowest free interface name
    cli("network", "connect", "--ip", "10.98.0.77", "front", "app")
    assert interfaces(cli, "app") == {"eth0": "10.98.0.77", "eth1": app_back}
    networks = json.loads(cli.out("inspect", "-f", "{{json .NetworkSettings.Networks}}", "app"))
    assert sorted(networks) == ["back", "front"]


def snapshot(cli: Cli, host: Ns) -> list[str]:
    """What bad input must not change: containers and their networks, every host link,
    berth's nft tables (counters aside), and app's /etc files (read where berthd writes them,
    the files app sees through its bind mounts: the API and the file system are much quicker
    than the CLI, and this runs after every case)."""
    sock = cli.daemon.sock
    rows = [
        f"{c['Names']} {c['State']} {sorted(c['NetworkSettings']['Networks'])}"
        for c in api(sock, "GET", "/containers/json?all=1").body
    ]
    links = json.loads(host.ip("-j", "link", "show").stdout)
    tables = [
        COUNTER.sub("counter", line)
        for family in ("inet", "bridge")
        for line in host.run("nft", "list", "table", family, "berth").stdout.splitlines()
    ]
    app = api(sock, "GET", "/containers/app/json").body
    files = [Path(app[key]).read_text() for key in ("HostsPath", "ResolvConfPath")]
    return sorted(rows) + sorted(link["ifname"] for link in links) + tables + files


BAD = [
    # (berth arguments, words the error must contain)
    (("run", "--name", "-bad", "busybox", "true"), "Invalid container name (-bad)"),
    (("run", "--name", "a b", "busybox", "true"), "Invalid container name (a b)"),
    (("run", "--hostname", "-bad-", "busybox", "true"), "invalid hostname format: -bad-"),
    (("run", "--network", "front", "--network-alias", "bad alias", "busybox", "true"), "invalid alias name 'bad alias'"),
    (("run", "--network-alias", "web", "busybox", "true"), "network-scoped aliases are only supported for user-defined networks"),
    (("run", "--add-host", "nohost", "busybox", "true"), "bad format for add-host"),
    (("run", "--add-host", "db:10.0.0.300", "busybox", "true"), 'invalid IP address in add-host: "10.0.0.300"'),
    (("run", "--add-host", "v6:[2001:db8::1", "busybox", "true"), "invalid IP address in add-host"),
    (("run", "--add-host", "gw:host-gatewayx", "busybox", "true"), "invalid IP address in add-host"),
    (("run", "--dns", "dns.example", "busybox", "true"), "is not an IP address"),
    (("run", "--dns-search", "-bad-", "busybox", "true"), "-bad- is not a valid domain"),
    (("run", "--dns-option", "ndots:many", "busybox", "true"), "invalid number for ndots option"),
    (("run", "--link", "ghost:db", "busybox", "true"), "could not get container for ghost"),
    (("run", "--network", "front", "--ip", "10.98.1.9", "busybox", "true"), "no configured subnet contains IP address 10.98.1.9"),
    (("run", "--ip", "172.17.0.99", "busybox", "true"), "user-specified IP address is supported on user-defined networks only"),
    (("run", "--network", "auto", "--ip", "172.30.0.9", "busybox", "true"), "user specified IP address is supported only when connecting to networks with user configured subnets"),
    (("run", "--network", "front", "--ip6", "fd00:98::9", "busybox", "true"), "user specified IP address is supported only when connecting to networks with user configured subnets"),
    (("network", "connect", "--ip", "172.17.0.99", "bridge", "app"), "user-specified IP address is supported on user-defined networks only"),
    (("network", "connect", "--ip", "172.30.0.9", "auto", "app"), "user specified IP address is supported only when connecting to networks with user configured subnets"),
    (("network", "connect", "front", "app"), "endpoint with name app already exists in network front"),
    (("network", "connect", "--ip", "10.98.0.9", "back", "app"), "no configured subnet contains IP address 10.98.0.9"),
    (("network", "connect", "--alias", "web", "bridge", "app"), "network-scoped aliases are only supported for user-defined networks"),
    (("network", "connect", "--alias", "bad alias", "back", "app"), "invalid alias name 'bad alias'"),
    (("network", "connect", "--link", "a:b:c", "back", "app"), "bad format for links: a:b:c"),
    (("network", "connect", "back", "shared"), "container sharing network namespace"),
    (("network", "connect", "back", "onhost"), "container sharing network namespace"),
    (("network", "connect", "host", "app"), "connected to host network"),
    (("network", "disconnect", "back", "app"), "is not connected to network back"),
    (("network", "disconnect", "host", "onhost"), "cannot be disconnected from host network"),
]  # fmt: skip


def bad_input_world(cli: Cli) -> None:
    """Containers in each network mode, and a network whose subnet berth chose."""
    cli("network", "create", "auto")
    cli("run", "-d", "--name", "app", "--network", "front", "busybox", "sleep", "300")
    cli("run", "-d", "--name", "shared", "--network", "container:app", "busybox", "sleep", "300")
    cli("run", "-d", "--name", "onhost", "--network", "host", "busybox", "sleep", "300")


def test_bad_input_is_refused_and_changes_nothing(cli: Cli, host: Ns) -> None:
    bad_input_world(cli)
    before = snapshot(cli, host)
    for args, words in BAD:
        result = cli(*args, status=None)
        assert result.returncode != 0, f"berth {' '.join(args)} succeeded"
        assert words in result.stderr, f"berth {' '.join(args)}: {result.stderr}"
        assert snapshot(cli, host) == before, f"berth {' '.join(args)} changed something"


def create(**fields: object) -> dict[str, object]:
    return {"Image": "busybox", "Cmd": ["true"], **fields}


def endpoint(network: str, **settings: object) -> dict[str, object]:
    return {"NetworkingConfig": {"EndpointsConfig": {network: settings}}}


def ipam(**addresses: str) -> dict[str, object]:
    return {"IPAMConfig": addresses}


CREATE = "/containers/create"
BAD_REQUESTS = [
    # (method, path, body, status, words of the message)
    ("POST", f"{CREATE}?name=-bad", create(), 400, "Invalid container name (-bad)"),
    ("POST", CREATE, create(HostConfig={"NetworkMode": "front"}, **endpoint("front", Aliases=["bad alias"])), 400, "invalid alias name 'bad alias'"),
    ("POST", CREATE, create(**endpoint("bridge", Aliases=["web"])), 400, "network-scoped aliases are only supported for user-defined networks"),
    ("POST", CREATE, create(HostConfig={"ExtraHosts": ["nohost"]}), 400, "bad format for add-host"),
    ("POST", CREATE, create(HostConfig={"ExtraHosts": ["db:10.0.0.300"]}), 400, 'invalid IP address in add-host: "10.0.0.300"'),
    ("POST", CREATE, create(HostConfig={"Dns": ["dns.example"]}), 400, "is not an IP address"),
    ("POST", CREATE, create(HostConfig={"Links": ["ghost:db"]}), 400, "could not get container for ghost"),
    ("POST", CREATE, create(**endpoint("bridge", **ipam(IPv4Address="172.17.0.99"))), 400, "user-specified IP address is supported on user-defined networks only"),
    ("POST", CREATE, create(HostConfig={"NetworkMode": "auto"}, **endpoint("auto", **ipam(IPv4Address="172.30.0.9"))), 400, "user configured subnets"),
    ("POST", CREATE, create(HostConfig={"NetworkMode": "front"}, **endpoint("front", **ipam(IPv6Address="fd00:98::9"))), 400, "user configured subnets"),
    ("POST", "/networks/front/connect", {"Container": "app"}, 403, "endpoint with name app already exists in network front"),
    ("POST", "/networks/back/connect", {"Container": "app", "EndpointConfig": ipam(IPv4Address="10.98.0.9")}, 400, "no configured subnet contains IP address 10.98.0.9"),
    ("POST", "/networks/auto/connect", {"Container": "app", "EndpointConfig": ipam(IPv4Address="172.30.0.9")}, 400, "user configured subnets"),
    ("POST", "/networks/bridge/connect", {"Container": "app", "EndpointConfig": {"Aliases": ["web"]}}, 400, "network-scoped aliases are only supported for user-defined networks"),
    ("POST", "/networks/back/connect", {"Container": "app", "EndpointConfig": {"Aliases": ["bad alias"]}}, 400, "invalid alias name 'bad alias'"),
    ("POST", "/networks/back/connect", {"Container": "shared"}, 400, "container sharing network namespace"),
    ("POST", "/networks/back/connect", {"Container": "onhost"}, 400, "container sharing network namespace"),
    ("POST", "/networks/host/connect", {"Container": "app"}, 400, "connected to host network"),
    ("POST", "/networks/back/connect", {"Container": "ghost"}, 404, "No such container: ghost"),
    ("POST", "/networks/nowhere/connect", {"Container": "app"}, 404, "network nowhere not found"),
    ("POST", "/networks/back/disconnect", {"Container": "app"}, 403, "is not connected to network back"),
    ("POST", "/networks/host/disconnect", {"Container": "onhost"}, 400, "cannot be disconnected from host network"),
]  # fmt: skip


def test_bad_requests_are_4xx_with_dockers_message_and_change_nothing(cli: Cli, host: Ns) -> None:
    """The same refusals through the Engine API (what docker-py and compose send): each a 4xx
    whose message says what is wrong, before anything changes."""
    bad_input_world(cli)
    before = snapshot(cli, host)
    for method, path, body, status, words in BAD_REQUESTS:
        reply = api(cli.daemon.sock, method, path, body)
        assert (reply.status, words in reply.body["message"]) == (status, True), (path, reply)
        assert snapshot(cli, host) == before, f"{method} {path} {body} changed something"
