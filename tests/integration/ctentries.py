"""Conntrack entries made to order in a throwaway namespace: IPCTNL_MSG_CT_NEW through ctnetlink,
many per write (``conntrack -I`` execs once per entry: 20,000 of them would take minutes), and
``conntrack -L`` as the oracle that lists them back."""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_address

from berth.kernel import ctnetlink
from berth.kernel.ctnetlink import ip_attr
from berth.kernel.netns import in_netns
from berth.kernel.rtnl import NLM_F_CREATE, NLM_F_EXCL, Request, RtnlSocket, attr, nested, u8
from tests.integration.netenv import Ns

CT_NEW = ctnetlink.NFNL_SUBSYS_CTNETLINK << 8 | 0  # IPCTNL_MSG_CT_NEW
CTA_TIMEOUT, CTA_PROTO_SRC_PORT = 7, 2
PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "sctp": socket.IPPROTO_SCTP}
_BATCH = 100  # requests per write: ACKs take ~800 bytes of the 212 KiB receive buffer each


@dataclass(frozen=True)
class Flow:
    """One conntrack entry: ``orig_src:sport -> orig_dst:dport``, answered from
    ``reply_src:dport`` (a DNAT when reply_src is not orig_dst)."""

    proto: str
    orig_src: str
    orig_dst: str
    sport: int
    dport: int
    reply_src: str


def _tuple(kind: int, flow: Flow) -> bytes:
    """The original tuple of ``flow``, or (CTA_TUPLE_REPLY) its reply: from reply_src, back to
    the original source, ports swapped."""
    if kind == ctnetlink.CTA_TUPLE_ORIG:
        src, dst, sport, dport = flow.orig_src, flow.orig_dst, flow.sport, flow.dport
    else:
        src, dst, sport, dport = flow.reply_src, flow.orig_src, flow.dport, flow.sport
    ips = [
        ip_attr(ctnetlink.CTA_IP_V4_SRC, ctnetlink.CTA_IP_V6_SRC, ip_address(src)),
        ip_attr(ctnetlink.CTA_IP_V4_DST, ctnetlink.CTA_IP_V6_DST, ip_address(dst)),
    ]
    ports = [
        u8(ctnetlink.CTA_PROTO_NUM, PROTOCOLS[flow.proto]),
        ctnetlink.be16(CTA_PROTO_SRC_PORT, sport),
        ctnetlink.be16(ctnetlink.CTA_PROTO_DST_PORT, dport),
    ]
    return nested(
        kind, [nested(ctnetlink.CTA_TUPLE_IP, ips), nested(ctnetlink.CTA_TUPLE_PROTO, ports)]
    )


def new_entry(flow: Flow, timeout: int = 600, zone: int = 0) -> Request:
    family = ctnetlink.AF_INET if ip_address(flow.orig_src).version == 4 else ctnetlink.AF_INET6
    body = ctnetlink.nfgenmsg(family)
    body += _tuple(ctnetlink.CTA_TUPLE_ORIG, flow) + _tuple(ctnetlink.CTA_TUPLE_REPLY, flow)
    body += attr(CTA_TIMEOUT, struct.pack("!I", timeout))
    body += ctnetlink.be16(ctnetlink.CTA_ZONE, zone) if zone else b""
    return Request(CT_NEW, body, NLM_F_CREATE | NLM_F_EXCL)


def insert(ns: Ns, flows: Iterable[Flow], zone: int = 0) -> None:
    """Create every flow's entry in ``ns`` (in conntrack ``zone``); raises the first error."""
    with in_netns(ns.path):
        sock = RtnlSocket(ctnetlink.NETLINK_NETFILTER)
    try:
        requests = [new_entry(flow, zone=zone) for flow in flows]
        for start in range(0, len(requests), _BATCH):
            for error, _ in sock.request(*requests[start : start + _BATCH]):
                if error is not None:
                    raise error
    finally:
        sock.close()


_LINE = re.compile(
    r"^(\w+)\s+\d+\s+\d+\s+(?:\w+\s+)?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)"
    r".*? src=(\S+) dst=\S+ sport=\d+ dport=\d+"
)


def listed(ns: Ns) -> set[Flow]:
    """The entries of ``ns``, both families, as ``conntrack -L`` shows them."""
    flows = set()
    for family in ("ipv4", "ipv6"):
        out = ns.run("conntrack", "-L", "-f", family, check=False).stdout
        for line in out.splitlines():
            found = _LINE.match(line)
            if found:
                proto, src, dst, sport, dport, reply_src = found.groups()
                flows.add(Flow(proto, src, dst, int(sport), int(dport), reply_src))
    return flows


def count(ns: Ns) -> int:
    """How many entries ``ns`` holds (``conntrack -C``)."""
    return int(ns.run("conntrack", "-C").stdout.strip() or 0)
