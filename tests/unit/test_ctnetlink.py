"""berth's ctnetlink delete requests, byte for byte: against a layout written out by hand from the
kernel headers, and against pyroute2's encoder (the oracle) for every shape berth sends."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple, nfct_msg

from berth.kernel import ctnetlink
from berth.kernel.rtnl import NLM_F_ACK, NLM_F_REQUEST, Request

SEQ = 7


def frame(body: bytes) -> bytes:
    return Request(ctnetlink.CT_DELETE, body).frame(SEQ)


def test_a_filtered_flush_is_laid_out_as_the_uapi_headers_say() -> None:
    """udp to 192.0.2.10:9999, answered by 10.0.0.2, written out without berth's helpers: every
    number below comes from linux/netlink.h, nfnetlink.h, nfnetlink_conntrack.h and
    net/netfilter/nf_internals.h (CTA_FILTER_F_*)."""

    def nla(kind: int, payload: bytes) -> bytes:
        data = struct.pack("=HH", 4 + len(payload), kind) + payload
        return data + b"\0" * (-len(data) % 4)

    orig = nla(
        1, nla(1, nla(2, bytes([192, 0, 2, 10]))) + nla(2, nla(1, b"\x11") + nla(3, b"\x27\x0f"))
    )
    reply = nla(2, nla(1, nla(1, bytes([10, 0, 0, 2]))))
    # ORIG: IP_DST (1 << 1) | PROTO_NUM (1 << 3) | PROTO_DST_PORT (1 << 5); REPLY: IP_SRC (1 << 0)
    flags = nla(1, struct.pack("=I", 0b101010)) + nla(2, struct.pack("=I", 1))
    body = struct.pack("=BBH", 2, 0, 0) + orig + reply + nla(25 | 0x8000, flags)
    header = struct.pack("=IHHII", 16 + len(body), 1 << 8 | 2, 0x1 | 0x4, SEQ, 0)
    ours = ctnetlink.flush_matching(
        socket.AF_INET,
        proto=socket.IPPROTO_UDP,
        orig_dst=IPv4Address("192.0.2.10"),
        orig_dport=9999,
        reply_src=IPv4Address("10.0.0.2"),
    )
    assert frame(ours) == header + body


def pyroute2_flush(
    family: int,
    *,
    proto: int | None = None,
    orig_dst: Any = None,
    orig_dport: int | None = None,
    reply_src: Any = None,
) -> bytes:
    kwargs: dict[str, Any] = {}
    flags: list[list[Any]] = []
    if proto is not None or orig_dst is not None:
        orig = NFCTAttrTuple(
            family=family,
            daddr=None if orig_dst is None else str(orig_dst),
            proto=proto,
            dport=orig_dport,
        )
        orig.attrs()  # sets .flags
        kwargs["tuple_orig"] = orig
        flags.append(["CTA_FILTER_ORIG_FLAGS", orig.flags])
    if reply_src is not None:
        reply = NFCTAttrTuple(family=family, saddr=str(reply_src))
        reply.attrs()
        kwargs["tuple_reply"] = reply
        flags.append(["CTA_FILTER_REPLY_FLAGS", reply.flags])
    msg = nfct_msg.create_from(**kwargs, cta_filter={"attrs": flags})
    msg["nfgen_family"] = family
    msg["header"]["type"] = ctnetlink.CT_DELETE
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
    msg["header"]["sequence_number"] = SEQ
    msg.encode()
    return bytes(msg.data)


V4 = socket.AF_INET, IPv4Address("192.0.2.10"), IPv4Address("172.17.0.2")
V6 = socket.AF_INET6, IPv6Address("2001:db8::10"), IPv6Address("fd00:17::2")
TCP, UDP, SCTP = socket.IPPROTO_TCP, socket.IPPROTO_UDP, socket.IPPROTO_SCTP


@pytest.mark.parametrize("addresses", [V4, V6], ids=["v4", "v6"])
@pytest.mark.parametrize(
    "fields",
    [
        {"reply_src": True},  # what the bridge driver sends when ports are unpublished
        {"proto": UDP},
        {"proto": TCP, "orig_dport": 8080},
        {"proto": SCTP, "orig_dst": True},
        {"orig_dst": True, "reply_src": True},
        {"proto": UDP, "orig_dst": True, "orig_dport": 53, "reply_src": True},
    ],
    ids=["reply", "proto", "port", "proto-dst", "dst-reply", "all"],
)
def test_filtered_flushes_match_pyroute2(addresses: Any, fields: dict[str, Any]) -> None:
    family, dst, src = addresses
    kwargs = dict(fields)
    if kwargs.get("orig_dst"):
        kwargs["orig_dst"] = dst
    if kwargs.get("reply_src"):
        kwargs["reply_src"] = src
    assert frame(ctnetlink.flush_matching(family, **kwargs)) == pyroute2_flush(family, **kwargs)


def test_a_whole_table_flush_is_a_bare_nfgenmsg() -> None:
    msg = nfct_msg()
    msg["nfgen_family"] = socket.AF_UNSPEC
    msg["header"]["type"] = ctnetlink.CT_DELETE
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
    msg["header"]["sequence_number"] = SEQ
    msg.encode()
    assert frame(ctnetlink.flush_all()) == bytes(msg.data)


@pytest.mark.parametrize(
    ("family", "fields", "problem"),
    [
        (socket.AF_INET, {}, "needs a protocol or an address"),
        (
            socket.AF_INET,
            {"orig_dport": 80, "reply_src": ip_address("10.0.0.2")},
            "only together with a protocol",
        ),
        (socket.AF_INET, {"reply_src": ip_address("fd00::1")}, "of family"),
        (socket.AF_INET6, {"orig_dst": ip_address("10.0.0.1")}, "of family"),
        (socket.AF_UNSPEC, {"proto": UDP}, "of family"),
    ],
)
def test_requests_the_kernel_would_misread_are_refused(
    family: int, fields: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        ctnetlink.flush_matching(family, **fields)


# --- dumps ----------------------------------------------------------------------------------


def pyroute2_entry(family: int, orig: NFCTAttrTuple, reply: NFCTAttrTuple, **extra: Any) -> Any:
    """An entry as the kernel dumps it."""
    msg = nfct_msg.create_from(tuple_orig=orig, tuple_reply=reply, **extra)
    msg["nfgen_family"] = family
    return msg


def encoded(msg: Any, kind: int, flags: int) -> bytes:
    msg["header"]["type"] = kind
    msg["header"]["flags"] = flags
    msg["header"]["sequence_number"] = SEQ
    msg.encode()
    return bytes(msg.data)


@pytest.mark.parametrize(
    "case",
    [
        (socket.AF_INET, "198.51.100.7", "192.0.2.10", "172.17.0.2", TCP),
        (socket.AF_INET6, "2001:db8:1::7", "2001:db8::10", "fd00:17::2", SCTP),
    ],
    ids=["v4-tcp", "v6-sctp"],
)
@pytest.mark.parametrize("key", [{}, {"zone": 3, "id": 0x1234}], ids=["plain", "zone-id"])
def test_dumped_entries_are_read_and_deleted_by_their_own_key(
    case: tuple[int, str, str, str, int], key: dict[str, int]
) -> None:
    family, client, published, container, proto = case
    orig = NFCTAttrTuple(family, saddr=client, daddr=published, proto=proto, sport=4, dport=80)
    reply = NFCTAttrTuple(family, saddr=container, daddr=client, proto=proto, sport=80, dport=4)
    dumped = encoded(
        pyroute2_entry(family, orig, reply, **key, status=8, timeout=120), ctnetlink.CT_GET, 2
    )
    entry = ctnetlink.parse_entry(dumped[16:])
    assert entry.proto == proto and entry.orig_dport == 80
    assert entry.orig_dst == ip_address(published).packed
    assert entry.reply_src == ip_address(container).packed
    delete = nfct_msg.create_from(tuple_orig=orig, **key)
    delete["nfgen_family"] = family
    assert frame(entry.delete_body) == encoded(
        delete, ctnetlink.CT_DELETE, NLM_F_REQUEST | NLM_F_ACK
    )


def test_a_dump_is_narrowed_to_the_original_direction() -> None:
    assert ctnetlink.dump_matching(socket.AF_INET6) == struct.pack("=BBH", 10, 0, 0)
    # a port alone cannot be filtered on: the whole family comes back
    assert ctnetlink.dump_matching(socket.AF_INET, orig_dport=53) == struct.pack("=BBH", 2, 0, 0)
    dst = IPv4Address("192.0.2.10")
    assert ctnetlink.dump_matching(
        socket.AF_INET, proto=UDP, orig_dst=dst, orig_dport=53
    ) == ctnetlink.flush_matching(socket.AF_INET, proto=UDP, orig_dst=dst, orig_dport=53)
