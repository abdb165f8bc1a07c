"""berth's rtnetlink codec against pyroute2's, as the oracle: the requests berth packs are byte
for byte what pyroute2 packs for the same fields, and berth parses what pyroute2 encodes."""

from __future__ import annotations

import errno
import struct
from ipaddress import ip_address
from typing import Any

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from berth.kernel import rtnl

SEQ = 7


def pyroute2_frame(
    msg: Any, kind: int, flags: int, fields: dict[str, int], attrs: list[tuple[str, Any]]
) -> bytes:
    for key, value in fields.items():
        msg[key] = value
    msg["attrs"] = attrs
    msg["header"]["type"] = kind
    msg["header"]["flags"] = flags
    msg["header"]["sequence_number"] = SEQ
    msg.encode()
    return bytes(msg.data)


def frame(request: rtnl.Request) -> bytes:
    return request.frame(SEQ)


ACK = rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK
CREATE = ACK | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL


def test_veth_created_up_in_a_bridge_with_its_peer_in_a_netns() -> None:
    peer = rtnl.ifinfo() + rtnl.asciiz(rtnl.IFLA_IFNAME, "eth0") + rtnl.u32(rtnl.IFLA_MTU, 1450)
    peer += rtnl.mac(rtnl.IFLA_ADDRESS, "02:42:ac:11:00:02") + rtnl.u32(rtnl.IFLA_NET_NS_FD, 9)
    body = (
        rtnl.ifinfo(up=True)
        + rtnl.asciiz(rtnl.IFLA_IFNAME, "vb0123")
        + rtnl.u32(rtnl.IFLA_MTU, 1450)
    )
    body += rtnl.u32(rtnl.IFLA_MASTER, 3)
    info = [
        rtnl.asciiz(rtnl.IFLA_INFO_KIND, "veth"),
        rtnl.nested(rtnl.IFLA_INFO_DATA, [rtnl.attr(rtnl.VETH_INFO_PEER, peer)]),
    ]
    ours = frame(
        rtnl.Request(
            rtnl.RTM_NEWLINK,
            body + rtnl.nested(rtnl.IFLA_LINKINFO, info),
            rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL,
        )
    )
    peer_attrs = [
        ("IFLA_IFNAME", "eth0"),
        ("IFLA_MTU", 1450),
        ("IFLA_ADDRESS", "02:42:ac:11:00:02"),
        ("IFLA_NET_NS_FD", 9),
    ]
    theirs = pyroute2_frame(
        ifinfmsg(),
        rtnl.RTM_NEWLINK,
        CREATE,
        {"index": 0, "flags": 1, "change": 1},
        [
            ("IFLA_IFNAME", "vb0123"),
            ("IFLA_MTU", 1450),
            ("IFLA_MASTER", 3),
            (
                "IFLA_LINKINFO",
                {
                    "attrs": [
                        ("IFLA_INFO_KIND", "veth"),
                        (
                            "IFLA_INFO_DATA",
                            {
                                "attrs": [
                                    (
                                        "VETH_INFO_PEER",
                                        {"attrs": peer_attrs, "index": 0, "flags": 0, "change": 0},
                                    )
                                ]
                            },
                        ),
                    ]
                },
            ),
        ],
    )
    assert ours == theirs


def test_alias_and_retirement() -> None:
    # (bridge-port flags: pyroute2 cannot encode slave data without a kind, which the kernel
    # does not need; tests/integration/test_kernel_netlink.py reads them back from the kernel)
    body = rtnl.ifinfo() + rtnl.asciiz(rtnl.IFLA_IFNAME, "vb0")
    ours = frame(rtnl.Request(rtnl.RTM_NEWLINK, body + rtnl.asciiz(rtnl.IFLA_IFALIAS, "berth:e1")))
    theirs = pyroute2_frame(
        ifinfmsg(),
        rtnl.RTM_NEWLINK,
        ACK,
        {"index": 0, "flags": 0, "change": 0},
        [("IFLA_IFNAME", "vb0"), ("IFLA_IFALIAS", "berth:e1")],
    )
    assert ours == theirs
    retire = (
        rtnl.ifinfo(5, up=False)
        + rtnl.asciiz(rtnl.IFLA_IFNAME, "bx0")
        + rtnl.u32(rtnl.IFLA_MASTER, 0)
    )
    retire += rtnl.u32(rtnl.IFLA_GROUP, 1 << 30)
    theirs = pyroute2_frame(
        ifinfmsg(),
        rtnl.RTM_NEWLINK,
        ACK,
        {"index": 5, "flags": 0, "change": 1},
        [("IFLA_IFNAME", "bx0"), ("IFLA_MASTER", 0), ("IFLA_GROUP", 1 << 30)],
    )
    assert frame(rtnl.Request(rtnl.RTM_NEWLINK, retire)) == theirs


def test_addresses_and_routes() -> None:
    v4 = ip_address("10.1.0.2")
    body = rtnl.ifaddr(2, 24, 4) + rtnl.attr(rtnl.IFA_ADDRESS, v4.packed)
    body += rtnl.attr(rtnl.IFA_BROADCAST, ip_address("10.1.0.255").packed) + rtnl.attr(
        rtnl.IFA_LOCAL, v4.packed
    )
    theirs = pyroute2_frame(
        ifaddrmsg(),
        rtnl.RTM_NEWADDR,
        CREATE,
        {"family": 2, "prefixlen": 24, "index": 4},
        [("IFA_ADDRESS", "10.1.0.2"), ("IFA_BROADCAST", "10.1.0.255"), ("IFA_LOCAL", "10.1.0.2")],
    )
    assert (
        frame(rtnl.Request(rtnl.RTM_NEWADDR, body, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL)) == theirs
    )

    body = rtnl.rtmsg(10, 0, proto=rtnl.RTPROT_STATIC, kind=rtnl.RTN_UNICAST)
    body += rtnl.attr(rtnl.RTA_GATEWAY, ip_address("fd00::1").packed) + rtnl.u32(rtnl.RTA_OIF, 4)
    body += rtnl.u32(rtnl.RTA_PRIORITY, 50)
    theirs = pyroute2_frame(
        rtmsg(),
        rtnl.RTM_NEWROUTE,
        CREATE,
        {"family": 10, "dst_len": 0, "table": 254, "proto": 4, "scope": 0, "type": 1},
        [("RTA_GATEWAY", "fd00::1"), ("RTA_OIF", 4), ("RTA_PRIORITY", 50)],
    )
    assert (
        frame(rtnl.Request(rtnl.RTM_NEWROUTE, body, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL)) == theirs
    )


def test_dumps_ask_for_no_ack() -> None:
    request = rtnl.Request(rtnl.RTM_GETLINK, rtnl.ifinfo(), dump=True)
    _length, kind, flags, seq, _pid = struct.unpack_from("=IHHII", request.frame(3))
    assert (kind, flags, seq) == (rtnl.RTM_GETLINK, rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP, 3)


def test_replies_parse_like_pyroute2_encodes_them() -> None:
    link = pyroute2_frame(
        ifinfmsg(),
        rtnl.RTM_NEWLINK,
        0,
        {"index": 6, "flags": 0x1003, "change": 0},
        [
            ("IFLA_IFNAME", "vb0"),
            ("IFLA_ADDRESS", "02:42:AC:11:00:02"),
            ("IFLA_MTU", 1400),
            ("IFLA_LINK", 2),
            ("IFLA_MASTER", 3),
            ("IFLA_IFALIAS", "berth:e1"),
            ("IFLA_GROUP", 42),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth")]}),
        ],
    )
    ((kind, seq, payload),) = rtnl.messages(link + b"")
    assert (kind, seq) == (rtnl.RTM_NEWLINK, SEQ)
    msg = rtnl.LinkMessage.parse(payload)
    assert (msg.index, msg.flags, msg.name, msg.kind, msg.mac) == (
        6,
        0x1003,
        "vb0",
        "veth",
        "02:42:ac:11:00:02",
    )
    numbers = [
        rtnl.number(msg.attrs.get(a))
        for a in (rtnl.IFLA_MTU, rtnl.IFLA_LINK, rtnl.IFLA_MASTER, rtnl.IFLA_GROUP)
    ]
    assert numbers == [1400, 2, 3, 42]
    assert rtnl.text(msg.attrs.get(rtnl.IFLA_IFALIAS)) == "berth:e1"

    address = pyroute2_frame(
        ifaddrmsg(),
        rtnl.RTM_NEWADDR,
        0,
        {"family": 10, "prefixlen": 64, "index": 6},
        [("IFA_ADDRESS", "fd00::2")],
    )
    ((_, _, payload),) = rtnl.messages(address)
    parsed = rtnl.AddressMessage.parse(payload)
    assert (parsed.family, parsed.prefixlen, parsed.index) == (10, 64, 6)
    assert parsed.address == ip_address("fd00::2").packed

    route = pyroute2_frame(
        rtmsg(),
        rtnl.RTM_NEWROUTE,
        0,
        {"family": 2, "dst_len": 16, "table": 252, "type": 1},
        [("RTA_DST", "10.9.0.0"), ("RTA_TABLE", 1000)],
    )
    ((_, _, payload),) = rtnl.messages(route)
    parsed_route = rtnl.RouteMessage.parse(payload)
    assert (parsed_route.dst_len, parsed_route.table, parsed_route.kind) == (16, 1000, 1)
    assert parsed_route.dst == ip_address("10.9.0.0").packed


def test_an_error_keeps_its_errno_and_the_kernels_reason() -> None:
    reason = rtnl.asciiz(1, "Nexthop has invalid gateway")  # NLMSGERR_ATTR_MSG
    payload = (
        struct.pack("=i", -errno.ENETUNREACH) + struct.pack("=IHHII", 16, 24, 5, SEQ, 0) + reason
    )
    data = (
        struct.pack("=IHHII", 16 + len(payload), rtnl.NLMSG_ERROR, rtnl.NLM_F_ACK_TLVS, SEQ, 0)
        + payload
    )
    ((kind, _, body),) = rtnl.messages(data)
    error = rtnl._error(body)
    assert kind == rtnl.NLMSG_ERROR and error is not None
    assert error.errno == errno.ENETUNREACH
    assert "Nexthop has invalid gateway" in str(error)
    assert rtnl._error(struct.pack("=i", 0) + bytes(16)) is None  # an ACK


def test_a_bad_mac_is_a_value_error() -> None:
    for bad in (
        "zz",
        "02:42:ac:11:00",
        "02:42:ac:11:00:02:03",
        "02:42:ac:11:00:zz",
        "0242:ac:11:00:02:03",
    ):
        try:
            rtnl.mac(rtnl.IFLA_ADDRESS, bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")
