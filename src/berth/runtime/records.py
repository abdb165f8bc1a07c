"""The runtime's container records: an in-memory index written through to the store.

berthd is the only writer of its container store, so reads come from memory (``get`` and
``list`` are cheap enough for the event loop) and every change is committed before it is
visible. Lookups follow Docker: full id, then name (with or without the leading '/'), then a
unique id prefix.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from berth.model.errors import AmbiguousReference, ContainerNotFound
from berth.runtime.api import Container
from berth.runtime.codec import KIND, Record, record_from_doc, record_to_doc
from berth.runtime.errors import ContainerNameInUse
from berth.store.api import Store


class ContainerRecords:
    def __init__(self, store: Store) -> None:
        self._store = store
        with store.read() as txn:
            records = [record_from_doc(doc) for doc in txn.list(KIND)]
        self._by_id = {r.container.id: r for r in records}
        self._by_name = {r.container.name: r.container.id for r in records}

    def close(self) -> None:
        self._store.close()

    # --- reading --------------------------------------------------------------------------

    def find(self, ref: str) -> Record | None:
        if ref in self._by_id:
            return self._by_id[ref]
        name = ref.removeprefix("/")
        if name in self._by_name:
            return self._by_id[self._by_name[name]]
        if not ref:
            return None
        matches = [r for key, r in self._by_id.items() if key.startswith(ref)]
        if len(matches) > 1:
            raise AmbiguousReference("container", ref, len(matches))
        return matches[0] if matches else None

    def record(self, ref: str) -> Record:
        record = self.find(ref)
        if record is None:
            raise ContainerNotFound(ref)
        return record

    def get(self, ref: str) -> Container:
        return self.record(ref).container

    def all(self) -> list[Record]:
        return list(self._by_id.values())

    def name_taken(self, name: str) -> bool:
        return name in self._by_name

    # --- writing --------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        name = record.container.name
        if name in self._by_name:
            raise ContainerNameInUse(name, self._by_name[name])
        self._save(record)

    def update(self, container_id: str, **changes: Any) -> Record:
        """Replace fields of the record (``manually_stopped``, ``backoff_s``) or of its
        container (``config``, ``sandbox_id``, ...); ``state`` may be a dict of state fields."""
        record = self._by_id[container_id]
        container = record.container
        state = changes.pop("state", None)
        if isinstance(state, dict):
            state = replace(container.state, **state)
        own = {k: changes.pop(k) for k in ("manually_stopped", "backoff_s") if k in changes}
        if state is not None:
            changes["state"] = state
        updated = replace(record, container=replace(container, **changes), **own)
        self._save(updated)
        return updated

    def set_state(self, container_id: str, **fields: Any) -> Record:
        return self.update(container_id, state=fields)

    def rename(self, container_id: str, name: str) -> Record:
        holder = self._by_name.get(name)
        if holder is not None and holder != container_id:
            raise ContainerNameInUse(name, holder)
        old = self._by_id[container_id].container
        record = self.update(container_id, name=name, config=replace(old.config, name=name))
        self._by_name.pop(old.name, None)
        return record

    def remove(self, container_id: str) -> None:
        record = self._by_id[container_id]
        with self._store.write() as txn:
            txn.delete(KIND, container_id)
        del self._by_id[container_id]
        self._by_name.pop(record.container.name, None)

    def _save(self, record: Record) -> None:
        with self._store.write() as txn:
            txn.put(KIND, record.container.id, record_to_doc(record))
        self._by_id[record.container.id] = record
        self._by_name[record.container.name] = record.container.id
