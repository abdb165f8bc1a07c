"""RecordingFirewall: remembers intents, refuses what the real backend refuses, fails on demand."""

from __future__ import annotations

import errno
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_address

import pytest

from berth.firewall.api import EndpointIntent, Firewall, LinkIntent, NetworkIntent, PortIntent
from berth.firewall.recording import RecordingFirewall
from berth.model.errors import InvalidName, InvalidPortSpec, KernelError, NotFound

NET_A = NetworkIntent("bra", (IPv4Network("10.0.0.0/24"),), (IPv6Network("fd00::/64"),))
NET_B = NetworkIntent("brb", (IPv4Network("10.1.0.0/24"),), internal=True)
P80 = PortIntent("tcp", ip_address("0.0.0.0"), 8080, ip_address("10.0.0.2"), 80, "bra")
P53 = PortIntent("udp", ip_address("127.0.0.1"), 53, ip_address("10.0.0.3"), 53, "bra")
EP = EndpointIntent("vb0123456789ab", "bra")
LINK = LinkIntent("tcp", IPv4Address("10.0.0.3"), IPv4Address("10.0.0.2"), 5432, "bra")


@pytest.fixture
def fw() -> RecordingFirewall:
    return RecordingFirewall()


def test_is_a_firewall(fw: RecordingFirewall) -> None:
    typed: Firewall = fw
    assert typed is fw


def test_networks_and_ports_round_trip(fw: RecordingFirewall) -> None:
    fw.ensure()
    fw.add_network(NET_A)
    fw.add_network(NET_B)
    fw.publish_ports([P80, P53])
    assert fw.networks == {"bra": NET_A, "brb": NET_B}
    assert fw.ports == {P80, P53}
    fw.unpublish_ports([P53])
    fw.remove_network(NET_B)
    assert fw.networks == {"bra": NET_A}
    assert fw.ports == {P80}
    assert [c[0] for c in fw.calls] == [
        "ensure",
        "add_network",
        "add_network",
        "publish_ports",
        "unpublish_ports",
        "remove_network",
    ]
    assert fw.ensured == 1


def test_removals_tolerate_what_is_gone(fw: RecordingFirewall) -> None:
    fw.remove_network(NET_A)
    fw.unpublish_ports([P80])
    fw.unpublish_ports([P80])
    assert fw.networks == {} and fw.ports == frozenset()


def test_publish_is_idempotent_but_a_taken_host_port_is_refused_atomically(
    fw: RecordingFirewall,
) -> None:
    fw.publish_ports([P80])
    fw.publish_ports([P80])
    other = replace(P80, container_ip=ip_address("10.0.0.9"))
    with pytest.raises(KernelError) as caught:
        fw.publish_ports([P53, other])
    assert caught.value.errno == errno.EEXIST
    assert fw.ports == {P80}  # P53 was not applied either
    with pytest.raises(KernelError):
        fw.unpublish_ports([other])  # someone else's binding is not removed
    assert fw.ports == {P80}


def test_overlapping_subnets_are_refused_like_nft_interval_sets(fw: RecordingFirewall) -> None:
    fw.add_network(NET_A)
    with pytest.raises(KernelError):
        fw.add_network(NetworkIntent("brc", (IPv4Network("10.0.0.0/16"),)))
    fw.add_network(replace(NET_A, icc=False))  # the same bridge again replaces its intent
    assert fw.networks == {"bra": replace(NET_A, icc=False)}


def test_validation_is_the_real_backends(fw: RecordingFirewall) -> None:
    with pytest.raises(InvalidName):
        fw.add_network(replace(NET_A, bridge="br*"))
    with pytest.raises(InvalidPortSpec):
        fw.publish_ports([replace(P80, host_port=0)])
    assert fw.calls == []


def test_fail_next_fails_once_and_changes_nothing(fw: RecordingFirewall) -> None:
    fw.fail_next("add_network")
    with pytest.raises(KernelError, match="injected"):
        fw.add_network(NET_A)
    assert fw.networks == {}
    fw.add_network(NET_A)
    fw.fail_next("publish_ports", NotFound("custom"))
    with pytest.raises(NotFound):
        fw.publish_ports([P80])
    assert fw.ports == frozenset()
    assert [c[0] for c in fw.calls] == ["add_network", "add_network", "publish_ports"]


def test_fail_next_only_knows_protocol_methods(fw: RecordingFirewall) -> None:
    with pytest.raises(ValueError):
        fw.fail_next("flush")  # type: ignore[arg-type]


def test_reload_replaces_everything(fw: RecordingFirewall) -> None:
    fw.add_network(NET_A)
    fw.publish_ports([P80])
    fw.reload([NET_B], [P53])
    assert fw.networks == {"brb": NET_B}
    assert fw.ports == {P53}
    fw.fail_next("reload")
    with pytest.raises(KernelError):
        fw.reload([], [])
    assert fw.networks == {"brb": NET_B}


def test_endpoints_and_links_round_trip(fw: RecordingFirewall) -> None:
    fw.add_endpoint(EP)
    fw.open_links([LINK, LINK])
    assert fw.endpoints == {EP.port: EP} and fw.links == {LINK}
    fw.close_links([LINK])
    fw.close_links([LINK])  # already closed: fine
    fw.remove_endpoint(EP)
    fw.remove_endpoint(EP)
    assert fw.endpoints == {} and fw.links == set()
    with pytest.raises(InvalidName):
        fw.add_endpoint(EndpointIntent("vb*"))
    fw.fail_next("open_links")
    with pytest.raises(KernelError):
        fw.open_links([LINK])
    assert fw.links == set()


def test_reload_replaces_endpoints_and_links(fw: RecordingFirewall) -> None:
    fw.add_endpoint(EP)
    fw.open_links([LINK])
    other = replace(LINK, port=80)
    fw.reload([NET_A], [], [replace(EP, port="vbfedcba987654")], [other])
    assert set(fw.endpoints) == {"vbfedcba987654"} and fw.links == {other}
    fw.reload([], [])
    assert fw.endpoints == {} and fw.links == set()
