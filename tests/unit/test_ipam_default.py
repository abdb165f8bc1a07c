"""The default IPAM driver: Docker's rules and errors, over both stores."""

from __future__ import annotations

import re
from collections.abc import Iterator
from ipaddress import ip_address, ip_interface, ip_network
from pathlib import Path
from typing import Any

import pytest

from berth.ipam.api import IPAddress, IPNetwork, PoolRequest
from berth.ipam.bitmap import Bitmap
from berth.ipam.default import DefaultIpam
from berth.ipam.pools import PredefinedPool, ula_pool
from berth.model.errors import (
    AddressInUse,
    AddressOutOfRange,
    InvalidAddress,
    InvalidOption,
    InvalidSubnet,
    NoAvailableAddress,
    PoolNotFound,
    PoolOverlap,
    PoolsExhausted,
    StoreError,
)
from berth.model.network import AllocatedPool
from berth.store.api import Store
from berth.store.memory import MemoryStore
from berth.store.sqlite import SqliteStore

HOST_ID = "test-host"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    st: Store = MemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path / "s.db"))
    yield st
    st.close()


class Harness:
    """One store transaction per call, as the controller does."""

    def __init__(self, store: Store, ipam: DefaultIpam | None = None) -> None:
        self.store = store
        self.ipam = ipam or DefaultIpam(host_id=HOST_ID)

    def pool(self, owner: str = "net", **kw: Any) -> AllocatedPool:
        with self.store.write() as txn:
            return self.ipam.request_pool(txn, PoolRequest(owner=owner, **kw))

    def addr(self, pool: AllocatedPool, address: str | None = None) -> str:
        wanted = None if address is None else ip_address(address)
        with self.store.write() as txn:
            return str(self.ipam.request_address(txn, pool.pool_id, wanted))

    def release(self, pool: AllocatedPool, address: str) -> None:
        with self.store.write() as txn:
            self.ipam.release_address(txn, pool.pool_id, ip_address(address))

    def release_pool(self, pool: AllocatedPool) -> None:
        with self.store.write() as txn:
            self.ipam.release_pool(txn, pool.pool_id)

    def docs(self) -> list[dict[str, Any]]:
        with self.store.read() as txn:
            return txn.list("ipam_pool")

    def taken(self, pool: AllocatedPool) -> list[str]:
        """Every address set in the pool's stored bitmap."""
        with self.store.read() as txn:
            doc = txn.get("ipam_pool", pool.pool_id)
        assert doc is not None
        bitmap = Bitmap.from_json(doc["bitmap"])
        base = pool.subnet.network_address
        return [str(base + o) for a, b in bitmap.runs() for o in range(a, b + 1)]


@pytest.fixture
def h(store: Store) -> Harness:
    return Harness(store)


def net(text: str) -> IPNetwork:
    return ip_network(text)


def ip(text: str) -> IPAddress:
    return ip_address(text)


# --- Docker parity: automatic pools ------------------------------------------------------------


def test_first_networks_get_docker_subnets_and_gateways(h: Harness) -> None:
    first = h.pool("one")
    assert (first.subnet, first.gateway) == (net("172.17.0.0/16"), ip("172.17.0.1"))
    assert h.pool("two").subnet == net("172.18.0.0/16")
    assert [h.addr(first), h.addr(first)] == ["172.17.0.2/16", "172.17.0.3/16"]


def test_docker0_on_the_host_is_skipped(h: Harness) -> None:
    pool = h.pool("one", exclude=[net("172.17.0.0/16"), net("0.0.0.0/0")])
    assert pool.subnet == net("172.18.0.0/16")


def test_31_networks_then_exhaustion(h: Harness) -> None:
    subnets = [str(h.pool(f"n{i}").subnet) for i in range(31)]
    assert subnets[:3] == ["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"]
    assert subnets[14] == "172.31.0.0/16"
    assert subnets[15:17] == ["192.168.0.0/20", "192.168.16.0/20"]
    assert subnets[-1] == "192.168.240.0/20"
    with pytest.raises(PoolsExhausted, match=r"IPv4 pool among 31 candidate"):
        h.pool("n31")


def test_freed_subnets_are_reused(h: Harness) -> None:
    pools = [h.pool(f"n{i}") for i in range(3)]
    h.release_pool(pools[1])
    assert h.pool("again").subnet == net("172.18.0.0/16")
    assert h.pool("next").subnet == net("172.20.0.0/16")


def test_user_subnets_steer_automatic_ones(h: Harness) -> None:
    h.pool("user", subnet=net("172.17.5.0/24"))
    assert h.pool("auto").subnet == net("172.18.0.0/16")


def test_user_subnets_never_overlap(h: Harness) -> None:
    h.pool("a", subnet=net("10.1.0.0/16"))
    h.pool("b", subnet=net("10.2.0.0/24"))
    for subnet in ("10.1.2.0/24", "10.0.0.0/8", "10.1.0.0/16"):
        with pytest.raises(PoolOverlap, match=rf"{subnet} overlaps with the pool of network a"):
            h.pool("c", subnet=net(subnet))
    with pytest.raises(PoolOverlap) as err:
        h.pool("c", subnet=net("10.2.0.128/25"))
    assert (err.value.subnet, err.value.other) == ("10.2.0.128/25", "b")
    assert len(h.docs()) == 2


def test_address_spaces_are_independent(h: Harness) -> None:
    glob = h.pool("overlay", address_space="global")
    assert glob.subnet == net("10.0.0.0/24")
    assert h.pool("overlay2", address_space="global").subnet == net("10.0.1.0/24")
    local = h.pool("bridge", subnet=net("10.0.0.0/24"))
    assert local.pool_id != glob.pool_id
    assert h.addr(local) == h.addr(glob) == "10.0.0.2/24"


def test_size_hint_subnet_picks_a_predefined_subnet_of_that_size(h: Harness) -> None:
    assert h.pool("a", subnet=net("0.0.0.0/24")).subnet == net("172.17.0.0/24")
    assert h.pool("b", subnet=net("0.0.0.0/24")).subnet == net("172.17.1.0/24")
    assert h.pool("c").subnet == net("172.18.0.0/16")
    assert h.pool("d", subnet=net("0.0.0.0/0")).subnet == net("172.19.0.0/16")
    with pytest.raises(InvalidSubnet, match=r"'0\.0\.0\.0/8'.*can hold a /8 \(network e\)"):
        h.pool("e", subnet=net("0.0.0.0/8"))
    v6 = h.pool("f", version=6, subnet=net("::/72"))
    assert v6.subnet == ip_network((int(ula_pool(HOST_ID).base.network_address), 72))


# --- IPv6 ------------------------------------------------------------------------------------


def test_ipv6_defaults_to_the_per_host_ula(h: Harness) -> None:
    ula = ula_pool(HOST_ID).base
    first = h.pool("v6", version=6)
    assert first.subnet == ip_network((int(ula.network_address), 64))
    assert first.gateway == first.subnet.network_address + 1
    second = h.pool("v6b", version=6)
    assert int(second.subnet.network_address) == int(ula.network_address) + (1 << 64)
    assert h.addr(first) == f"{first.subnet.network_address + 2}/64"


def test_configured_ipv6_pools_replace_the_ula(store: Store) -> None:
    in_local = DefaultIpam(host_id=HOST_ID, local_pools=[PredefinedPool(net("fd00:1::/56"), 64)])
    assert Harness(store, in_local).pool("a", version=6).subnet == net("fd00:1::/64")
    explicit = DefaultIpam(host_id=HOST_ID, v6_pools=[PredefinedPool(net("fd00:2::/56"), 64)])
    assert Harness(store, explicit).pool("b", version=6).subnet == net("fd00:2::/64")
    with pytest.raises(InvalidOption, match="must all be IPv6"):
        DefaultIpam(host_id=HOST_ID, v6_pools=[PredefinedPool(net("10.0.0.0/8"), 24)])


def test_global_space_has_no_ipv6_pool_by_default(h: Harness) -> None:
    with pytest.raises(PoolsExhausted, match="IPv6 pool among 0 candidate"):
        h.pool("overlay", version=6, address_space="global")


def test_ipv6_subnet_router_anycast_is_reserved(h: Harness) -> None:
    pool = h.pool("v6", version=6, subnet=net("2001:db8::/126"), reserve_gateway=False)
    assert [h.addr(pool) for _ in range(3)] == [
        "2001:db8::1/126",
        "2001:db8::2/126",
        "2001:db8::3/126",
    ]
    with pytest.raises(AddressInUse, match="2001:db8:: is already in use"):
        h.addr(pool, "2001:db8::")


# --- validation ------------------------------------------------------------------------------

SUBNET = net("10.10.0.0/24")


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"subnet": net("2001:db8::/64")}, InvalidSubnet, r"'2001:db8::/64': is not an IPv4"),
        ({"version": 6, "subnet": SUBNET}, InvalidSubnet, r"'10.10.0.0/24': is not an IPv6"),
        (
            {"subnet": SUBNET, "ip_range": net("10.10.1.0/25")},
            InvalidSubnet,
            r"'10.10.1.0/25': ip range is not inside 10.10.0.0/24",
        ),
        (
            {"subnet": SUBNET, "ip_range": net("2001:db8::/64")},
            InvalidSubnet,
            "ip range is not IPv4",
        ),
        ({"subnet": SUBNET, "gateway": ip("10.10.1.1")}, InvalidAddress, "gateway is not inside"),
        ({"subnet": SUBNET, "gateway": ip("2001:db8::1")}, InvalidAddress, "gateway is not IPv4"),
        ({"subnet": SUBNET, "gateway": ip("10.10.0.0")}, InvalidAddress, "the network address"),
        ({"subnet": SUBNET, "gateway": ip("10.10.0.255")}, InvalidAddress, "the broadcast address"),
        (
            {"version": 6, "subnet": net("2001:db8::/64"), "gateway": ip("2001:db8::")},
            InvalidAddress,
            "the subnet-router anycast address",
        ),
        (
            {"subnet": SUBNET, "aux_addresses": {"host": ip("10.9.0.1")}},
            InvalidAddress,
            r"'10.9.0.1': aux address 'host' is not inside",
        ),
        (
            {"subnet": SUBNET, "aux_addresses": {"host": ip("::1")}},
            InvalidAddress,
            "aux address 'host' is not IPv4",
        ),
        ({"ip_range": net("10.10.0.0/25")}, InvalidSubnet, "an ip range needs an explicit subnet"),
        ({"gateway": ip("10.10.0.1")}, InvalidAddress, "a gateway needs an explicit subnet"),
        (
            {"aux_addresses": {"x": ip("10.10.0.5")}},
            InvalidAddress,
            "aux address 'x' needs an explicit subnet",
        ),
        (
            {"subnet": net("0.0.0.0/24"), "gateway": ip("10.10.0.1")},
            InvalidAddress,
            "needs an explicit subnet",
        ),
        ({"version": 6, "subnet": net("0.0.0.0/24")}, InvalidSubnet, "is not an IPv6"),
        (
            {"options": {"com.docker.network.ipam.serial": "yes"}},
            InvalidOption,
            "must be true or false",
        ),
    ],
)
def test_invalid_requests_name_value_and_network(
    h: Harness, kw: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as err:
        h.pool("front", **kw)
    assert "front" in str(err.value)
    assert h.docs() == []


# --- gateway and aux addresses ---------------------------------------------------------------


def test_given_gateway_and_aux_addresses_are_reserved(h: Harness) -> None:
    pool = h.pool(
        "n",
        subnet=SUBNET,
        ip_range=net("10.10.0.128/25"),
        gateway=ip("10.10.0.254"),
        aux_addresses={"router": ip("10.10.0.1"), "dns": ip("10.10.0.130")},
    )
    assert pool.gateway == ip("10.10.0.254")
    assert pool.aux_addresses == {"router": ip("10.10.0.1"), "dns": ip("10.10.0.130")}
    assert pool.ip_range == net("10.10.0.128/25")
    assert h.taken(pool) == ["10.10.0.0", "10.10.0.1", "10.10.0.130", "10.10.0.254", "10.10.0.255"]
    assert [h.addr(pool), h.addr(pool), h.addr(pool)] == [
        "10.10.0.128/24",
        "10.10.0.129/24",
        "10.10.0.131/24",
    ]


def test_automatic_gateway_steps_around_aux_addresses(h: Harness) -> None:
    pool = h.pool("n", subnet=SUBNET, aux_addresses={"host": ip("10.10.0.1")})
    assert pool.gateway == ip("10.10.0.2")


def test_automatic_gateway_is_the_first_address_of_the_range(h: Harness) -> None:
    """Docker asks for the gateway like any address, so it comes from --ip-range."""
    pool = h.pool("n", subnet=net("10.10.0.0/16"), ip_range=net("10.10.5.0/24"))
    assert pool.gateway == ip("10.10.5.0")
    assert h.addr(pool) == "10.10.5.1/16"


def test_aux_address_colliding_with_the_gateway(h: Harness) -> None:
    with pytest.raises(
        AddressInUse, match=r"10\.10\.0\.1 is already in use in pool 10\.10\.0\.0/24 of network n"
    ):
        h.pool("n", subnet=SUBNET, gateway=ip("10.10.0.1"), aux_addresses={"a": ip("10.10.0.1")})
    assert h.docs() == []


def test_no_gateway_for_drivers_that_do_not_want_one(h: Harness) -> None:
    pool = h.pool("n", subnet=SUBNET, reserve_gateway=False)
    assert pool.gateway is None
    assert h.addr(pool) == "10.10.0.1/24"
    given = h.pool("m", subnet=net("10.11.0.0/24"), gateway=ip("10.11.0.9"), reserve_gateway=False)
    assert given.gateway == ip("10.11.0.9")
    assert "10.11.0.9" in h.taken(given)


# --- addresses -------------------------------------------------------------------------------


def test_lowest_free_address_and_reuse(h: Harness) -> None:
    pool = h.pool("n", subnet=SUBNET)
    got = [h.addr(pool) for _ in range(3)]
    assert got == ["10.10.0.2/24", "10.10.0.3/24", "10.10.0.4/24"]
    h.release(pool, "10.10.0.3")
    assert h.addr(pool) == "10.10.0.3/24"
    assert h.addr(pool) == "10.10.0.5/24"


def test_requested_addresses(h: Harness) -> None:
    pool = h.pool("web", subnet=SUBNET, ip_range=net("10.10.0.0/28"))
    assert h.addr(pool, "10.10.0.200") == "10.10.0.200/24"  # outside the range is fine
    with pytest.raises(AddressInUse, match=r"10\.10\.0\.200 is already in use .* network web"):
        h.addr(pool, "10.10.0.200")
    with pytest.raises(
        AddressOutOfRange,
        match=re.escape(
            "10.10.1.1 is out of range of pool 10.10.0.0/24 (range 10.10.0.0/28) of network web"
        ),
    ):
        h.addr(pool, "10.10.1.1")
    with pytest.raises(AddressOutOfRange):
        h.addr(pool, "2001:db8::1")
    for reserved in ("10.10.0.0", "10.10.0.255", "10.10.0.1"):
        with pytest.raises(AddressInUse):
            h.addr(pool, reserved)


def test_pool_full(h: Harness) -> None:
    pool = h.pool("tiny", subnet=net("10.10.0.0/30"))
    assert pool.gateway == ip("10.10.0.1")
    assert h.addr(pool) == "10.10.0.2/30"
    with pytest.raises(NoAvailableAddress, match=r"pool 10\.10\.0\.0/30 of network tiny"):
        h.addr(pool)


def test_range_full_while_subnet_has_room(h: Harness) -> None:
    pool = h.pool("r", subnet=SUBNET, ip_range=net("10.10.0.8/31"))
    assert pool.gateway == ip("10.10.0.8")
    assert h.addr(pool) == "10.10.0.9/24"
    with pytest.raises(NoAvailableAddress, match=r"\(range 10\.10\.0\.8/31\)"):
        h.addr(pool)
    assert h.addr(pool, "10.10.0.50") == "10.10.0.50/24"


@pytest.mark.parametrize(
    ("subnet", "expected"),
    [
        ("10.10.0.0/31", ["10.10.0.0/31", "10.10.0.1/31"]),  # RFC 3021: no network/broadcast
        ("10.10.0.7/32", ["10.10.0.7/32"]),
        ("10.10.0.0/29", [f"10.10.0.{i}/29" for i in range(1, 7)]),
        ("2001:db8::/127", ["2001:db8::1/127"]),
    ],
)
def test_small_subnets(h: Harness, subnet: str, expected: list[str]) -> None:
    version = ip_network(subnet).version
    pool = h.pool("p2p", version=version, subnet=net(subnet), reserve_gateway=False)
    assert [h.addr(pool) for _ in expected] == expected
    with pytest.raises(NoAvailableAddress):
        h.addr(pool)


def test_release_is_tolerant_but_the_pool_must_exist(h: Harness) -> None:
    pool = h.pool("n", subnet=SUBNET)
    address = h.addr(pool)
    h.release(pool, str(ip_interface(address).ip))
    h.release(pool, str(ip_interface(address).ip))
    h.release(pool, "10.10.0.77")
    with pytest.raises(AddressOutOfRange):
        h.release(pool, "10.10.9.9")
    ghost = AllocatedPool(pool_id="local/10.99.0.0/24", subnet=net("10.99.0.0/24"), gateway=None)
    with pytest.raises(PoolNotFound, match=r"address pool local/10\.99\.0\.0/24 not found"):
        h.release(ghost, "10.99.0.2")
    with pytest.raises(PoolNotFound):
        h.addr(ghost)


def test_reserved_addresses_stay_reserved_after_a_release(h: Harness) -> None:
    pool = h.pool("n", subnet=SUBNET, reserve_gateway=False)
    h.release(pool, "10.10.0.0")
    h.release(pool, "10.10.0.255")
    assert h.taken(pool) == ["10.10.0.0", "10.10.0.255"]
    assert h.addr(pool) == "10.10.0.1/24"


def test_release_pool_frees_everything(h: Harness) -> None:
    pool = h.pool("n", subnet=SUBNET)
    h.addr(pool)
    h.release_pool(pool)
    assert h.docs() == []
    with pytest.raises(PoolNotFound):
        h.release_pool(pool)
    again = h.pool("m", subnet=SUBNET)
    assert h.addr(again) == "10.10.0.2/24"


def test_serial_option_continues_after_the_last_address(h: Harness) -> None:
    pool = h.pool(
        "n", subnet=net("10.10.0.0/29"), options={"com.docker.network.ipam.serial": "true"}
    )
    assert [h.addr(pool), h.addr(pool)] == ["10.10.0.2/29", "10.10.0.3/29"]
    h.release(pool, "10.10.0.2")
    assert [h.addr(pool) for _ in range(3)] == ["10.10.0.4/29", "10.10.0.5/29", "10.10.0.6/29"]
    assert h.addr(pool) == "10.10.0.2/29"  # wrapped around
    with pytest.raises(NoAvailableAddress):
        h.addr(pool)


# --- the store -------------------------------------------------------------------------------


def test_pool_document_holds_all_state(h: Harness) -> None:
    pool = h.pool(
        "front",
        subnet=SUBNET,
        ip_range=net("10.10.0.128/25"),
        aux_addresses={"r": ip("10.10.0.3")},
        options={"com.docker.network.ipam.serial": "true"},
    )
    assert pool.pool_id == "local/10.10.0.0/24/10.10.0.128/25"
    [doc] = h.docs()
    assert {k: v for k, v in doc.items() if k != "bitmap"} == {
        "pool_id": pool.pool_id,
        "address_space": "local",
        "owner": "front",
        "subnet": "10.10.0.0/24",
        "ip_range": "10.10.0.128/25",
        "gateway": "10.10.0.128",
        "aux_addresses": {"r": "10.10.0.3"},
        "options": {"com.docker.network.ipam.serial": "true"},
        "serial": True,
    }
    assert doc["bitmap"]["runs"] == "0,3,128,255"


def test_a_failed_transaction_leaves_no_trace(h: Harness) -> None:
    pool = h.pool("n", subnet=SUBNET)
    with pytest.raises(RuntimeError), h.store.write() as txn:
        h.ipam.request_address(txn, pool.pool_id)
        h.ipam.request_pool(txn, PoolRequest(owner="m"))
        raise RuntimeError("a later step failed")
    assert len(h.docs()) == 1
    assert h.addr(pool) == "10.10.0.2/24"


def test_state_is_shared_by_instances(h: Harness) -> None:
    pool = h.pool("n", subnet=SUBNET)
    other = Harness(h.store, DefaultIpam(host_id=HOST_ID))
    assert [h.addr(pool), other.addr(pool), h.addr(pool)] == [
        "10.10.0.2/24",
        "10.10.0.3/24",
        "10.10.0.4/24",
    ]


def test_corrupt_document_is_a_store_error(h: Harness) -> None:
    pool = h.pool("n", subnet=SUBNET)
    with h.store.write() as txn:
        doc = txn.get("ipam_pool", pool.pool_id)
        assert doc is not None
        doc["bitmap"]["runs"] = "9-1"
        txn.put("ipam_pool", pool.pool_id, doc)
    with pytest.raises(
        StoreError, match=re.escape("corrupt ipam_pool document 'local/10.10.0.0/24'")
    ):
        h.addr(pool)
