"""nft renderings of firewall intents: golden files, plus the properties every script must have."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.firewall import nft_render as r
from berth.firewall.api import EndpointIntent, LinkIntent, NetworkIntent, PortIntent, Proto
from tests.unit.conftest import Golden

V4 = (IPv4Network("172.18.0.0/16"),)
V6 = (IPv6Network("fd00:db8:1::/64"),)
PLAIN = NetworkIntent("br-1a2b3c4d5e6f", V4)
DUAL = NetworkIntent("br-dual", (IPv4Network("10.20.0.0/24"), IPv4Network("10.21.0.0/24")), V6)
INTERNAL = NetworkIntent("br-internal", (IPv4Network("10.30.0.0/24"),), V6, internal=True)
ICC_OFF = replace(PLAIN, bridge="docker0", icc=False)
NO_MASQ = replace(PLAIN, masquerade=False)
SNAT = NetworkIntent(
    "br-snat",
    (IPv4Network("172.19.0.0/16"),),
    (IPv6Network("fd00:db8:2::/64"),),
    snat4=IPv4Address("192.0.2.10"),
    snat6=IPv6Address("2001:db8::10"),
)


def port(host: str, hport: int, ctr: str, cport: int, proto: Proto = "tcp") -> PortIntent:
    return PortIntent(proto, ip_address(host), hport, ip_address(ctr), cport)


V4_SPECIFIC = [
    port("192.0.2.1", 8080, "172.18.0.2", 80),
    port("127.0.0.1", 8443, "172.18.0.2", 443),
]
WILDCARD = [port("0.0.0.0", 8080, "172.18.0.2", 80), port("::", 8080, "fd00:db8:1::2", 80)]
V6_PORTS = [
    port("2001:db8::1", 53, "fd00:db8:1::2", 53, "udp"),
    port("::", 80, "fd00:db8:1::3", 8080),
]
UDP_SCTP = [
    port("0.0.0.0", 53, "172.18.0.3", 53, "udp"),
    port("0.0.0.0", 53, "172.18.0.3", 53),
    port("192.0.2.1", 3868, "172.18.0.4", 3868, "sctp"),
    port("0.0.0.0", 9, "172.18.0.4", 9, "sctp"),
]

ENDPOINT = EndpointIntent("vb0123456789ab", "docker0")
LINKS = [
    LinkIntent("tcp", IPv4Address("172.17.0.3"), IPv4Address("172.17.0.2"), 5432, "docker0"),
    LinkIntent("tcp", IPv4Address("172.17.0.3"), IPv4Address("172.17.0.2"), 80, "docker0"),
    LinkIntent("udp", IPv4Address("172.17.0.4"), IPv4Address("172.17.0.2"), 53, "docker0"),
]

CASES: dict[str, Callable[[], str]] = {
    "ensure.nft": r.render_ensure,
    "ensure_custom_table.nft": lambda: r.render_ensure("bt_test"),
    "add_network_plain.nft": lambda: r.render_add_network(PLAIN),
    "add_network_dual_stack.nft": lambda: r.render_add_network(DUAL),
    "add_network_internal.nft": lambda: r.render_add_network(INTERNAL),
    "add_network_icc_off.nft": lambda: r.render_add_network(ICC_OFF),
    "add_network_no_masquerade.nft": lambda: r.render_add_network(NO_MASQ),
    "add_network_snat.nft": lambda: r.render_add_network(SNAT),
    "remove_network_plain.nft": lambda: r.render_remove_network(PLAIN),
    "remove_network_internal.nft": lambda: r.render_remove_network(INTERNAL),
    "remove_network_snat.nft": lambda: r.render_remove_network(SNAT),
    "publish_v4_specific.nft": lambda: r.render_publish(V4_SPECIFIC),
    "publish_wildcard.nft": lambda: r.render_publish(WILDCARD),
    "publish_v6.nft": lambda: r.render_publish(V6_PORTS),
    "publish_udp_sctp.nft": lambda: r.render_publish(UDP_SCTP),
    "unpublish_v4_specific.nft": lambda: r.render_unpublish(V4_SPECIFIC),
    "unpublish_wildcard.nft": lambda: r.render_unpublish(WILDCARD),
    "unpublish_udp_sctp.nft": lambda: r.render_unpublish(UDP_SCTP),
    "add_endpoint.nft": lambda: r.render_add_endpoint(ENDPOINT),
    "remove_endpoint.nft": lambda: r.render_remove_endpoint(ENDPOINT),
    "open_links.nft": lambda: r.render_open_links(LINKS),
    "close_links.nft": lambda: r.render_close_links(LINKS),
    "reload.nft": lambda: r.render_reload([SNAT, PLAIN, INTERNAL], [*WILDCARD, *V4_SPECIFIC]),
    "reload_icc_off_links.nft": lambda: r.render_reload(
        [ICC_OFF], [], endpoints=[ENDPOINT, replace(ENDPOINT, port="vbfedcba987654")], links=LINKS
    ),
    "reload_empty.nft": lambda: r.render_reload([], []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, golden: Golden) -> None:
    golden(name, CASES[name]())


# --- structure every script keeps ---------------------------------------------------------------


def test_ensure_adds_the_user_chain_but_never_flushes_or_deletes_it() -> None:
    script = r.render_ensure()
    assert "add chain inet berth user\n" in script
    assert not re.search(r"(flush|delete) chain inet berth user\b", script)
    assert "delete" not in script
    assert "add rule inet berth forward jump user\n" in script
    first_forward_rule = next(
        ln for ln in script.splitlines() if " forward " in ln and "rule" in ln
    )
    assert first_forward_rule.endswith("jump user")


def test_ensure_flushes_exactly_the_chains_it_refills() -> None:
    script = r.render_ensure()
    flushed = re.findall(r"^flush chain (\w+) berth (\S+)$", script, re.M)
    filled = set(re.findall(r"^add rule (\w+) berth (\S+) ", script, re.M))
    assert sorted(flushed) == sorted(filled) == sorted((c.family, c.name) for c in r.CHAINS)


def test_ensure_declares_both_tables_and_every_set() -> None:
    script = r.render_ensure()
    assert "add table inet berth\n" in script and "add table bridge berth\n" in script
    declared = re.findall(r"^add (?:set|map) (\w+) berth (\S+) ", script, re.M)
    assert declared == [(s.family, s.name) for s in r.SETS]


def test_ensure_declares_before_it_fills() -> None:
    lines = r.render_ensure().splitlines()
    last_declaration = max(i for i, ln in enumerate(lines) if re.match(r"add (set|map|chain) ", ln))
    first_rule = min(i for i, ln in enumerate(lines) if ln.startswith(("flush", "add rule")))
    assert last_declaration < first_rule


@pytest.mark.parametrize(
    "script",
    [
        r.render_add_network(DUAL),
        r.render_remove_network(SNAT),
        r.render_publish(UDP_SCTP),
        r.render_unpublish(WILDCARD),
        r.render_add_endpoint(ENDPOINT),
        r.render_close_links(LINKS),
    ],
)
def test_changes_touch_elements_only(script: str) -> None:
    commands = re.findall(r"^(\w+ \w+)", script, re.M)
    assert set(commands) <= {"add element", "delete element"}


def test_removal_adds_each_element_right_before_deleting_it() -> None:
    lines = r.render_unpublish(UDP_SCTP).splitlines()
    heads = [ln for ln in lines if ln.startswith(("add", "delete"))]
    for add, delete in zip(heads[::2], heads[1::2], strict=True):
        assert add.startswith("add element") and delete.startswith("delete element")
        assert add.split()[3] == delete.split()[3]  # the same set


def test_icc_decides_between_intra_and_noicc() -> None:
    assert {e.set for e in r.network_elements(PLAIN)} & {"intra", "noicc"} == {"intra"}
    assert {e.set for e in r.network_elements(ICC_OFF)} & {"intra", "noicc"} == {"noicc"}


def test_endpoints_go_to_the_bridge_table_with_their_hairpin_pair() -> None:
    assert r.render_add_endpoint(ENDPOINT) == (
        'add element bridge berth noicc_ports { "vb0123456789ab" }\n'
        'add element bridge berth hairpin { "vb0123456789ab" . "vb0123456789ab" }\n'
    )


def test_links_go_to_both_tables_once() -> None:
    script = r.render_open_links(LINKS + LINKS)
    assert script == r.render_open_links(list(reversed(LINKS)))
    for family in ("inet", "bridge"):
        assert f"add element {family} berth links4 {{\n" in script
    assert script.count("172.17.0.3 . 172.17.0.2 . tcp . 5432") == 2


def test_removal_covers_every_flag_combination() -> None:
    """remove_network must clean up whatever add_network put in place for any earlier flags."""
    removed = {e.text for e in r.owned_elements(SNAT)}
    for variant in (
        SNAT,
        replace(SNAT, icc=False),
        replace(SNAT, internal=True),
        replace(SNAT, snat4=None, snat6=None),
        replace(SNAT, masquerade=False),
    ):
        assert {e.text for e in r.network_elements(variant)} <= removed


def test_ports_go_to_the_map_of_their_family_and_kind() -> None:
    by_set = {e.set: e.text for e in r.port_elements([*WILDCARD, *V4_SPECIFIC[:1], *V6_PORTS[:1]])}
    assert by_set == {
        "pub4": "192.0.2.1 . tcp . 8080 : 172.18.0.2 . 80",
        "pub4any": "tcp . 8080 : 172.18.0.2 . 80",
        "pub6": "2001:db8::1 . udp . 53 : fd00:db8:1::2 . 53",
        "pub6any": "tcp . 8080 : fd00:db8:1::2 . 80",
    }


def test_internal_and_unmasqueraded_networks_are_never_masqueraded() -> None:
    for net in (INTERNAL, NO_MASQ, replace(SNAT, internal=True)):
        assert not {e.set for e in r.network_elements(net)} & {"masq4", "masq6", "snat4", "snat6"}


def test_snat_source_replaces_masquerade() -> None:
    sets = {e.set for e in r.network_elements(SNAT)}
    assert {"snat4", "snat6"} <= sets
    assert not sets & {"masq4", "masq6"}


def test_duplicate_bindings_render_once() -> None:
    assert r.render_publish(WILDCARD + WILDCARD) == r.render_publish(WILDCARD)


def test_table_name_is_used_everywhere() -> None:
    scripts = (
        r.render_ensure("bt9"),
        r.render_reload([PLAIN], WILDCARD, "bt9", endpoints=[ENDPOINT], links=LINKS),
        r.render_open_links(LINKS, "bt9"),
    )
    for script in scripts:
        tables = set(re.findall(r"^\w+ \w+ (?:inet|bridge) (\S+)", script, re.M))
        assert tables == {"bt9"}


# --- determinism --------------------------------------------------------------------------------

ports_strategy = st.lists(
    st.builds(
        PortIntent,
        proto=st.sampled_from(["tcp", "udp", "sctp"]),
        host_ip=st.sampled_from(
            [ip_address("0.0.0.0"), ip_address("192.0.2.1"), ip_address("127.0.0.1")]
        ),
        host_port=st.integers(1, 65535),
        container_ip=st.just(ip_address("172.18.0.2")),
        container_port=st.integers(1, 65535),
    ),
    max_size=30,
    unique_by=lambda p: (p.proto, p.host_ip, p.host_port),
)


@given(ports_strategy, st.randoms())
def test_rendering_ignores_input_order(ports: list[PortIntent], rnd: object) -> None:
    shuffled = list(ports)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert r.render_publish(shuffled) == r.render_publish(ports)
    assert r.render_unpublish(shuffled) == r.render_unpublish(ports)
    rendered = r.render_publish(ports)
    assert rendered.count(" : ") == len(ports)
