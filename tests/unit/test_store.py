"""Store transactions: commit, rollback, generation, read-only snapshots, both backends."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.model.errors import StoreError
from berth.store.api import Store
from berth.store.memory import MemoryStore
from berth.store.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = (
        MemoryStore()
        if request.param == "memory"
        else SqliteStore(str(tmp_path / "state" / "berth.db"))
    )
    yield s
    s.close()


def test_commit_and_generation(store: Store) -> None:
    with store.read() as txn:
        start = txn.generation
    with store.write() as txn:
        txn.put("network", "b", {"name": "b"})
        txn.put("network", "a", {"name": "a"})
    with store.read() as txn:
        assert txn.generation == start + 1
        assert [d["name"] for d in txn.list("network")] == ["a", "b"]
        assert txn.keys("network") == ["a", "b"]
        assert txn.get("network", "a") == {"name": "a"}
        assert txn.get("network", "zz") is None


def test_rollback_on_error(store: Store) -> None:
    with store.write() as txn:
        txn.put("network", "a", {"v": 1})
    with pytest.raises(RuntimeError), store.write() as txn:
        txn.put("network", "a", {"v": 2})
        txn.delete("network", "a")
        txn.put("sandbox", "s", {})
        raise RuntimeError("boom")
    with store.read() as txn:
        assert txn.get("network", "a") == {"v": 1}
        assert txn.list("sandbox") == []


def test_read_only_rejects_writes(store: Store) -> None:
    with store.read() as txn, pytest.raises(StoreError, match="read-only"):
        txn.put("x", "y", {})


def test_delete_reports_missing(store: Store) -> None:
    with store.write() as txn:
        assert txn.delete("network", "nope") is False
        txn.put("network", "a", {})
        assert txn.delete("network", "a") is True


def test_sqlite_state_is_seen_by_a_new_instance(tmp_path: Path) -> None:
    path = str(tmp_path / "berth.db")
    first = SqliteStore(path)
    with first.write() as txn:
        txn.put("network", "a", {"name": "front"})
    second = SqliteStore(path)
    with second.read() as txn:
        assert txn.get("network", "a") == {"name": "front"}
    first.close()
    second.close()
