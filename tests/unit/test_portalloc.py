"""Host-port allocation: fixed, ranged and ephemeral ports, conflicts, families."""

import errno
import random
from ipaddress import ip_address

import pytest

from berth.controller.portalloc import (
    PortAllocator,
    PortContext,
    PortTable,
    parse_port_range,
    parse_reserved_ports,
    requested_mappings,
)
from berth.model.errors import (
    InvalidAddress,
    InvalidParameter,
    KernelError,
    NoAvailablePort,
    PortInUse,
)
from berth.model.ports import PortMapping, PublishedPort, parse_port_spec

V4 = ip_address("0.0.0.0")
V6 = ip_address("::")
LO = ip_address("127.0.0.1")


def alloc(specs, table=None, ctx=None, busy=(), seed=1):  # type: ignore[no-untyped-def]
    mappings = [m for s in specs for m in parse_port_spec(s)]
    allocator = PortAllocator(
        table or PortTable(),
        lambda proto, ip, port: (proto, port) in busy,
        ctx or PortContext(),
        random.Random(seed),
    )
    return allocator.allocate(mappings, "endpoint web on network front")


def test_fixed_port_on_default_wildcard() -> None:
    assert alloc(["8080:80"]) == (PublishedPort("tcp", V4, 8080, 80),)


def test_dual_stack_endpoint_publishes_on_both_wildcards() -> None:
    got = alloc(["8080:80"], ctx=PortContext(has_v6=True))
    assert got == (PublishedPort("tcp", V4, 8080, 80), PublishedPort("tcp", V6, 8080, 80))


def test_specific_ipv6_needs_ipv6_endpoint() -> None:
    with pytest.raises(InvalidParameter, match="has no IPv6 address"):
        alloc(["[::1]:8080:80"])


def test_conflict_with_berth_binding_names_holder() -> None:
    table = PortTable()
    table.add(PublishedPort("tcp", V4, 8080, 80), "endpoint db on network back")
    with pytest.raises(PortInUse, match=r"0\.0\.0\.0:8080/tcp.*endpoint db on network back"):
        alloc(["8080:80"], table=table)
    with pytest.raises(PortInUse):
        alloc(["127.0.0.1:8080:80"], table=table)  # wildcard covers every v4 address
    assert alloc(["8080:80/udp"], table=table)  # other protocol is free


def test_specific_address_blocks_wildcard() -> None:
    table = PortTable()
    table.add(PublishedPort("tcp", LO, 8080, 80), "x")
    with pytest.raises(PortInUse):
        alloc(["8080:80"], table=table)
    assert alloc(["127.0.0.2:8080:80"], table=table)


def test_listening_socket_is_refused() -> None:
    with pytest.raises(PortInUse, match="another program on the host"):
        alloc(["8080:80"], busy={("tcp", 8080)})


def test_range_picks_first_free() -> None:
    got = alloc(["8000-8010:80"], busy={("tcp", 8000), ("tcp", 8001)})
    assert got == (PublishedPort("tcp", V4, 8002, 80),)


def test_range_exhausted() -> None:
    with pytest.raises(NoAvailablePort, match="8000-8001"):
        alloc(["8000-8001:80"], busy={("tcp", 8000), ("tcp", 8001)})


def test_same_request_cannot_take_a_port_twice() -> None:
    with pytest.raises(PortInUse):
        alloc(["8080:80", "8080:81"])


def test_ephemeral_ports_are_distinct_and_in_range() -> None:
    ctx = PortContext(ephemeral=(40000, 40009), reserved=frozenset({40003}))
    got = alloc([f"{p}" for p in range(80, 89)], ctx=ctx)
    ports = [b.host_port for b in got]
    assert len(set(ports)) == 9
    assert all(40000 <= p <= 40009 and p != 40003 for p in ports)
    with pytest.raises(NoAvailablePort, match="ephemeral range 40000-40009"):
        alloc([f"{p}" for p in range(80, 90)], ctx=ctx)


def test_not_a_host_address() -> None:
    def probe(proto, ip, port):  # type: ignore[no-untyped-def]
        raise KernelError("bind", OSError(errno.EADDRNOTAVAIL, "Cannot assign"))

    allocator = PortAllocator(PortTable(), probe, PortContext())
    with pytest.raises(InvalidAddress, match=r"10\.9\.9\.9"):
        allocator.allocate(parse_port_spec("10.9.9.9:80:80"), "x")


def test_publish_all_adds_unmapped_exposed_ports() -> None:
    explicit = parse_port_spec("8080:80")
    got = requested_mappings(explicit, [(80, "tcp"), (53, "udp")], publish_all=True)
    assert got == [*explicit, PortMapping(53, "udp")]
    assert requested_mappings(explicit, [(53, "udp")], publish_all=False) == list(explicit)


def test_proc_formats() -> None:
    assert parse_port_range("32768\t60999\n") == (32768, 60999)
    assert parse_reserved_ports("") == frozenset()
    assert parse_reserved_ports("8080,9000-9002\n") == {8080, 9000, 9001, 9002}
