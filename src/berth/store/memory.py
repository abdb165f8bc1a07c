"""In-memory store with the same transaction semantics as SQLite (for unit tests)."""

from __future__ import annotations

import builtins
import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from berth.model.errors import StoreError
from berth.store.api import Doc


class _Txn:
    def __init__(self, data: dict[tuple[str, str], Doc], generation: int, writable: bool) -> None:
        self._data = data
        self._generation = generation
        self._writable = writable

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, kind: str, key: str) -> Doc | None:
        doc = self._data.get((kind, key))
        return None if doc is None else copy.deepcopy(doc)

    def list(self, kind: str) -> list[Doc]:
        return [copy.deepcopy(self._data[k]) for k in sorted(self._data) if k[0] == kind]

    def keys(self, kind: str) -> builtins.list[str]:
        return sorted(k[1] for k in self._data if k[0] == kind)

    def put(self, kind: str, key: str, doc: Doc) -> None:
        self._require_write()
        self._data[(kind, key)] = copy.deepcopy(doc)

    def delete(self, kind: str, key: str) -> bool:
        self._require_write()
        return self._data.pop((kind, key), None) is not None

    def _require_write(self) -> None:
        if not self._writable:
            raise StoreError("write attempted in a read-only store transaction")


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str], Doc] = {}
        self._generation = 0
        self._lock = threading.RLock()

    @contextmanager
    def write(self) -> Iterator[_Txn]:
        with self._lock:
            work = copy.deepcopy(self._data)
            yield _Txn(work, self._generation, writable=True)
            self._data = work
            self._generation += 1

    @contextmanager
    def read(self) -> Iterator[_Txn]:
        with self._lock:
            snapshot = copy.deepcopy(self._data)
            generation = self._generation
        yield _Txn(snapshot, generation, writable=False)

    def close(self) -> None:
        pass
