"""Legacy links end to end: the real berthd started with ``--icc=false`` in a throwaway host
namespace (daemonenv.py), driven by the berth CLI, with real traffic between containers on the
default bridge.

What it shows (issue 4, links): ``--link db:database`` gives the linking container Docker's
/etc/hosts line and environment variables; with ICC off the link opens exactly the linked
container's exposed port, in the direction of the link, both with br_netfilter showing bridged
traffic to the inet hooks (net.bridge.bridge-nf-call-iptables=1 in the host namespace, per
namespace) and without (=0); removing the linked container closes it again, even for a new
container that gets the same address; a restarted child is found at its new address; the
openings survive a restart of berthd; links to missing or stopped containers are refused with
Docker's messages and change nothing.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator

import pytest

from tests.integration.daemonenv import Cli, berthd_in
from tests.integration.netenv import PEER, PYTHON, Ns, wait_for

pytestmark = pytest.mark.root


def start_daemon(host: Ns, bridge_nf: str) -> Iterator[Cli]:
    host.run("sysctl", "-qw", f"net.bridge.bridge-nf-call-iptables={bridge_nf}")
    with berthd_in(host) as daemon:
        daemon.start("--icc=false")
        yield Cli(daemon)


@pytest.fixture(params=["1", "0"], ids=["br_netfilter", "bridge_only"])
def both(request: pytest.FixtureRequest, host: Ns) -> Iterator[Cli]:
    """berthd with ICC off, in either br_netfilter mode of the host namespace."""
    yield from start_daemon(host, request.param)


@pytest.fixture
def cli(host: Ns) -> Iterator[Cli]:
    yield from start_daemon(host, "1")


def serve(cli: Cli, name: str, *ports: int, args: tuple[str, ...] = ()) -> str:
    """``run -d`` a container serving peer.py on ``ports`` (tag <name>:<port>); its address."""
    servers = " & ".join(
        f"{PYTHON} {PEER} serve --port {p} --tag {name}:{p} --lifetime 300" for p in ports
    )
    cli("run", "-d", "--name", name, *args, "busybox", "sh", "-c", f"{servers} & wait")
    ready = lambda: cli.out("logs", name).count("ready") == len(ports)  # noqa: E731
    assert wait_for(ready, timeout=15), cli.out("logs", name)
    return address(cli, name)


def address(cli: Cli, name: str) -> str:
    template = '{{(index .NetworkSettings.Networks "bridge").IPAddress}}'
    return cli.out("inspect", "-f", template, name).strip()


def call(cli: Cli, name: str, host: str, port: int, timeout: float = 1.0) -> str | None:
    """Connect from container ``name``; the answer, or None."""
    result = cli(
        "exec", name, PYTHON, PEER, "call", "--host", host, "--port", str(port),
        "--timeout", str(timeout), status=None,
    )  # fmt: skip
    return result.stdout.strip() if result.returncode == 0 else None


def link_elements(host: Ns) -> list[str]:
    """The link tuples in both of berth's tables."""
    found = []
    for family in ("inet", "bridge"):
        listing = host.run("nft", "-j", "list", "set", family, "berth", "links4").stdout
        for item in json.loads(listing)["nftables"]:
            for element in item.get("set", {}).get("elem", []):
                found.append(f"{family} " + " . ".join(str(v) for v in element["concat"]))
    return sorted(found)


def test_link_opens_exactly_the_linked_port(both: Cli, host: Ns) -> None:
    cli = both
    db = serve(cli, "db", 80, 81, args=("--expose", "80", "-e", "SECRET=s3", "-e", "HOME=/h"))
    web = serve(cli, "web", 80, args=("--link", "db:database"))
    other = serve(cli, "other", 80)
    # Docker's /etc/hosts line and variables
    db_id = cli.out("inspect", "-f", "{{.Id}}", "db").strip()
    hosts = cli.out("exec", "web", "cat", "/etc/hosts")
    assert hosts.splitlines()[-1] == f"{db}\tdatabase {db_id[:12]} db"
    env = set(cli.out("exec", "web", "env").splitlines())
    assert {
        f"DATABASE_PORT=tcp://{db}:80",
        f"DATABASE_PORT_80_TCP=tcp://{db}:80",
        f"DATABASE_PORT_80_TCP_ADDR={db}",
        "DATABASE_PORT_80_TCP_PORT=80",
        "DATABASE_PORT_80_TCP_PROTO=tcp",
        "DATABASE_NAME=/web/database",
        "DATABASE_ENV_SECRET=s3",
    } <= env
    assert not any(v.startswith("DATABASE_ENV_HOME=") for v in env)
    # the linked port only, in the link's direction only
    assert call(cli, "web", db, 80) == f"db:80 {web}"
    assert call(cli, "web", "database", 80) == f"db:80 {web}"  # by its /etc/hosts name
    assert call(cli, "web", db, 81) is None
    assert call(cli, "db", web, 80) is None
    assert call(cli, "other", db, 80) is None
    assert call(cli, "web", other, 80) is None
    assert link_elements(host) == [
        f"bridge {web} . {db} . tcp . 80",
        f"inet {web} . {db} . tcp . 80",
    ]
    # removing the linked container closes the link, also for the next owner of its address
    cli("rm", "-f", "db")
    assert link_elements(host) == []
    assert serve(cli, "db2", 80) == db
    assert call(cli, "web", db, 80) is None


def test_a_restarted_child_is_found_at_its_new_address(cli: Cli) -> None:
    db = serve(cli, "db", 80, args=("--expose", "80"))
    web = serve(cli, "web", 80, args=("--link", "db"))
    cli("stop", "-t", "0", "db")
    filler = serve(cli, "filler", 80)  # takes the address db had
    assert filler == db
    cli("start", "db")
    assert wait_for(lambda: cli.out("logs", "db").count("ready") == 2, timeout=15)
    new = address(cli, "db")
    assert new != db
    assert cli.out("exec", "web", "cat", "/etc/hosts").splitlines()[-1].startswith(f"{new}\tdb ")
    assert call(cli, "web", new, 80) == f"db:80 {web}"
    assert call(cli, "web", filler, 80) is None


def test_openings_survive_a_restart_of_berthd(cli: Cli, host: Ns) -> None:
    db = serve(cli, "db", 80, args=("--expose", "80"))
    web = serve(cli, "web", 80, args=("--link", "db:database"))
    opened = link_elements(host)
    assert len(opened) == 2
    assert cli.daemon.stop(signal.SIGTERM) == 0
    cli.daemon.start()
    assert link_elements(host) == opened
    assert call(cli, "web", db, 80) == f"db:80 {web}"
    ports = host.run("nft", "list", "set", "bridge", "berth", "noicc_ports").stdout
    assert len(re.findall(r'"vb[0-9a-f]{12}"', ports)) == 2


def test_bad_links_are_refused_and_change_nothing(cli: Cli, host: Ns) -> None:
    cli("create", "--name", "sleeper", "busybox", "sleep", "60")
    before = host.ip("-o", "link", "show").stdout, link_elements(host)
    result = cli("run", "-d", "--link", "ghost:db", "busybox", "true", status=None)
    assert result.returncode != 0
    assert "could not get container for ghost: No such container: ghost" in result.stderr
    result = cli(
        "run", "-d", "--name", "web", "--link", "sleeper:db", "busybox", "true", status=None
    )
    assert result.returncode != 0
    assert "Cannot link to a non running container: /sleeper AS /web/db" in result.stderr
    assert cli.out("inspect", "-f", "{{.State.Status}}", "web").strip() == "created"
    result = cli("run", "-d", "--link", "a:b:c", "busybox", "true", status=None)
    assert result.returncode != 0 and "bad format for links: a:b:c" in result.stderr
    # on a user-defined network a link is an alias for the embedded DNS: a missing target is fine
    cli("network", "create", "front", "--subnet", "10.97.0.0/24")
    cli("create", "--name", "u1", "--network", "front", "--link", "ghost:g", "busybox", "true")
    assert cli.out("ps", "-a", "--format", "{{.Names}}").split() == ["u1", "web", "sleeper"]
    cli("rm", "u1")
    cli("network", "rm", "front")
    assert (host.ip("-o", "link", "show").stdout, link_elements(host)) == before
