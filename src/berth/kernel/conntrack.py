"""conntrack entries through ctnetlink (pyroute2's ``Conntrack``), in-process.

Owns: deleting the conntrack entries of a netns that match a published port or an address, so
that flows set up before a rule change (UDP especially) stop using the old DNAT. Must not: exec
``conntrack``, or flush anything not matching every given field.

The netfilter netlink socket is created inside ``in_netns`` and handed to pyroute2 by fd: a
pyroute2 socket object opens its socket lazily in the thread that first uses it, in whatever netns
that thread is in, so it must never be allowed to open one itself.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

from pyroute2.conntrack import Conntrack
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

from berth.kernel.api import IPAddress, NsRef, Proto
from berth.kernel.netns import in_netns
from berth.model.errors import KernelError

NETLINK_NETFILTER = 12
_PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "sctp": socket.IPPROTO_SCTP}


class NetlinkConntrack:
    """``Conntrack`` for one host netns (``host_ns`` path, or None for the calling thread's)."""

    def __init__(self, host_ns: str | None = None) -> None:
        self._host_ns = host_ns

    def flush(
        self,
        ns: NsRef,
        *,
        proto: Proto | None = None,
        orig_dst: IPAddress | None = None,
        orig_dport: int | None = None,
        reply_src: IPAddress | None = None,
    ) -> int:
        versions = {a.version for a in (orig_dst, reply_src) if a is not None}
        if len(versions) > 1:
            return 0  # an entry has one family: nothing can match both
        families = [socket.AF_INET if v == 4 else socket.AF_INET6 for v in versions or (4, 6)]
        match = _Match(proto, orig_dst, orig_dport, reply_src)
        where = ns or self._host_ns or "the host netns"
        try:
            return sum(self._flush_family(ns, family, match) for family in families)
        except NetlinkError as err:
            raise KernelError(f"flush conntrack entries {match} in {where}", err) from err

    def _flush_family(self, ns: NsRef, family: int, match: _Match) -> int:
        ct = Conntrack(nfgen_family=family, fileno=self._open_socket(ns))
        try:
            deleted = 0
            for entry in list(_dump(ct, family, match)):
                try:
                    ct.entry("del", tuple_orig=entry.tuple_orig, zone=entry.zone)
                except NetlinkError as err:
                    if err.code != errno.ENOENT:  # expired meanwhile
                        raise
                    continue
                deleted += 1
            return deleted
        finally:
            ct.close()

    def _open_socket(self, ns: NsRef) -> int:
        target = ns if ns is not None else self._host_ns
        with in_netns(target):
            try:
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_NETFILTER)
            except OSError as err:
                raise KernelError(f"open a conntrack socket in {target}", err) from err
        return sock.detach()  # pyroute2 owns (and closes) the fd from now on


class _Match:
    def __init__(
        self,
        proto: Proto | None,
        orig_dst: IPAddress | None,
        orig_dport: int | None,
        reply_src: IPAddress | None,
    ) -> None:
        self.proto = None if proto is None else _PROTOCOLS[proto]
        self.orig_dst, self.orig_dport, self.reply_src = orig_dst, orig_dport, reply_src

    def kernel_filter(self, family: int) -> NFCTAttrTuple | None:
        """The part of the match the kernel can filter on (ports only with a protocol)."""
        if self.proto is None and self.orig_dst is None:
            return None
        return NFCTAttrTuple(
            family=family,
            proto=self.proto,
            daddr=None if self.orig_dst is None else str(self.orig_dst),
            dport=self.orig_dport if self.proto is not None else None,
        )

    def __call__(self, entry: Any) -> bool:
        orig, reply = entry.tuple_orig, entry.tuple_reply
        return (
            (self.proto is None or orig.proto == self.proto)
            and (self.orig_dst is None or _same(orig.daddr, self.orig_dst))
            and (self.orig_dport is None or orig.dport == self.orig_dport)
            and (self.reply_src is None or _same(reply.saddr, self.reply_src))
        )

    def __str__(self) -> str:
        fields = {
            "proto": self.proto,
            "orig_dst": self.orig_dst,
            "orig_dport": self.orig_dport,
            "reply_src": self.reply_src,
        }
        return " ".join(f"{k}={v}" for k, v in fields.items() if v is not None) or "(all)"


def _dump(ct: Any, family: int, match: _Match) -> Iterator[Any]:
    for entry in ct.dump_entries(tuple_orig=match.kernel_filter(family)):
        if match(entry):
            yield entry


def _same(value: str | None, address: IPAddress) -> bool:
    return value is not None and ip_address(value) == address
