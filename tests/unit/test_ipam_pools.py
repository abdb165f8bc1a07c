"""Predefined pools: parsing, Docker's defaults, the per-host ULA, first-fit selection."""

from __future__ import annotations

import time
from ipaddress import IPv4Network, IPv6Network, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.ipam.api import IPNetwork
from berth.ipam.pools import (
    GLOBAL_DEFAULTS,
    LOCAL_DEFAULTS,
    PredefinedPool,
    first_fit,
    parse_subnet,
    ula_pool,
)
from berth.model.errors import InvalidOption, InvalidSubnet


def net(text: str) -> IPNetwork:
    return ip_network(text)


def pool(base: str, size: int) -> PredefinedPool:
    return PredefinedPool(net(base), size)


# --- PredefinedPool ---------------------------------------------------------------------------


def test_size_must_lie_between_base_prefix_and_address_length() -> None:
    with pytest.raises(InvalidOption, match=r"172\.80\.0\.0/16.*size must be between"):
        pool("172.80.0.0/16", 8)
    with pytest.raises(InvalidOption, match="/32"):
        pool("172.80.0.0/16", 33)
    assert pool("172.80.0.0/16", 16).count == 1
    assert pool("fd00::/48", 64).count == 65536


@pytest.mark.parametrize(
    "value",
    [
        {"base": "172.80.0.0/16", "size": 24},
        {"base": "172.80.0.0/16", "size": "24"},
        "base=172.80.0.0/16,size=24",
        " base = 172.80.0.0/16 , size = 24 ",
        "size=24,base=172.80.0.0/16",
    ],
)
def test_parse_docker_forms(value: dict[str, object] | str) -> None:
    assert PredefinedPool.parse(value) == pool("172.80.0.0/16", 24)


def test_parse_ipv6_pool() -> None:
    assert PredefinedPool.parse("base=fd00:1::/56,size=64") == pool("fd00:1::/56", 64)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("base=172.80.0.1/16,size=24", r"host bits set, did you mean 172\.80\.0\.0/16"),
        ("base=172.80.0.0/16", "'size' must be a prefix length"),
        ({"base": "172.80.0.0/16", "size": True}, "'size' must be a prefix length"),
        ({"size": 24}, "'base' must be a CIDR string"),
        ("base=172.80.0.0/16,size=24,extra=1", "unexpected key"),
        ("base172.80.0.0/16,size=24", "not key=value"),
        ("base=nonsense,size=24", "not a valid pool base"),
        ("base=172.80.0.0/16,size=8", "size must be between"),
    ],
)
def test_parse_rejects_bad_pools(value: dict[str, object] | str, match: str) -> None:
    with pytest.raises((InvalidOption, InvalidSubnet), match=match):
        PredefinedPool.parse(value)


def test_parse_subnet_refuses_host_bits_and_missing_prefix() -> None:
    assert parse_subnet("10.1.0.0/16") == net("10.1.0.0/16")
    assert parse_subnet("2001:db8::/64") == net("2001:db8::/64")
    with pytest.raises(InvalidSubnet, match=r"'10\.1\.2\.3/16'.*did you mean 10\.1\.0\.0/16"):
        parse_subnet("10.1.2.3/16")
    with pytest.raises(InvalidSubnet, match="needs a prefix length"):
        parse_subnet("10.1.0.0")
    with pytest.raises(InvalidSubnet, match="ip range has host bits"):
        parse_subnet("2001:db8::1/64", "ip range")


# --- defaults and ULA ------------------------------------------------------------------------


def test_docker_default_pools() -> None:
    assert [(str(p.base), p.size) for p in LOCAL_DEFAULTS] == [
        ("172.17.0.0/16", 16),
        ("172.18.0.0/16", 16),
        ("172.19.0.0/16", 16),
        ("172.20.0.0/14", 16),
        ("172.24.0.0/14", 16),
        ("172.28.0.0/14", 16),
        ("192.168.0.0/16", 20),
    ]
    assert sum(p.count for p in LOCAL_DEFAULTS) == 31
    assert [(str(p.base), p.size) for p in GLOBAL_DEFAULTS] == [("10.0.0.0/8", 24)]


@pytest.mark.parametrize(
    ("host_id", "base"),
    [  # the vectors of moby's TestDeriveULABaseNetwork
        ("", "fd42:98fc:1c14::/48"),
        ("499d4bc0-b0b3-416f-b1ee-cf6486315593", "fd62:fb69:18af::/48"),
    ],
)
def test_ula_pool_matches_docker(host_id: str, base: str) -> None:
    assert ula_pool(host_id) == pool(base, 64)


# --- first fit --------------------------------------------------------------------------------


def test_first_fit_walks_pools_in_order() -> None:
    pools = LOCAL_DEFAULTS
    assert first_fit(pools, []) == net("172.17.0.0/16")
    assert first_fit(pools, [net("172.17.0.0/16")]) == net("172.18.0.0/16")
    sixteens = [net(f"172.{n}.0.0/16") for n in range(17, 32)]
    assert first_fit(pools, sixteens) == net("192.168.0.0/20")
    assert first_fit(pools, [*sixteens, net("192.168.0.0/20")]) == net("192.168.16.0/20")


def test_first_fit_keeps_the_configured_order() -> None:
    pools = [pool("10.200.0.0/16", 24), pool("10.100.0.0/16", 24)]
    assert first_fit(pools, []) == net("10.200.0.0/24")


def test_exclude_avoids_host_prefixes_but_ignores_default_routes() -> None:
    excluded = [net("0.0.0.0/0"), net("172.17.0.1/32"), net("::/0"), net("fd00::/8")]
    assert first_fit(LOCAL_DEFAULTS, [], excluded) == net("172.18.0.0/16")


def test_partial_overlap_skips_only_the_touched_subnets() -> None:
    pools = [pool("192.168.0.0/16", 20)]
    assert first_fit(pools, [net("192.168.0.0/24")]) == net("192.168.16.0/20")
    assert first_fit(pools, [net("192.168.16.0/20")]) == net("192.168.0.0/20")
    assert first_fit(pools, [net("192.168.0.0/19"), net("192.168.40.0/22")]) == net(
        "192.168.48.0/20"
    )


def test_a_prefix_bigger_than_the_pool_covers_it() -> None:
    pools = [pool("172.20.0.0/14", 16), pool("192.168.0.0/16", 20)]
    assert first_fit(pools, [net("172.16.0.0/12")]) == net("192.168.0.0/20")
    assert first_fit(pools, [net("172.16.0.0/12"), net("192.168.0.0/16")]) is None


def test_families_do_not_block_each_other() -> None:
    pools = [pool("fd00:1::/48", 64)]
    assert first_fit(pools, [net("10.0.0.0/8")]) == net("fd00:1::/64")


def test_selection_jumps_instead_of_enumerating() -> None:
    """Taken prefixes are jumped over: fd00::/16 split into /64s has 2**48 candidates, so
    enumerating them one by one would never finish."""
    assert first_fit(GLOBAL_DEFAULTS, [net("10.0.0.0/9")], [net("10.128.0.0/10")]) == net(
        "10.192.0.0/24"
    )
    assert first_fit(GLOBAL_DEFAULTS, [net("10.0.0.0/8")]) is None
    ula = ula_pool("host")
    first_half = IPv6Network((int(ula.base.network_address), 49))
    second_half = IPv6Network((int(first_half.broadcast_address) + 1, 64))
    assert first_fit([ula], [first_half]) == second_half
    huge = [pool("fd00::/16", 64)]
    started = time.perf_counter()
    assert first_fit(huge, [net("fd00::/17")], [net("fd00:8000::/18")]) == net("fd00:c000::/64")
    assert first_fit(huge, [net("fd00::/16")]) is None
    assert time.perf_counter() - started < 1.0


def test_selection_is_linear_in_the_taken_prefixes() -> None:
    taken = [IPv4Network((0x0A000000 + (i << 8), 24)) for i in range(65535)]
    started = time.perf_counter()
    assert first_fit(GLOBAL_DEFAULTS, taken) == net("10.255.255.0/24")
    assert time.perf_counter() - started < 2.0


_SPACE = ip_network("10.0.0.0/20")


@st.composite
def _prefixes(draw: st.DrawFn) -> IPNetwork:
    length = draw(st.integers(18, 28))
    start = int(_SPACE.network_address) - (1 << 12)
    address = draw(st.integers(start, start + (1 << 14) - 1))
    return IPv4Network((address >> (32 - length) << (32 - length), length))


@given(
    pools=st.lists(
        st.tuples(st.sampled_from(list(_SPACE.subnets(new_prefix=22))), st.integers(22, 26)),
        min_size=1,
        max_size=4,
    ),
    allocated=st.lists(_prefixes(), max_size=12),
    excluded=st.lists(_prefixes(), max_size=4),
)
@settings(max_examples=300, deadline=None)
def test_first_fit_equals_brute_force(
    pools: list[tuple[IPv4Network, int]],
    allocated: list[IPNetwork],
    excluded: list[IPNetwork],
) -> None:
    predefined = [PredefinedPool(base, size) for base, size in pools]
    taken = allocated + excluded
    expected = next(
        (
            candidate
            for p in predefined
            for candidate in p.base.subnets(new_prefix=p.size)
            if not any(candidate.overlaps(t) for t in taken)
        ),
        None,
    )
    assert first_fit(predefined, allocated, excluded) == expected
