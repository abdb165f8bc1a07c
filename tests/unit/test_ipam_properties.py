"""Stateful property tests: the default IPAM against a plain Python model, over both stores.

Under any sequence of pool and address requests and releases the IPAM never hands out an
address or subnet twice, its stored state equals the model, and picks are the lowest free
address / the first free predefined subnet.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from berth.ipam.api import PoolRequest
from berth.ipam.bitmap import Bitmap
from berth.ipam.default import DefaultIpam
from berth.ipam.pools import PredefinedPool
from berth.model.errors import (
    AddressInUse,
    AddressOutOfRange,
    NoAvailableAddress,
    PoolOverlap,
    PoolsExhausted,
)
from berth.model.network import AllocatedPool
from berth.store.api import Store
from berth.store.memory import MemoryStore
from berth.store.sqlite import SqliteStore

# Four automatic /29s (6 usable addresses each) keep pools small enough to fill up.
PREDEFINED = PredefinedPool(IPv4Network("10.0.0.0/27"), 29)
CANDIDATES = list(IPv4Network("10.0.0.0/27").subnets(new_prefix=29))
# User subnets: some inside the predefined range (they collide with automatic ones), some not.
USER_SUBNETS = [
    IPv4Network(s) for s in ("10.0.0.8/29", "10.0.0.16/28", "10.0.0.0/30", "10.9.0.0/29")
]


@dataclass
class ModelPool:
    pool: AllocatedPool
    taken: set[IPv4Address] = field(default_factory=set)

    @property
    def span(self) -> IPv4Network:
        span = self.pool.ip_range or self.pool.subnet
        assert isinstance(span, IPv4Network)
        return span

    def reserved(self) -> set[IPv4Address]:
        subnet = self.pool.subnet
        assert isinstance(subnet, IPv4Network)
        return {subnet.network_address, subnet.broadcast_address}

    def lowest_free(self) -> IPv4Address | None:
        used = self.taken | self.reserved()
        return next((a for a in self.span if a not in used), None)


class IpamVersusModel(RuleBasedStateMachine):
    pools = Bundle("pools")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="berth-ipam-")
        self.store = self.make_store(self.tmp)
        self.ipam = DefaultIpam(host_id="prop", local_pools=[PREDEFINED])
        self.model: dict[str, ModelPool] = {}
        self.handed_out: set[tuple[str, IPv4Address]] = set()

    def make_store(self, tmp: str) -> Store:
        return MemoryStore()

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _overlapping(self, subnet: IPv4Network) -> list[ModelPool]:
        return [m for m in self.model.values() if m.pool.subnet.overlaps(subnet)]

    @rule(target=pools)
    def auto_pool(self) -> str:
        expected = next((c for c in CANDIDATES if not self._overlapping(c)), None)
        with self.store.write() as txn:
            if expected is None:
                with pytest.raises(PoolsExhausted):
                    self.ipam.request_pool(txn, PoolRequest(owner="auto"))
                return ""
            pool = self.ipam.request_pool(txn, PoolRequest(owner="auto"))
        assert pool.subnet == expected
        return self._created(pool)

    @rule(target=pools, subnet=st.sampled_from(USER_SUBNETS), with_range=st.booleans())
    def user_pool(self, subnet: IPv4Network, with_range: bool) -> str:
        ip_range = next(subnet.subnets()) if with_range else None
        request = PoolRequest(owner="user", subnet=subnet, ip_range=ip_range)
        with self.store.write() as txn:
            if self._overlapping(subnet):
                with pytest.raises(PoolOverlap):
                    self.ipam.request_pool(txn, request)
                return ""
            return self._created(self.ipam.request_pool(txn, request))

    def _created(self, pool: AllocatedPool) -> str:
        model = ModelPool(pool)
        assert isinstance(pool.gateway, IPv4Address)
        assert pool.gateway == model.lowest_free()
        model.taken.add(pool.gateway)
        self.model[pool.pool_id] = model
        return pool.pool_id

    @rule(pool_id=pools)
    def request_any(self, pool_id: str) -> None:
        model = self.model.get(pool_id)
        if model is None:
            return
        expected = model.lowest_free()
        with self.store.write() as txn:
            if expected is None:
                with pytest.raises(NoAvailableAddress):
                    self.ipam.request_address(txn, pool_id)
                return
            got = self.ipam.request_address(txn, pool_id)
        assert got.ip == expected
        assert got.network == model.pool.subnet
        assert (pool_id, got.ip) not in self.handed_out
        self.handed_out.add((pool_id, expected))
        model.taken.add(expected)

    def _pick(self, pool_id: str, host: int) -> tuple[ModelPool, IPv4Address] | None:
        """The model of a live pool and its ``host``-th address (maybe past the subnet)."""
        model = self.model.get(pool_id)
        if model is None:
            return None
        return model, IPv4Address(int(model.pool.subnet.network_address) + host)

    @rule(pool_id=pools, host=st.integers(0, 9))
    def request_given(self, pool_id: str, host: int) -> None:
        picked = self._pick(pool_id, host)
        if picked is None:
            return
        model, address = picked
        error: type[Exception] | None = None
        if address not in model.pool.subnet:
            error = AddressOutOfRange
        elif address in model.taken | model.reserved():
            error = AddressInUse
        with self.store.write() as txn:
            if error is not None:
                with pytest.raises(error):
                    self.ipam.request_address(txn, pool_id, address)
                return
            self.ipam.request_address(txn, pool_id, address)
        model.taken.add(address)

    @rule(pool_id=pools, host=st.integers(0, 9))
    def release_address(self, pool_id: str, host: int) -> None:
        picked = self._pick(pool_id, host)
        if picked is None:
            return
        model, address = picked
        with self.store.write() as txn:
            if address not in model.pool.subnet:
                with pytest.raises(AddressOutOfRange):
                    self.ipam.release_address(txn, pool_id, address)
                return
            self.ipam.release_address(txn, pool_id, address)
        model.taken.discard(address)
        self.handed_out.discard((pool_id, address))

    @rule(pool_id=consumes(pools))
    def release_pool(self, pool_id: str) -> None:
        if self.model.pop(pool_id, None) is None:
            return
        with self.store.write() as txn:
            self.ipam.release_pool(txn, pool_id)
        self.handed_out = {(p, a) for p, a in self.handed_out if p != pool_id}

    @invariant()
    def store_matches_model(self) -> None:
        with self.store.read() as txn:
            docs = {d["pool_id"]: d for d in txn.list("ipam_pool")}
        assert docs.keys() == self.model.keys()
        for pool_id, doc in docs.items():
            model = self.model[pool_id]
            bitmap = Bitmap.from_json(doc["bitmap"])
            base = model.pool.subnet.network_address
            stored = {base + o for a, b in bitmap.runs() for o in range(a, b + 1)}
            assert stored == model.taken | model.reserved()

    @invariant()
    def pools_never_overlap(self) -> None:
        subnets = [m.pool.subnet for m in self.model.values()]
        for i, a in enumerate(subnets):
            assert not any(a.overlaps(b) for b in subnets[i + 1 :])


class IpamVersusModelSqlite(IpamVersusModel):
    def make_store(self, tmp: str) -> Store:
        return SqliteStore(f"{tmp}/state.db")


TestIpamMemory = IpamVersusModel.TestCase
TestIpamMemory.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestIpamSqlite = IpamVersusModelSqlite.TestCase
TestIpamSqlite.settings = settings(max_examples=50, stateful_step_count=50, deadline=None)
