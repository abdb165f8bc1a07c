"""Where the embedded DNS server sends what it does not know, end to end: the real berthd in a
throwaway host namespace (dnsenv.Dns), the berth CLI, questions asked inside containers.

Upstreams are stub resolvers the test runs itself: the "host's" on 127.0.0.53 (berthd's
--host-resolv-conf names only it) and more on addresses the test gives its host namespace
(192.0.2.x on lo), which containers reach through their gateway like a resolver on the LAN.

What it shows (issue 4, item 1): the order (the container's ``--dns``, else the daemon's
``dns``, else the host's resolv.conf, a loopback stub there asked from the host's namespace,
the others from the container's); tries sent to every upstream at once, each try under a
second, so a dead first server costs nothing; REFUSED/SERVFAIL from one upstream leaves the
others racing; SERVFAIL with a log line and a counter (``berth info``) when none answers;
Docker's ndots rule (a user-set ndots keeps single labels home so search domains are tried).
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.integration.dnsenv import (  # noqa: F401  (dns_fixture: the ``dns`` fixture)
    Dns,
    dns_fixture,
    local_addresses,
    stub_resolver,
)
from tests.integration.netenv import wait_for

pytestmark = pytest.mark.root

DAEMONS, OWN, DEAD, LIVE = "192.0.2.54", "192.0.2.55", "192.0.2.53", "192.0.2.56"


def test_the_containers_dns_else_the_daemons_else_the_hosts(dns: Dns) -> None:
    local_addresses(dns.host, DAEMONS, OWN)
    dns.stub.zone["who.test"] = ["198.51.100.1"]
    dns.cli("network", "create", "front", "--subnet", "10.106.0.0/24")
    with (
        stub_resolver(dns.host.path, address=DAEMONS, zone={"who.test": ["198.51.100.2"]}) as by_d,
        stub_resolver(dns.host.path, address=OWN, zone={"who.test": ["198.51.100.3"]}) as own,
    ):
        dns.sleeper("plain", "--network", "front")
        dns.sleeper("mine", "--network", "front", "--dns", OWN)
        # nothing set: the host's resolver, a loopback stub, asked from the host's namespace
        assert dns.one("plain", "who.test")["answers"] == ["198.51.100.1"]
        assert dns.stub.asked == [("who.test", "udp", "127.0.0.1")]
        assert dns.one("mine", "who.test")["answers"] == ["198.51.100.3"]
        assert own.asked == [("who.test", "udp", dns.ip("mine", "front"))]  # from its namespace

        # the daemon's dns (applied by SIGHUP): before the host's, after the container's own
        (dns.daemon.base / "daemon.json").write_text(json.dumps({"dns": [DAEMONS]}))
        dns.daemon.send(signal.SIGHUP)
        assert wait_for(lambda: "configuration reloaded" in dns.daemon.log(), timeout=10)
        assert dns.one("plain", "who.test")["answers"] == ["198.51.100.2"]
        assert by_d.asked == [("who.test", "udp", dns.ip("plain", "front"))]
        assert dns.one("mine", "who.test")["answers"] == ["198.51.100.3"]
        assert len(dns.stub.asked) == 1 and len(by_d.asked) == 1 and len(own.asked) == 2


def test_tries_go_to_every_upstream_at_once_each_under_a_second(dns: Dns) -> None:
    local_addresses(dns.host, DEAD, LIVE)
    dns.cli("network", "create", "front", "--subnet", "10.107.0.0/24")
    with (
        stub_resolver(dns.host.path, address=DEAD, silent=True) as dead,
        stub_resolver(dns.host.path, address=LIVE, zone={"who.test": ["198.51.100.4"]}) as live,
    ):
        dns.sleeper("client", "--network", "front", "--dns", DEAD, "--dns", LIVE)
        # the first server never answers: the second's answer comes at once, not after a try
        fast = dns.one("client", "who.test")
        assert fast["answers"] == ["198.51.100.4"] and fast["ms"] < 400, fast
        assert dead.names() == ["who.test"] and live.names() == ["who.test"]  # asked together

        # REFUSED (or SERVFAIL) from one server is not an answer while another may give one
        dead.silent, dead.refuse = False, True
        assert dns.one("client", "who.test")["answers"] == ["198.51.100.4"]
        # both refuse: SERVFAIL at once, no second try (asking again would not help)
        live.refuse = True
        refused = dns.one("client", "who.test")
        assert refused["rcode"] == "SERVFAIL" and refused["ms"] < 400, refused

        # both silent: two tries of 0.8 s each, to both servers, then SERVFAIL
        dead.refuse = live.refuse = False
        dead.silent = live.silent = True
        before = len(dead.asked), len(live.asked)
        silent = dns.one("client", "silent.test")
        assert silent["rcode"] == "SERVFAIL" and 1400 < silent["ms"] < 2500, silent
        assert (len(dead.asked) - before[0], len(live.asked) - before[1]) == (2, 2)
    # one warning per sandbox every 10 s names the servers; the counter counts every SERVFAIL
    line = f"embedded DNS, sandbox {dns.netns('client')[-64:][:12]}: no upstream answered"
    assert f"{line} who.test: {DEAD}, {LIVE}" in dns.daemon.log()
    assert dns.daemon.log().count(line) == 1
    counters = dns.counters()
    assert counters["Embedded DNS SERVFAIL, no upstream answered"] == "2"  # refused + silent
    assert int(counters["Embedded DNS forwarded"]) == 2


def test_a_user_set_ndots_sends_single_labels_to_the_search_domains(dns: Dns) -> None:
    """Docker: with ndots set by the user, an unknown single label gets an empty answer
    instead of being forwarded, so the client's resolver goes on with its search domains."""
    dns.stub.zone["outside.corp.test"] = ["198.51.100.9"]
    dns.cli("network", "create", "front", "--subnet", "10.108.0.0/24")
    dns.sleeper("peer", "--network", "front")
    dns.sleeper(
        "client", "--network", "front", "--dns-search", "corp.test", "--dns-option", "ndots:2"
    )
    resolv = dns.file("client", "/etc/resolv.conf")
    for line in ("nameserver 127.0.0.11", "search corp.test", "options ndots:2"):
        assert f"\n{line}\n" in resolv, resolv
    assert "# Overrides: [search options]\n# Option ndots from: override\n" in resolv
    single, local = dns.ask("client", ["outside"], ["peer"])
    assert single["rcode"] == "NOERROR" and single["answers"] == []
    assert local["answers"] == [dns.ip("peer", "front")]  # its own names still answer
    by_libc = dns.cli.out("exec", "client", "getent", "hosts", "outside")
    assert by_libc.split() == ["198.51.100.9", "outside.corp.test"]
    assert "outside" not in dns.stub.names() and "outside.corp.test" in dns.stub.names()
