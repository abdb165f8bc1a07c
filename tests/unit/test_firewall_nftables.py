"""NftFirewall as an applier: one script per call, ensure carried by the first change."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, ip_address

import pytest

from berth.firewall import nft_render as r
from berth.firewall.api import EndpointIntent, Firewall, LinkIntent, NetworkIntent, PortIntent
from berth.firewall.nftables import NftFirewall
from berth.model.errors import InvalidName, KernelError

NET = NetworkIntent("br0", (IPv4Network("10.0.0.0/24"),))
PORT = PortIntent("tcp", ip_address("0.0.0.0"), 8080, ip_address("10.0.0.2"), 80)
EP = EndpointIntent("vb0123456789ab", "br0")
LINK = LinkIntent("tcp", IPv4Address("10.0.0.3"), IPv4Address("10.0.0.2"), 5432, "br0")


class ScriptLog:
    """A fake ``Nftables``: remembers scripts; can fail the next one."""

    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.fail = False

    def run(self, script: str) -> str:
        if self.fail:
            self.fail = False
            raise KernelError("nft: Could not process rule: File exists")
        self.scripts.append(script)
        return ""


@pytest.fixture
def log() -> ScriptLog:
    return ScriptLog()


def test_is_a_firewall(log: ScriptLog) -> None:
    fw: Firewall = NftFirewall(log)
    assert fw is not None


def test_first_change_carries_ensure_in_the_same_script(log: ScriptLog) -> None:
    fw = NftFirewall(log, "bt1")
    fw.add_network(NET)
    fw.publish_ports([PORT])
    assert log.scripts == [
        r.render_ensure("bt1") + r.render_add_network(NET, "bt1"),
        r.render_publish([PORT], "bt1"),
    ]


def test_failed_first_change_is_retried_with_ensure(log: ScriptLog) -> None:
    fw = NftFirewall(log)
    log.fail = True
    with pytest.raises(KernelError):
        fw.publish_ports([PORT])
    fw.publish_ports([PORT])
    assert log.scripts == [r.render_ensure() + r.render_publish([PORT])]


def test_explicit_ensure_and_reload_always_run(log: ScriptLog) -> None:
    fw = NftFirewall(log)
    fw.ensure()
    fw.ensure()
    fw.reload([NET], [PORT])
    fw.remove_network(NET)
    assert log.scripts == [
        r.render_ensure(),
        r.render_ensure(),
        r.render_reload([NET], [PORT]),
        r.render_remove_network(NET),
    ]


def test_reload_counts_as_ensure(log: ScriptLog) -> None:
    fw = NftFirewall(log)
    fw.reload([], [])
    fw.unpublish_ports([PORT])
    assert log.scripts[1] == r.render_unpublish([PORT])


def test_nothing_to_publish_runs_nothing(log: ScriptLog) -> None:
    fw = NftFirewall(log)
    fw.publish_ports([])
    fw.unpublish_ports([])
    assert log.scripts == []


def test_invalid_intent_runs_nothing(log: ScriptLog) -> None:
    fw = NftFirewall(log)
    with pytest.raises(InvalidName):
        fw.add_network(NetworkIntent('br"; flush ruleset; "'))
    assert log.scripts == []


def test_endpoints_and_links_are_one_script_each(log: ScriptLog) -> None:
    fw = NftFirewall(log)
    fw.ensure()
    fw.add_endpoint(EP)
    fw.open_links([LINK])
    fw.open_links([])
    fw.close_links([])
    fw.close_links([LINK])
    fw.remove_endpoint(EP)
    fw.reload([NET], [PORT], [EP], [LINK])
    assert log.scripts == [
        r.render_ensure(),
        r.render_add_endpoint(EP),
        r.render_open_links([LINK]),
        r.render_close_links([LINK]),
        r.render_remove_endpoint(EP),
        r.render_reload([NET], [PORT], endpoints=[EP], links=[LINK]),
    ]
