"""DNS messages for the embedded server: parsing queries and packing answers with dnslib, and the
few byte-level operations the hot path needs without a parse (ID, rcode, TC bit, question).

No sockets here. Two things dnslib leaves to us: ``DNSRecord.reply()`` drops the query's EDNS
OPT record (we add one back, with the client's UDP size and DO bit, RFC 6891 6.1.1), and UDP
answers longer than the client accepts (512 bytes, or its EDNS size) must be cut down with the
TC bit set so that it retries over TCP (RFC 2181 9, RFC 1035 4.2.1).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from dnslib import AAAA, EDNS0, PTR, QTYPE, RCODE, RR, A, DNSError, DNSRecord

from berth.dns.names import TTL, Answer, NxDomain, Records

HEADER = 12
MIN_UDP = 512  # RFC 1035: the UDP limit without EDNS
MAX_UDP = 4096  # what we send over UDP at most, whatever a client advertises
OPCODE_QUERY = 0
_QR, _TC = 0x80, 0x02


class Rejected(Exception):
    """A message we do not answer normally: ``response`` is what to send back (FORMERR,
    NOTIMP), or None to drop it silently (not even a header, or itself a response)."""

    def __init__(self, response: bytes | None) -> None:
        super().__init__("rejected query")
        self.response = response


@dataclass(frozen=True)
class Query:
    record: DNSRecord
    name: str  # the question's name as text, as asked (case kept), no trailing dot
    qtype: int
    udp_limit: int  # the largest UDP answer this client accepts
    qclass: int = 1  # IN

    @property
    def id(self) -> int:
        return int(self.record.header.id)


def parse_query(data: bytes) -> Query:
    """A query with exactly one question, or ``Rejected``."""
    if len(data) < HEADER or data[2] & _QR:
        raise Rejected(None)
    try:
        record = DNSRecord.parse(data)
    except (DNSError, UnicodeDecodeError, ValueError):
        raise Rejected(header_only(data, RCODE.FORMERR)) from None
    if record.header.opcode != OPCODE_QUERY:
        raise Rejected(header_only(data, RCODE.NOTIMP))
    if len(record.questions) != 1:
        raise Rejected(header_only(data, RCODE.FORMERR))
    question = record.q
    name = b".".join(question.qname.label).decode("ascii", "replace")
    return Query(record, name, int(question.qtype), _udp_limit(record), int(question.qclass))


def _udp_limit(record: DNSRecord) -> int:
    for rr in record.ar:
        if rr.rtype == QTYPE.OPT:
            return min(max(int(rr.rclass), MIN_UDP), MAX_UDP)
    return MIN_UDP


def header_only(data: bytes, rcode: int) -> bytes:
    """An answer made of the header alone: the query's id, opcode and RD bit."""
    flags = _QR | (data[2] & 0x79)  # opcode and RD
    return data[:2] + bytes((flags, 0x80 | rcode)) + bytes(8)  # RA; no records


def reply_to(query: Query, rcode: int = 0) -> DNSRecord:
    """An empty answer to ``query`` with its EDNS OPT record kept (dnslib's reply() drops it)."""
    reply = query.record.reply()
    reply.header.rcode = rcode
    for rr in query.record.ar:
        if rr.rtype == QTYPE.OPT:
            flags = "do" if int(rr.ttl) & 0x8000 else ""
            reply.add_ar(EDNS0(udp_len=min(int(rr.rclass), MAX_UDP), flags=flags))
            break
    return reply


def local_answer(query: Query, answer: Answer, rng: random.Random | None = None) -> DNSRecord:
    """The answer to ``query`` from the name table; several addresses are shuffled with
    ``rng`` (round robin), none is NODATA."""
    if isinstance(answer, NxDomain):
        return reply_to(query, RCODE.NXDOMAIN)
    assert isinstance(answer, Records)
    reply = reply_to(query)
    qname = query.record.q.qname  # the owner name exactly as asked (0x20 case randomisation)
    if answer.pointer is not None:
        reply.add_answer(RR(qname, QTYPE.PTR, rdata=PTR(answer.pointer + "."), ttl=TTL))
        return reply
    addresses = list(answer.addresses)
    if len(addresses) > 1:
        (rng or random).shuffle(addresses)
    for address in addresses:
        if address.version == 4:
            reply.add_answer(RR(qname, QTYPE.A, rdata=A(str(address)), ttl=TTL))
        else:
            reply.add_answer(RR(qname, QTYPE.AAAA, rdata=AAAA(str(address)), ttl=TTL))
    return reply


def error_answer(query: Query, rcode: int) -> bytes:
    return bytes(reply_to(query, rcode).pack())


def pack_within(record: DNSRecord, limit: int) -> bytes:
    """``record`` packed in at most ``limit`` bytes: records dropped from the end (the OPT
    record kept) and TC set when it does not fit."""
    packed = bytes(record.pack())  # dnslib packs into a bytearray
    if len(packed) <= limit:
        return packed
    record.header.tc = 1
    record.auth = []
    record.ar = [rr for rr in record.ar if rr.rtype == QTYPE.OPT]
    while True:
        packed = bytes(record.pack())
        if len(packed) <= limit or not record.rr:
            return packed
        record.rr.pop()


def fit_udp(response: bytes, limit: int) -> bytes:
    """An upstream's answer cut down for a UDP client that accepts ``limit`` bytes."""
    if len(response) <= limit:
        return response
    try:
        return pack_within(DNSRecord.parse(response), limit)
    except (DNSError, UnicodeDecodeError, ValueError):
        flags = response[2] | _TC
        return response[:2] + bytes((flags, response[3])) + bytes(8)


# --- bytes, without parsing -------------------------------------------------------------------


def with_id(message: bytes, ident: int | bytes) -> bytes:
    """``message`` with its ID replaced (a number, or the two bytes of another message's)."""
    prefix = struct.pack("!H", ident) if isinstance(ident, int) else bytes(ident)
    return prefix + message[2:]


def rcode_of(message: bytes) -> int:
    return message[3] & 0x0F


def truncated(message: bytes) -> bool:
    return bool(message[2] & _TC)


def question_end(query: bytes) -> int:
    """Offset just past the (single, uncompressed) question of a query we parsed."""
    offset = HEADER
    while query[offset]:
        offset += query[offset] + 1
    return offset + 5  # the root label, QTYPE, QCLASS


def answers(query: bytes, response: bytes) -> bool:
    """Is ``response`` an answer to ``query``: same id, QR set, same question (names compared
    without case: upstreams may echo it differently)?"""
    end = question_end(query)
    return (
        len(response) >= end
        and response[:2] == query[:2]
        and bool(response[2] & _QR)
        and response[HEADER:end].lower() == query[HEADER:end].lower()
    )
