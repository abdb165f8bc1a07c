"""The embedded DNS server end to end: the real berthd in a throwaway host namespace, driven by
the berth CLI, queried from inside containers (their libc reads /etc/resolv.conf, which points
at 127.0.0.11; ``dnsq.py`` asks precise questions).

Upstream DNS is a stub resolver the test runs itself (dnsenv.StubResolver) on 127.0.0.53 in the
host namespace, and berthd's --host-resolv-conf names a file listing only that stub: nothing
here can reach a real resolver.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from ipaddress import ip_address

import pytest
from dnslib import RCODE

from tests.integration.daemonenv import api
from tests.integration.dnsenv import (  # noqa: F401  (dns_fixture: the ``dns`` fixture)
    DNSQ,
    Dns,
    ask_in,
    dns_fixture,
    rdata,
    stub_resolver,
)
from tests.integration.netenv import PYTHON, wait_for

pytestmark = pytest.mark.root


def test_names_aliases_short_id_hostname_and_ptr(dns: Dns) -> None:
    dns.cli(
        "network",
        "create",
        "front",
        "--subnet",
        "10.96.0.0/24",
        "--ipv6",
        "--subnet",
        "fd00:96::/64",
    )
    web = dns.sleeper(
        "web", "--network", "front", "--network-alias", "www", "--hostname", "webhost"
    )
    dns.sleeper("rr1", "--network", "front", "--network-alias", "pool")
    dns.sleeper("rr2", "--network", "front", "--network-alias", "pool")
    dns.sleeper("client", "--network", "front")
    web_ip = dns.ip("web", "front")
    web_v6 = dns.cli.out(
        "inspect", "-f", '{{(index .NetworkSettings.Networks "front").GlobalIPv6Address}}', "web"
    ).strip()
    pool = {dns.ip("rr1", "front"), dns.ip("rr2", "front")}

    getent = dns.cli.out("exec", "client", "getent", "hosts", "web")
    assert getent.split()[0] in (web_ip, web_v6)  # libc: /etc/resolv.conf -> 127.0.0.11
    by_python = dns.cli.out(
        "exec", "client", PYTHON, "-c", "import socket; print(socket.gethostbyname('www'))"
    )
    assert by_python.strip() == web_ip

    results = dns.ask(
        "client",
        ["web"],
        ["WEB.", "A"],
        ["www"],
        [web[:12]],
        ["webhost"],
        ["web.front"],
        ["web", "AAAA"],
        ["web", "MX"],
        ["web", "TXT", "--tcp"],
        [ip_address(web_ip).reverse_pointer, "PTR"],
        [ip_address(web_v6).reverse_pointer, "PTR"],
        ["pool", "A", "--repeat", "30"],
        ["host.berth.internal"],
        ["missing.berth.internal"],
        ["web", "A", "--tcp"],
        ["web", "A", "--edns", "1232"],
    )
    (
        plain,
        upper,
        alias,
        short,
        hostname,
        qualified,
        v6,
        mx,
        txt,
        ptr4,
        ptr6,
        rr,
        gw,
        nx,
        tcp,
        edns,
    ) = results
    for answer in (plain, upper, alias, short, hostname, qualified, tcp, edns):
        assert answer["rcode"] == "NOERROR" and answer["answers"] == [web_ip], answer
        assert answer["ttls"] == [600] and answer["id_ok"]
    assert v6["answers"] == [web_v6]
    for nodata in (mx, txt):
        assert nodata["rcode"] == "NOERROR" and nodata["answers"] == []
    assert ptr4["answers"] == ["web.front."] and ptr6["answers"] == ["web.front."]
    assert set(rr["answers"]) == pool
    assert len({tuple(order) for order in rr["orders"]}) == 2  # both orders seen: round robin
    assert gw["answers"] == ["10.96.0.1"]
    assert nx["rcode"] == "NXDOMAIN"
    assert edns["opt"] and not plain["opt"]  # EDNS kept in the answer when asked with it
    assert dns.stub.names() == []  # all of it answered locally


def test_no_names_across_networks_not_shared(dns: Dns) -> None:
    dns.cli("network", "create", "left", "--subnet", "10.97.1.0/24")
    dns.cli("network", "create", "right", "--subnet", "10.97.2.0/24")
    dns.sleeper("alpha", "--network", "left")
    dns.sleeper("bravo", "--network", "right")
    b_ip = dns.ip("bravo", "right")
    (by_name, by_address) = dns.ask("alpha", ["bravo"], [ip_address(b_ip).reverse_pointer, "PTR"])
    assert by_name["rcode"] == "NXDOMAIN"  # not ours to answer: forwarded, and the stub has none
    assert by_address["rcode"] == "NXDOMAIN"
    assert "bravo" in dns.stub.names()


def test_forwarding_to_the_hosts_servers_and_servfail_when_they_are_gone(dns: Dns) -> None:
    dns.cli("network", "create", "front", "--subnet", "10.98.0.0/24")
    dns.sleeper("client", "--network", "front")
    answer = dns.one("client", "only-the-stub-knows")
    assert answer["answers"] == ["198.51.100.8"] and answer["id_ok"]
    assert dns.stub.asked[-1][:2] == ("only-the-stub-knows", "udp")
    assert dns.stub.asked[-1][2] == "127.0.0.1"  # asked from the host's namespace
    by_libc = dns.cli.out("exec", "client", "getent", "hosts", "outside.test")
    assert by_libc.split() == ["198.51.100.7", "outside.test"]
    # an upstream answer too large for UDP: asked again over TCP, cut to the client's size
    big, big_edns = dns.ask("client", ["big.test"], ["big.test", "A", "--edns", "1232"])
    assert big["tc"] and len(big["answers"]) < 100
    assert big_edns["tc"] and big_edns["opt"] and len(big["answers"]) < len(big_edns["answers"])
    assert ("big.test", "tcp") in [(n, p) for n, p, _ in dns.stub.asked]

    dns.stub.silent = True
    silent = dns.one("client", "outside.test")
    assert silent["rcode"] == "SERVFAIL" and silent["ms"] < 2500
    dns.stub.stop()
    gone = dns.one("client", "outside.test")
    assert gone["rcode"] == "SERVFAIL" and gone["ms"] < 2500
    assert wait_for(lambda: "no upstream answered outside.test" in dns.daemon.log(), timeout=5)


def test_dns_flag_is_asked_from_the_containers_namespace(dns: Dns) -> None:
    """--dns 10.99.0.1 (the bridge's own address, where a second stub listens): the query
    arrives from the container's address, so it left the container's namespace."""
    dns.cli("network", "create", "front", "--subnet", "10.99.0.0/24")
    with stub_resolver(dns.host.path, address="10.99.0.1", zone={"own.test": ["10.0.0.5"]}) as own:
        dns.sleeper("client", "--network", "front", "--dns", "10.99.0.1")
        client_ip = dns.ip("client", "front")
        answer = dns.one("client", "own.test")
        assert answer["answers"] == ["10.0.0.5"]
        assert own.asked == [("own.test", "udp", client_ip)]
        resolv = dns.cli.out("exec", "client", "cat", "/etc/resolv.conf")
        assert "nameserver 127.0.0.11\n" in resolv and "# ExtServers: [10.99.0.1]\n" in resolv
    assert dns.stub.names() == []  # the host's servers are not asked when --dns is set


def test_internal_network_resolves_names_but_does_not_forward(dns: Dns) -> None:
    dns.cli("network", "create", "--internal", "inner", "--subnet", "10.100.0.0/24")
    dns.sleeper("alpha", "--network", "inner")
    dns.sleeper("bravo", "--network", "inner")
    local, outside = dns.ask("alpha", ["bravo"], ["outside.test"])
    assert local["answers"] == [dns.ip("bravo", "inner")]
    assert outside["rcode"] == "SERVFAIL"
    assert dns.stub.names() == []


def test_a_container_on_two_networks_and_its_view_changing_live(dns: Dns) -> None:
    dns.cli("network", "create", "one", "--subnet", "10.101.1.0/24")
    dns.cli("network", "create", "two", "--subnet", "10.101.2.0/24")
    dns.sleeper("xray", "--network", "one")
    dns.sleeper("yank", "--network", "two")
    dns.sleeper("both", "--network", "one")
    dns.cli("network", "connect", "two", "both")
    x, y = dns.ask("both", ["xray"], ["yank"])
    assert x["answers"] == [dns.ip("xray", "one")] and y["answers"] == [dns.ip("yank", "two")]
    assert dns.one("xray", "yank")["rcode"] == "NXDOMAIN"

    dns.cli("network", "connect", "two", "xray")
    assert dns.one("xray", "yank")["answers"] == [dns.ip("yank", "two")]
    dns.cli("network", "disconnect", "two", "xray")
    assert dns.one("xray", "yank")["rcode"] == "NXDOMAIN"
    dns.cli("network", "disconnect", "one", "both")
    assert dns.one("both", "xray")["rcode"] == "NXDOMAIN"


def test_resolv_conf_follows_the_networks(dns: Dns) -> None:
    """Default bridge only: the host's file (its loopback stub filtered out, no public
    fallback); connected to a user network: 127.0.0.11; disconnected again: the copy."""
    dns.cli("network", "create", "front", "--subnet", "10.102.0.0/24")
    dns.sleeper("legacy")
    text = dns.cli.out("exec", "legacy", "cat", "/etc/resolv.conf")
    assert "nameserver" not in text.replace("nameservers", "")
    assert "search corp.test\n" in text and "(legacy)" in text
    dns.cli("network", "connect", "front", "legacy")
    text = dns.cli.out("exec", "legacy", "cat", "/etc/resolv.conf")
    assert "nameserver 127.0.0.11\n" in text and "options ndots:0\n" in text
    assert "# ExtServers: [host(127.0.0.53)]\n" in text
    dns.sleeper("peer", "--network", "front")
    assert dns.one("legacy", "peer")["answers"] == [dns.ip("peer", "front")]
    dns.cli("network", "disconnect", "front", "legacy")
    assert "127.0.0.11" not in dns.cli.out("exec", "legacy", "cat", "/etc/resolv.conf")


BIND_53_AND_ASK = """
import socket, subprocess, sys
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", 53))
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.bind(("0.0.0.0", 53))
tcp.listen(1)
subprocess.run([sys.executable, sys.argv[1], sys.argv[2]], check=True)
"""


def test_a_container_can_still_serve_dns_on_port_53(dns: Dns) -> None:
    """The embedded server's sockets are not on port 53 (a nat rule in the sandbox sends
    127.0.0.11:53 to them), so a DNS server in the container can bind 0.0.0.0:53."""
    dns.cli("network", "create", "front", "--subnet", "10.105.0.0/24")
    dns.sleeper("peer", "--network", "front")
    out = dns.cli.out(
        "run", "--rm", "--network", "front", "busybox",
        PYTHON, "-c", BIND_53_AND_ASK, DNSQ, "peer",
    )  # fmt: skip
    assert json.loads(out)["answers"] == [dns.ip("peer", "front")]


def fd_count(pid: int) -> int:
    return len(open_fds(pid))


def open_fds(pid: int) -> dict[str, str]:
    """fd -> what it is (socket:[inode], a path, ...), without the SQLite files: the store has
    a connection per worker thread, and the pool starts its threads as work comes."""
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            found[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
    return {fd: what for fd, what in found.items() if ".db" not in os.path.basename(what)}


def test_listeners_close_with_their_containers_no_fd_leak(dns: Dns) -> None:
    """50 containers come and go (through the API: the CLI's start-up would be most of the
    time); every tenth is looked up by name from a running one while it exists; afterwards
    berthd holds no descriptor more than before, and the last one's name is gone."""
    dns.cli("network", "create", "front", "--subnet", "10.103.0.0/24")
    dns.sleeper("client", "--network", "front")
    client = dns.netns("client")
    assert dns.daemon.proc is not None
    pid, sock = dns.daemon.proc.pid, dns.daemon.sock
    body = {"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": "front"}}

    def run(name: str) -> None:
        assert api(sock, "POST", f"/containers/create?name={name}", body).status == 201
        assert api(sock, "POST", f"/containers/{name}/start").status == 204

    def remove(name: str) -> None:
        assert api(sock, "DELETE", f"/containers/{name}?force=1").status == 204

    run("warm-up")  # lazy imports and pools settle before counting
    remove("warm-up")
    before = open_fds(pid)
    for i in range(50):
        run(f"c{i}")
        if i % 10 == 0:
            assert rdata(ask_in(client, f"c{i}")) == [dns.ip(f"c{i}", "front")]
        remove(f"c{i}")
    assert wait_for(lambda: fd_count(pid) <= len(before), timeout=5), {
        fd: what for fd, what in open_fds(pid).items() if before.get(fd) != what
    }
    assert ask_in(client, "c49").header.rcode == RCODE.NXDOMAIN
    assert dns.one("client", "c49")["rcode"] == "NXDOMAIN"  # and through libc's path


def test_sighup_reload_and_restart_keep_containers_answered(dns: Dns) -> None:
    dns.cli("network", "create", "front", "--subnet", "10.104.0.0/24")
    dns.sleeper("web", "--network", "front")
    dns.sleeper("client", "--network", "front")
    assert dns.one("client", "outside.test")["answers"] == ["198.51.100.7"]
    assert dns.daemon.proc is not None
    pid = dns.daemon.proc.pid
    fds = fd_count(pid)
    with stub_resolver(dns.host.path, address="10.104.0.1", zone={"outside.test": ["10.9.9.9"]}):
        (dns.daemon.base / "daemon.json").write_text(json.dumps({"dns": ["10.104.0.1"]}))
        dns.daemon.send(signal.SIGHUP)
        assert wait_for(lambda: "configuration reloaded" in dns.daemon.log(), timeout=10)
        assert dns.one("client", "outside.test")["answers"] == ["10.9.9.9"]  # new upstream
        assert dns.one("client", "web")["answers"] == [dns.ip("web", "front")]
        assert fd_count(pid) == fds  # the same listeners
    (dns.daemon.base / "daemon.json").write_text("{}")
    assert dns.daemon.stop() == 0
    dns.daemon.start()
    started = time.monotonic()
    assert dns.one("client", "web")["answers"] == [dns.ip("web", "front")]
    assert time.monotonic() - started < 10
