"""The snapshot store protocol.

A store keeps JSON documents by (kind, key): kinds are "network", "endpoint", "sandbox",
"ipam_pool", ... It never builds model objects (the controller owns the one live copy of each).

``write()`` opens an exclusive transaction: across threads *and processes* only one writer runs
at a time, so read-check-write sequences (IPAM allocation, name uniqueness) are safe. It commits
when the block exits normally and rolls back when it raises. Every commit bumps ``generation``,
which lets a process notice that another one changed the state since it last looked.
"""

from __future__ import annotations

import builtins
from contextlib import AbstractContextManager
from typing import Any, Protocol

Doc = dict[str, Any]


class StoreTxn(Protocol):
    def get(self, kind: str, key: str) -> Doc | None: ...

    def list(self, kind: str) -> list[Doc]:
        """Every document of a kind, in key order."""

    def keys(self, kind: str) -> builtins.list[str]: ...

    def put(self, kind: str, key: str, doc: Doc) -> None:
        """Insert or replace. Only allowed in a write transaction."""

    def delete(self, kind: str, key: str) -> bool:
        """False if there was nothing to delete. Only allowed in a write transaction."""

    @property
    def generation(self) -> int:
        """Number of committed write transactions so far (as seen when this one began)."""


class Store(Protocol):
    def write(self) -> AbstractContextManager[StoreTxn]:
        """An exclusive read-write transaction (see module docstring)."""

    def read(self) -> AbstractContextManager[StoreTxn]:
        """A consistent read-only snapshot."""

    def close(self) -> None: ...
