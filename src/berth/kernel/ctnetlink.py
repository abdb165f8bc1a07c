"""ctnetlink (nfnetlink conntrack) wire format: the deletes and dumps berth sends.

Owns: packing the bodies (nfgenmsg + attributes) of the requests berth sends: a delete of every
entry matching a filter (done inside the kernel), of a whole table, of one dumped entry, and a
(filtered) dump; and reading the few fields berth matches on out of dumped entries. ``rtnl``'s
``Request``/``RtnlSocket`` frame and carry them. Must not: open sockets, know about namespaces,
or decide when the kernel's filter can be trusted (``conntrack.py`` does: see below).

Layout (include/uapi/linux/netfilter/nfnetlink.h and nfnetlink_conntrack.h; the
CTA_FILTER_F_* bits are the kernel's, in net/netfilter/nf_internals.h)::

    nfgenmsg        u8 family (AF_INET/AF_INET6), u8 version (0), be16 res_id (0)
    CTA_TUPLE_ORIG  { CTA_TUPLE_IP { CTA_IP_V4_DST | CTA_IP_V6_DST },
                      CTA_TUPLE_PROTO { CTA_PROTO_NUM u8, CTA_PROTO_DST_PORT be16 } }
    CTA_TUPLE_REPLY { CTA_TUPLE_IP { CTA_IP_V4_SRC | CTA_IP_V6_SRC } }
    CTA_FILTER      { CTA_FILTER_ORIG_FLAGS u32, CTA_FILTER_REPLY_FLAGS u32 }

Only the fields a flush matches on are present, and the flags name exactly those. Since Linux 6.3
a delete that carries CTA_FILTER is not a lookup of one entry: ctnetlink_del_conntrack hands it
to ctnetlink_flush_conntrack, which deletes every entry of ``family`` in the socket's netns that
matches all flagged fields (nf_ct_iterate_cleanup_net), in one pass inside the kernel. The ACK
carries no count. Older kernels ignore CTA_FILTER and read the tuples as the key of one entry;
ours never hold both addresses of a direction, so those kernels answer EINVAL and delete nothing.

Kernel quirks the caller must keep in mind (ctnetlink_filter_match_tuple, up to at least 6.18):
IPv6 address flags match every address *but* the given one (``!ipv6_addr_cmp``), and port flags
are compared only on TCP and UDP entries. ``flush_matching`` packs what it is given; conntrack.py
sends it only where the kernel's answer is exact.

Nested attributes are laid out as pyroute2 lays them out (tests/unit/test_ctnetlink.py checks
byte for byte): NLA_F_NESTED only on CTA_FILTER, the one nest the kernel parses strictly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from berth.kernel.rtnl import attr, attrs, nested, u8

NETLINK_NETFILTER = 12
AF_UNSPEC, AF_INET, AF_INET6 = 0, 2, 10
# linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_DELETE = 1, 2
CT_GET = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET
CT_DELETE = NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_ID, CTA_ZONE, CTA_FILTER = 1, 2, 12, 18, 25
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC, CTA_IP_V6_DST = 1, 2, 3, 4
CTA_PROTO_NUM, CTA_PROTO_DST_PORT = 1, 3
CTA_FILTER_ORIG_FLAGS, CTA_FILTER_REPLY_FLAGS = 1, 2
# net/netfilter/nf_internals.h: which tuple fields a filter compares
CTA_FILTER_F_CTA_IP_SRC = 1 << 0
CTA_FILTER_F_CTA_IP_DST = 1 << 1
CTA_FILTER_F_CTA_PROTO_NUM = 1 << 3
CTA_FILTER_F_CTA_PROTO_DST_PORT = 1 << 5
NLA_F_NESTED = 1 << 15

_NFGENMSG = struct.Struct("=BBH")  # family, version, res_id (big endian, always 0 here)
_BE16 = struct.Struct("!H")
_U32 = struct.Struct("=I")  # the filter flags are host order (nla_get_u32)

Address = IPv4Address | IPv6Address


def nfgenmsg(family: int) -> bytes:
    return _NFGENMSG.pack(family, 0, 0)


def be16(kind: int, value: int) -> bytes:
    return attr(kind, _BE16.pack(value))


def ip_attr(kind_v4: int, kind_v6: int, address: Address) -> bytes:
    """``address`` under the attribute type of its family."""
    return attr(kind_v4 if address.version == 4 else kind_v6, address.packed)


def flush_all() -> bytes:
    """A delete of every entry of the netns, both families: no filter at all (``conntrack
    -F``); every kernel understands it."""
    return nfgenmsg(AF_UNSPEC)


def flush_matching(
    family: int,
    *,
    proto: int | None = None,
    orig_dst: Address | None = None,
    orig_dport: int | None = None,
    reply_src: Address | None = None,
) -> bytes:
    """A delete, inside the kernel, of every ``family`` entry whose original direction has
    protocol ``proto``, destination ``orig_dst`` and destination port ``orig_dport``, and whose
    reply direction comes from ``reply_src`` (the given fields only, all of them).

    ValueError when nothing is given (that is ``flush_all``), when a port comes without a
    protocol (the kernel rejects it), or when an address is not of ``family``."""
    return _filtered(family, proto, orig_dst, orig_dport, reply_src)


def dump_matching(
    family: int,
    *,
    proto: int | None = None,
    orig_dst: Address | None = None,
    orig_dport: int | None = None,
) -> bytes:
    """A dump of the ``family`` entries, narrowed by the kernel (Linux 5.8+; older kernels
    ignore the filter and dump all) to the original-direction fields given. A port without a
    protocol is left out: the kernel cannot filter on it."""
    if proto is None and orig_dst is None:
        return nfgenmsg(family)
    return _filtered(family, proto, orig_dst, orig_dport if proto is not None else None, None)


def _filtered(
    family: int,
    proto: int | None,
    orig_dst: Address | None,
    orig_dport: int | None,
    reply_src: Address | None,
) -> bytes:
    if proto is None and orig_dst is None and reply_src is None:
        raise ValueError("a filtered flush needs a protocol or an address to match")
    if orig_dport is not None and proto is None:
        raise ValueError("the kernel matches a port only together with a protocol")
    version = 4 if family == AF_INET else 6 if family == AF_INET6 else None
    if version is None or any(a.version != version for a in (orig_dst, reply_src) if a):
        raise ValueError(f"addresses must be of family {family} (AF_INET or AF_INET6)")
    orig: list[bytes] = []
    orig_flags = 0
    if orig_dst is not None:
        orig.append(nested(CTA_TUPLE_IP, [ip_attr(CTA_IP_V4_DST, CTA_IP_V6_DST, orig_dst)]))
        orig_flags |= CTA_FILTER_F_CTA_IP_DST
    if proto is not None:
        ports = [be16(CTA_PROTO_DST_PORT, orig_dport)] if orig_dport is not None else []
        orig.append(nested(CTA_TUPLE_PROTO, [u8(CTA_PROTO_NUM, proto), *ports]))
        orig_flags |= CTA_FILTER_F_CTA_PROTO_NUM
        orig_flags |= CTA_FILTER_F_CTA_PROTO_DST_PORT if ports else 0
    body = nfgenmsg(family)
    flags: list[bytes] = []
    if orig:
        body += nested(CTA_TUPLE_ORIG, orig)
        flags.append(attr(CTA_FILTER_ORIG_FLAGS, _U32.pack(orig_flags)))
    if reply_src is not None:
        ip = ip_attr(CTA_IP_V4_SRC, CTA_IP_V6_SRC, reply_src)
        body += nested(CTA_TUPLE_REPLY, [nested(CTA_TUPLE_IP, [ip])])
        flags.append(attr(CTA_FILTER_REPLY_FLAGS, _U32.pack(CTA_FILTER_F_CTA_IP_SRC)))
    return body + nested(CTA_FILTER | NLA_F_NESTED, flags)


@dataclass(frozen=True)
class Entry:
    """What berth matches a dumped entry on (addresses packed, None where absent), and the
    body of a CT_DELETE of exactly this entry (ENOENT if it went meanwhile)."""

    proto: int | None
    orig_dst: bytes | None
    orig_dport: int | None
    reply_src: bytes | None
    delete_body: bytes


def parse_entry(payload: bytes) -> Entry:
    """One message of a dump (the payload after nlmsghdr)."""
    found = attrs(payload, _NFGENMSG.size)
    orig_ip, orig_proto = _tuple(found.get(CTA_TUPLE_ORIG))
    reply_ip, _reply_proto = _tuple(found.get(CTA_TUPLE_REPLY))
    # The original tuple and the zone find the entry; the id makes sure it is the one dumped,
    # not a new one that took its tuple meanwhile (the kernel answers ENOENT then).
    delete = payload[: _NFGENMSG.size] + b"".join(
        attr(kind, found[kind]) for kind in (CTA_TUPLE_ORIG, CTA_ZONE, CTA_ID) if kind in found
    )
    number, dport = orig_proto.get(CTA_PROTO_NUM), orig_proto.get(CTA_PROTO_DST_PORT)
    return Entry(
        proto=number[0] if number else None,
        orig_dst=orig_ip.get(CTA_IP_V4_DST) or orig_ip.get(CTA_IP_V6_DST),
        orig_dport=_BE16.unpack(dport)[0] if dport is not None and len(dport) == 2 else None,
        reply_src=reply_ip.get(CTA_IP_V4_SRC) or reply_ip.get(CTA_IP_V6_SRC),
        delete_body=delete,
    )


def _tuple(value: bytes | None) -> tuple[dict[int, bytes], dict[int, bytes]]:
    """The CTA_IP_* and the CTA_PROTO_* attributes of a CTA_TUPLE_* nest."""
    nests = attrs(value, 0) if value is not None else {}
    return attrs(nests.get(CTA_TUPLE_IP, b""), 0), attrs(nests.get(CTA_TUPLE_PROTO, b""), 0)
