"""Intents the firewall refuses before rendering anything (shared by NftFirewall and the fake)."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

import pytest

from berth.firewall import nft_render as r
from berth.firewall.api import EndpointIntent, LinkIntent, NetworkIntent, PortIntent
from berth.firewall.nftables import NftFirewall
from berth.model.errors import (
    InvalidAddress,
    InvalidName,
    InvalidParameter,
    InvalidPortSpec,
    InvalidSubnet,
)

NET = NetworkIntent("br0", (IPv4Network("10.0.0.0/24"),), (IPv6Network("fd00::/64"),))
PORT = PortIntent("tcp", ip_address("0.0.0.0"), 8080, ip_address("10.0.0.2"), 80)


@pytest.mark.parametrize(
    "bridge",
    ["", "a" * 16, 'br"0', "br*", "br 0", "br/0", "br:0", "br\\0", "brü", "..", "br;0", "br$x"],
)
def test_bad_interface_names(bridge: str) -> None:
    with pytest.raises(InvalidName):
        r.render_add_network(replace(NET, bridge=bridge))


@pytest.mark.parametrize("bridge", ["br0", "docker0", "br-0123456789ab", "a" * 15, "br_x.1@2+3"])
def test_good_interface_names(bridge: str) -> None:
    assert f'"{bridge}"' in r.render_add_network(replace(NET, bridge=bridge))


@pytest.mark.parametrize("table", ["", "1berth", "ber th", "berth;", 'b"', "a" * 65, "b.c"])
def test_bad_table_names(table: str) -> None:
    with pytest.raises(InvalidName):
        r.render_ensure(table)
    with pytest.raises(InvalidName):
        NftFirewall(nft=None, table=table)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"subnets4": (IPv6Network("fd00::/64"),)}, InvalidSubnet),
        ({"subnets6": (IPv4Network("10.0.0.0/24"),)}, InvalidSubnet),
        ({"subnets4": [IPv4Network("10.0.0.0/24")]}, InvalidSubnet),
        ({"subnets4": ("10.0.0.0/24",)}, InvalidSubnet),
        ({"snat4": IPv6Address("2001:db8::1")}, InvalidAddress),
        ({"snat6": IPv4Address("192.0.2.1")}, InvalidAddress),
        ({"snat4": IPv4Address("0.0.0.0")}, InvalidAddress),
        ({"snat4": "192.0.2.1"}, InvalidAddress),
        ({"icc": 1}, InvalidParameter),
        ({"subnets4": (IPv4Network("10.0.0.0/24"), IPv4Network("10.0.0.0/16"))}, InvalidSubnet),
    ],
)
def test_bad_networks(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        r.render_add_network(replace(NET, **changes))
    with pytest.raises(error):
        r.render_remove_network(replace(NET, **changes))


def test_reload_refuses_two_intents_for_one_bridge_or_overlapping_subnets() -> None:
    with pytest.raises(InvalidName, match="more than one"):
        r.render_reload([NET, replace(NET, subnets4=())], [])
    other = NetworkIntent("br1", (IPv4Network("10.0.0.128/25"),))
    with pytest.raises(InvalidSubnet, match=r"br1 overlaps 10\.0\.0\.0/24 of br0"):
        r.render_reload([NET, other], [])
    v6 = NetworkIntent("br1", (), (IPv6Network("fd00::/48"),))
    with pytest.raises(InvalidSubnet):
        r.render_reload([NET, v6], [])
    assert r.render_reload([NET, replace(other, subnets4=(IPv4Network("10.0.1.0/24"),))], [])


@pytest.mark.parametrize(
    "changes",
    [
        {"proto": "icmp"},
        {"proto": "TCP"},
        {"host_port": 0},
        {"host_port": 65536},
        {"container_port": 0},
        {"host_port": True},
        {"host_port": "80"},
        {"container_ip": ip_address("fd00::2")},
        {"host_ip": "0.0.0.0"},
        {"container_ip": ip_address("0.0.0.0")},
        {"container_ip": ip_address("127.0.0.1")},
        {"host_ip": ip_address("224.0.0.1")},
        {"host_ip": ip_address("::1"), "container_ip": ip_address("fd00::2")},
        {"host_ip": ip_address("::ffff:192.0.2.1"), "container_ip": ip_address("fd00::2")},
    ],
)
def test_bad_ports(changes: dict[str, Any]) -> None:
    bad = replace(PORT, **changes)
    with pytest.raises(InvalidPortSpec):
        r.render_publish([PORT, bad])
    with pytest.raises(InvalidPortSpec):
        r.render_unpublish([bad])


def test_one_host_port_bound_to_two_targets_in_one_call() -> None:
    with pytest.raises(InvalidPortSpec, match="bound to both"):
        r.render_publish([PORT, replace(PORT, container_port=81)])
    # The same host port on another protocol or address is another binding.
    assert r.render_publish(
        [PORT, replace(PORT, proto="udp"), replace(PORT, host_ip=ip_address("127.0.0.1"))]
    )


def test_loopback_v4_host_address_is_fine() -> None:
    assert "127.0.0.1 . tcp . 8080" in r.render_publish(
        [replace(PORT, host_ip=ip_address("127.0.0.1"))]
    )


LINK = LinkIntent("tcp", IPv4Address("10.0.0.3"), IPv4Address("10.0.0.2"), 5432)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"proto": "icmp"}, InvalidPortSpec),
        ({"port": 0}, InvalidPortSpec),
        ({"port": 65536}, InvalidPortSpec),
        ({"port": "80"}, InvalidPortSpec),
        ({"parent": ip_address("fd00::3")}, InvalidAddress),
        ({"child": "10.0.0.2"}, InvalidAddress),
        ({"child": IPv4Address("127.0.0.1")}, InvalidAddress),
        ({"parent": IPv4Address("0.0.0.0")}, InvalidAddress),
        ({"parent": IPv4Address("224.0.0.5")}, InvalidAddress),
        ({"parent": IPv4Address("10.0.0.2")}, InvalidAddress),  # a link to itself
    ],
)
def test_bad_links(changes: dict[str, Any], error: type[Exception]) -> None:
    bad = replace(LINK, **changes)
    for render in (r.render_open_links, r.render_close_links):
        with pytest.raises(error):
            render([LINK, bad])
    with pytest.raises(error):
        r.render_reload([], [], links=[bad])


@pytest.mark.parametrize("port", ["", 'vb"x', "vb*", "a" * 16, "vb 1"])
def test_bad_endpoint_ports(port: str) -> None:
    for render in (r.render_add_endpoint, r.render_remove_endpoint):
        with pytest.raises(InvalidName):
            render(EndpointIntent(port, "br0"))
    with pytest.raises(InvalidName):
        r.render_reload([], [], endpoints=[EndpointIntent(port)])
