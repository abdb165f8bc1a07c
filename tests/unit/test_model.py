"""Names, options, MACs, and the store codec."""

from ipaddress import IPv4Interface, ip_address, ip_network

import pytest

from berth.controller.codec import (
    endpoint_from_doc,
    endpoint_to_doc,
    network_from_doc,
    network_to_doc,
    sandbox_from_doc,
    sandbox_to_doc,
)
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.errors import InvalidAddress, InvalidName, InvalidOption
from berth.model.ids import is_full_id, new_id, validate_ifname, validate_name
from berth.model.mac import bridge_mac, mac_from_ipv4, random_mac, validate_mac
from berth.model.network import AllocatedPool, IpamConfig, IpamPoolConfig, Network
from berth.model.options import parse_bool, parse_int
from berth.model.ports import PortMapping, PublishedPort


def test_ids() -> None:
    assert is_full_id(new_id())
    assert new_id() != new_id()


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "x" * 129, "é"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidName, match="network"):
        validate_name("network", name)


def test_valid_names() -> None:
    assert validate_name("network", "front_end-1.v2") == "front_end-1.v2"


@pytest.mark.parametrize("name", ["", "a" * 16, "a/b", "a:b", "a b", ".", ".."])
def test_invalid_ifnames(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_ifname(name)


def test_go_parse_bool() -> None:
    assert parse_bool("k", "True") and parse_bool("k", "1") and not parse_bool("k", "f")
    with pytest.raises(InvalidOption, match="k='yes'"):
        parse_bool("k", "yes")
    with pytest.raises(InvalidOption, match="between 68 and 65535"):
        parse_int("mtu", "20", 68, 65535)


def test_macs() -> None:
    assert mac_from_ipv4(ip_address("172.17.0.2")) == "02:42:ac:11:00:02"  # type: ignore[arg-type]
    mac = random_mac()
    assert int(mac[:2], 16) & 0x03 == 0x02
    assert bridge_mac("cb772423c6" + "0" * 54) == "02:cb:77:24:23:c6"
    assert validate_mac(bridge_mac("f" * 64)) == "02:ff:ff:ff:ff:ff"
    assert validate_mac("02-42-AC-11-00-02") == "02:42:ac:11:00:02"
    for bad in ("01:00:5e:00:00:01", "00:00:00:00:00:00", "zz:00:00:00:00:00"):
        with pytest.raises(InvalidAddress):
            validate_mac(bad)


def test_codec_round_trips() -> None:
    net = Network(
        id=new_id(),
        name="front",
        driver="bridge",
        scope="local",
        created="2026-01-01T00:00",
        ipam=IpamConfig(
            config=(
                IpamPoolConfig(
                    subnet=ip_network("10.1.0.0/24"),
                    gateway=ip_address("10.1.0.1"),
                    ip_range=ip_network("10.1.0.128/25"),
                    aux_addresses={"h": ip_address("10.1.0.5")},
                ),
            )
        ),
        pools=(
            AllocatedPool(
                "local/10.1.0.0/24",
                ip_network("10.1.0.0/24"),
                ip_address("10.1.0.1"),
                ip_network("10.1.0.128/25"),
                {"h": ip_address("10.1.0.5")},
            ),
            AllocatedPool("local/fd00::/64", ip_network("fd00::/64"), ip_address("fd00::1")),
        ),
        options={"a": "b"},
        labels={"l": "v"},
        internal=True,
        enable_ipv6=True,
        driver_state={"bridge": "br-x", "created_bridge": True},
    )
    assert network_from_doc(network_to_doc(net)) == net
    ep = Endpoint(
        id=new_id(),
        name="web",
        network_id=net.id,
        mac="02:42:0a:01:00:02",
        ipv4=IPv4Interface("10.1.0.2/24"),
        aliases=("www",),
        links=(("db", "database"),),
        ports=(PortMapping(80, "tcp", ip_address("127.0.0.1"), (8080, 8080)),),
        exposed=((53, "udp"),),
        publish_all=True,
        sandbox_id="s",
        ifname="eth0",
        gateway4=ip_address("10.1.0.1"),  # type: ignore[arg-type]
        published=(PublishedPort("tcp", ip_address("127.0.0.1"), 8080, 80),),
        driver_state={"host_ifname": "vbabc"},
    )
    assert endpoint_from_doc(endpoint_to_doc(ep)) == ep
    sb = Sandbox(
        id="s",
        name="c1",
        netns_path="/run/x",
        hostname="h",
        endpoints=(ep.id,),
        gateway_endpoint=ep.id,
        gateway_names=("host.docker.internal",),
    )
    assert sandbox_from_doc(sandbox_to_doc(sb)) == sb
    # records stored before issue 4 have neither field
    old = {k: v for k, v in endpoint_to_doc(ep).items() if k != "links"}
    assert endpoint_from_doc(old).links == ()
    old = {k: v for k, v in sandbox_to_doc(sb).items() if k != "gateway_names"}
    assert sandbox_from_doc(old).gateway_names == ()
