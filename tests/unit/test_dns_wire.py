"""DNS messages of the embedded server: answers built with dnslib (EDNS kept, truncation), the
answer cache (hits, patched ids, invalidation) and the upstream race, without sockets."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from ipaddress import ip_address

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from berth.dns.forward import Forwarder, Silent, Upstream, choose_upstreams
from berth.dns.names import EMPTY_VIEW, NameTable, NetworkNames, NxDomain, Records, View
from berth.dns.server import DnsServer, DnsSettings, SandboxDns
from berth.dns.wire import (
    MIN_UDP,
    Rejected,
    answers,
    fit_udp,
    local_answer,
    pack_within,
    parse_query,
    question_end,
    with_id,
)
from berth.events import Event


def ask(name: str, qtype: str = "A", *, edns: int | None = None, do: bool = False) -> bytes:
    record = DNSRecord.question(name, qtype)
    if edns is not None:
        record.add_ar(EDNS0(udp_len=edns, flags="do" if do else ""))
    return bytes(record.pack())


def many(n: int) -> Records:
    return Records(tuple(ip_address(f"10.0.{i // 250}.{i % 250 + 1}") for i in range(n)))


# --- wire -------------------------------------------------------------------------------------


def test_parse_query() -> None:
    query = parse_query(ask("Web.Front.", "AAAA"))
    assert query.name == "Web.Front" and query.qtype == QTYPE.AAAA
    assert query.udp_limit == MIN_UDP
    assert parse_query(ask("web", edns=1232)).udp_limit == 1232
    assert parse_query(ask("web", edns=100)).udp_limit == MIN_UDP  # never below 512
    assert parse_query(ask("web", edns=65000)).udp_limit == 4096


@pytest.mark.parametrize(
    ("data", "rcode"),
    [
        (b"\x00\x01", None),  # not even a header: dropped
        (DNSRecord.question("x").reply().pack(), None),  # a response: dropped
        (b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03we", RCODE.FORMERR),
        (b"\xab\xcd\x28\x00" + bytes(8), RCODE.NOTIMP),  # opcode UPDATE
        (b"\xab\xcd\x01\x00" + bytes(8), RCODE.FORMERR),  # no question
    ],
)
def test_rejected_messages(data: bytes, rcode: int | None) -> None:
    with pytest.raises(Rejected) as caught:
        parse_query(data)
    response = caught.value.response
    if rcode is None:
        assert response is None
    else:
        assert response is not None and response[:2] == data[:2]
        assert DNSRecord.parse(response).header.rcode == rcode


def test_local_answer_keeps_the_question_case_ttl_and_edns() -> None:
    query = parse_query(ask("WeB", edns=1232, do=True))
    reply = DNSRecord.parse(local_answer(query, Records((ip_address("10.1.0.2"),))).pack())
    assert reply.header.id == query.id and reply.header.qr and reply.header.rcode == 0
    assert [str(rr.rname) for rr in reply.rr] == ["WeB."]
    assert [(str(rr.rdata), rr.ttl) for rr in reply.rr] == [("10.1.0.2", 600)]
    (opt,) = reply.ar
    assert opt.rtype == QTYPE.OPT and opt.rclass == 1232 and opt.ttl & 0x8000  # DO kept


def test_no_edns_in_the_answer_when_the_query_had_none() -> None:
    reply = local_answer(parse_query(ask("web")), Records((ip_address("10.1.0.2"),)))
    assert reply.ar == []


def test_nodata_nxdomain_and_ptr() -> None:
    query = parse_query(ask("api", "MX"))
    nodata = DNSRecord.parse(local_answer(query, Records()).pack())
    assert nodata.header.rcode == RCODE.NOERROR and nodata.rr == []
    nx = DNSRecord.parse(local_answer(query, NxDomain()).pack())
    assert nx.header.rcode == RCODE.NXDOMAIN
    ptr_query = parse_query(ask("2.0.1.10.in-addr.arpa", "PTR"))
    ptr = DNSRecord.parse(local_answer(ptr_query, Records(pointer="web.front")).pack())
    assert [str(rr.rdata) for rr in ptr.rr] == ["web.front."]


def test_round_robin_shuffles() -> None:
    query = parse_query(ask("svc"))
    orders = {
        tuple(str(rr.rdata) for rr in local_answer(query, many(5), random.Random(seed)).rr)
        for seed in range(20)
    }
    assert len(orders) > 1 and all(len(order) == 5 for order in orders)


def test_udp_answers_are_truncated_to_512_or_the_edns_size() -> None:
    plain = parse_query(ask("svc"))
    packed = pack_within(local_answer(plain, many(60)), plain.udp_limit)
    reply = DNSRecord.parse(packed)
    assert len(packed) <= 512 and reply.header.tc and 0 < len(reply.rr) < 60
    big = parse_query(ask("svc", edns=1232))
    packed = pack_within(local_answer(big, many(60)), big.udp_limit)
    reply = DNSRecord.parse(packed)
    assert len(packed) <= 1232 and not reply.header.tc and len(reply.rr) == 60
    assert reply.ar[0].rtype == QTYPE.OPT


def test_fit_udp_cuts_an_upstream_answer() -> None:
    query = parse_query(ask("svc"))
    long = local_answer(query, many(60)).pack()
    cut = fit_udp(long, 512)
    assert len(cut) <= 512 and DNSRecord.parse(cut).header.tc
    assert fit_udp(long, 4096) == long
    garbage = long[:12] + b"\xff" * 600
    assert fit_udp(garbage, 512)[2] & 0x02  # unparseable: header alone, TC set


def test_answers_matches_id_and_question_without_case() -> None:
    query = ask("example.test")
    reply = DNSRecord.parse(query).reply()
    reply.q.qname = "EXAMPLE.test"
    assert answers(query, reply.pack())
    assert not answers(query, with_id(reply.pack(), (DNSRecord.parse(query).header.id + 1) % 65536))
    other = DNSRecord.question("other.test")
    other.header.id = DNSRecord.parse(query).header.id
    assert not answers(query, other.reply().pack())
    assert question_end(query) == 12 + len(b"\x07example\x04test\x00") + 4


# --- the server's local answers and its cache ---------------------------------------------------


@dataclass
class FakeListener:
    """What the server needs from a listener."""

    view: View
    sandbox_id: str = "s" * 64
    netns: str = "/run/netns/s"
    cache: dict[bytes, bytes] = field(default_factory=dict)
    own: SandboxDns | None = None
    hits: int = 0


def one_network(server: DnsServer, names: dict[str, tuple[str, ...]]) -> View:
    """The server's table: one network with ``names``; the view of a sandbox on it."""
    records = {k: tuple(ip_address(a) for a in v) for k, v in names.items()}
    view = View(("n" * 64,))
    server.table = NameTable({"n" * 64: NetworkNames("n" * 64, "front", names=records)})
    return view


@pytest.fixture
def server() -> DnsServer:
    return DnsServer(asyncio.new_event_loop(), DnsSettings(host_resolv_conf="/nonexistent"))


def test_cache_hit_gives_the_same_answer_with_the_new_id(server: DnsServer) -> None:
    listener = FakeListener(one_network(server, {"web": ("10.1.0.2",)}))
    first = ask("web")
    answer = server.local(listener, first, udp=True)  # type: ignore[arg-type]
    assert isinstance(answer, bytes)
    assert listener.cache == {first[2:]: answer[2:]}
    again = b"\x12\x34" + first[2:]
    hit = again[:2] + listener.cache[again[2:]]
    assert DNSRecord.parse(hit).header.id == 0x1234
    assert hit[2:] == answer[2:]


def test_what_is_not_cached(server: DnsServer) -> None:
    listener = FakeListener(one_network(server, {"svc": ("10.1.0.2", "10.1.0.3")}))
    assert isinstance(server.local(listener, ask("svc"), udp=True), bytes)  # type: ignore[arg-type]
    assert isinstance(server.local(listener, ask("svc", "MX"), udp=False), bytes)  # type: ignore[arg-type]
    forwarded = server.local(listener, ask("example.test"), udp=True)  # type: ignore[arg-type]
    assert not isinstance(forwarded, bytes) and forwarded is not None
    assert listener.cache == {}  # round robin, TCP, and forwarded answers are never cached


def test_a_change_starts_a_fresh_cache(server: DnsServer) -> None:
    """Every controller event leads to ``_invalidate`` (and a rebuild to ``_apply``), each of
    which gives listeners new, empty caches; while the table is stale nothing is answered
    from it (the question waits for the rebuild in ``forward``)."""
    listener = FakeListener(one_network(server, {"web": ("10.1.0.2",)}))
    server._listeners["s" * 64] = listener  # type: ignore[assignment]
    server.local(listener, ask("web"), udp=True)  # type: ignore[arg-type]
    old = listener.cache
    assert old
    server._generation += 1  # what publish does, then:
    server._invalidate({}, [])
    assert listener.cache == {} and listener.cache is not old and server.stale
    assert not isinstance(server.local(listener, ask("web"), udp=True), bytes)  # type: ignore[arg-type]
    old = listener.cache
    records = {"web": (ip_address("10.1.0.9"),)}
    new_view = View(("m" * 64,))
    table = NameTable({"m" * 64: NetworkNames("m" * 64, "front", names=records)})
    server._apply(NameTable(table.networks, {"s" * 64: new_view}), server._generation, {}, [])
    assert listener.cache == {} and listener.cache is not old and listener.view is new_view
    assert not server.stale
    answer = server.local(listener, ask("web"), udp=True)  # type: ignore[arg-type]
    assert isinstance(answer, bytes)
    assert [str(rr.rdata) for rr in DNSRecord.parse(answer).rr] == ["10.1.0.9"]


def test_a_sandbox_with_no_view_gets_everything_forwarded(server: DnsServer) -> None:
    listener = FakeListener(EMPTY_VIEW)
    assert not isinstance(server.local(listener, ask("web"), udp=True), bytes)  # type: ignore[arg-type]


def test_user_ndots_keeps_single_labels_home(server: DnsServer) -> None:
    listener = FakeListener(one_network(server, {}), own=SandboxDns(options=("ndots:2",)))
    answer = server.local(listener, ask("unknown"), udp=True)  # type: ignore[arg-type]
    assert isinstance(answer, bytes) and DNSRecord.parse(answer).rr == []
    dotted = server.local(listener, ask("unknown.example"), udp=True)  # type: ignore[arg-type]
    assert not isinstance(dotted, bytes)


def test_events_other_than_network_membership_are_ignored(server: DnsServer) -> None:
    server.publish(Event("container", "start", "x"))
    server.publish(Event("network", "create", "x"))  # no controller attached: nothing happens


# --- upstreams --------------------------------------------------------------------------------


def test_upstream_choice_follows_docker() -> None:
    own, daemon, host = [ip_address("10.0.0.1")], [ip_address("10.0.0.2")], [ip_address("::1")]
    pick = choose_upstreams
    assert pick(own=own, daemon=daemon, host=host, netns="/ns", external=True) == (
        Upstream(own[0], "/ns"),
    )
    assert pick(own=[], daemon=daemon, host=host, netns="/ns", external=False) == (
        Upstream(daemon[0], "/ns"),
    )
    assert pick(own=[], daemon=[], host=host, netns="/ns", external=True) == (Upstream(host[0]),)
    assert pick(own=[], daemon=[], host=host, netns="/ns", external=False) == ()
    four = [ip_address(f"10.0.1.{i}") for i in range(4)]
    assert len(pick(own=four, daemon=[], host=[], netns="/ns", external=True)) == 3
    assert str(Upstream(host[0])) == "host(::1)" and str(Upstream(own[0], "/ns")) == "10.0.0.1"


class Scripted(Forwarder):
    """Upstreams that answer (rcode, delay) as scripted, per try."""

    def __init__(self, script: dict[str, list[tuple[int | None, float]]]) -> None:
        super().__init__(timeout=0.2, tries=2)
        self.script = script
        self.calls: list[str] = []

    async def _exchange(self, query: bytes, upstream: Upstream, tcp: bool) -> bytes:
        name = str(upstream.address)
        self.calls.append(name)
        rcode, delay = self.script[name].pop(0)
        await asyncio.sleep(delay)
        if rcode is None:
            raise Silent(name)
        reply = DNSRecord.parse(query).reply()
        reply.header.rcode = rcode
        reply.add_ar(EDNS0(udp_len=1232)) if name.endswith("9") else None
        return with_id(reply.pack(), 0xBEEF)


def upstreams(*names: str) -> list[Upstream]:
    return [Upstream(ip_address(n)) for n in names]


async def test_first_good_answer_wins_and_keeps_the_client_id() -> None:
    forwarder = Scripted({"10.0.0.1": [(None, 0.1)], "10.0.0.2": [(RCODE.NOERROR, 0.01)]})
    query = ask("example.test")
    response = await forwarder.forward(query, upstreams("10.0.0.1", "10.0.0.2"), tcp=False)
    assert response[:2] == query[:2] and DNSRecord.parse(response).header.rcode == 0


async def test_servfail_from_one_does_not_end_the_race() -> None:
    forwarder = Scripted(
        {"10.0.0.1": [(RCODE.SERVFAIL, 0.0)], "10.0.0.2": [(RCODE.NXDOMAIN, 0.05)]}
    )
    response = await forwarder.forward(ask("x.test"), upstreams("10.0.0.1", "10.0.0.2"), tcp=False)
    assert DNSRecord.parse(response).header.rcode == RCODE.NXDOMAIN  # NXDOMAIN is an answer


async def test_all_refusing_is_a_failure_without_a_second_try() -> None:
    forwarder = Scripted({"10.0.0.1": [(RCODE.REFUSED, 0.0)], "10.0.0.2": [(RCODE.SERVFAIL, 0)]})
    with pytest.raises(Silent):
        await forwarder.forward(ask("x.test"), upstreams("10.0.0.1", "10.0.0.2"), tcp=False)
    assert len(forwarder.calls) == 2


async def test_silence_gets_a_second_try() -> None:
    forwarder = Scripted({"10.0.0.1": [(None, 0.0), (RCODE.NOERROR, 0.0)]})
    response = await forwarder.forward(ask("x.test"), upstreams("10.0.0.1"), tcp=False)
    assert DNSRecord.parse(response).header.rcode == 0 and len(forwarder.calls) == 2


async def test_edns_of_an_upstream_answer_is_kept() -> None:
    forwarder = Scripted({"10.0.0.9": [(RCODE.NOERROR, 0.0)]})
    response = await forwarder.forward(ask("x.test", edns=1232), upstreams("10.0.0.9"), tcp=True)
    assert DNSRecord.parse(response).ar[0].rtype == QTYPE.OPT


def test_an_unencodable_answer_is_servfail_not_a_crash(server: DnsServer) -> None:
    view = View(("n" * 64,))
    long_name = "x" * 70 + ".front"
    records = NetworkNames(
        "n" * 64, "front", pointers={ip_address("10.1.0.2"): long_name}, names={}
    )
    server.table = NameTable({"n" * 64: records})
    answer = server.local(FakeListener(view), ask("2.0.1.10.in-addr.arpa", "PTR"), udp=True)  # type: ignore[arg-type]
    assert isinstance(answer, bytes) and DNSRecord.parse(answer).header.rcode == RCODE.SERVFAIL
