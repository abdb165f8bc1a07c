"""SQLite snapshot store (local scope): one file under the state directory, WAL mode.

Writers take SQLite's write lock up front (BEGIN IMMEDIATE), which serialises writers across
threads and processes; readers see the last committed snapshot and never block writers.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from berth.model.errors import StoreError
from berth.store.api import Doc

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    doc  TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', 0);
"""

BUSY_TIMEOUT_S = 60.0


class _Txn:
    def __init__(self, conn: sqlite3.Connection, writable: bool) -> None:
        self._conn = conn
        self._writable = writable
        row = conn.execute("SELECT value FROM meta WHERE name='generation'").fetchone()
        self._generation = int(row[0])

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, kind: str, key: str) -> Doc | None:
        row = self._conn.execute(
            "SELECT doc FROM docs WHERE kind=? AND key=?", (kind, key)
        ).fetchone()
        return None if row is None else _load(row[0])

    def list(self, kind: str) -> list[Doc]:
        rows = self._conn.execute("SELECT doc FROM docs WHERE kind=? ORDER BY key", (kind,))
        return [_load(r[0]) for r in rows]

    def keys(self, kind: str) -> builtins.list[str]:
        rows = self._conn.execute("SELECT key FROM docs WHERE kind=? ORDER BY key", (kind,))
        return [r[0] for r in rows]

    def put(self, kind: str, key: str, doc: Doc) -> None:
        self._require_write()
        self._conn.execute(
            "INSERT OR REPLACE INTO docs (kind, key, doc) VALUES (?, ?, ?)",
            (kind, key, json.dumps(doc, sort_keys=True, separators=(",", ":"))),
        )

    def delete(self, kind: str, key: str) -> bool:
        self._require_write()
        cur = self._conn.execute("DELETE FROM docs WHERE kind=? AND key=?", (kind, key))
        return cur.rowcount > 0

    def _require_write(self) -> None:
        if not self._writable:
            raise StoreError("write attempted in a read-only store transaction")


def _load(text: str) -> Doc:
    doc: Any = json.loads(text)
    if not isinstance(doc, dict):
        raise StoreError(f"corrupt store document: {text[:80]!r}")
    return doc


class SqliteStore:
    """Thread-safe: each thread gets its own connection to the same file."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT_S,
                    isolation_level=None,
                    check_same_thread=False,
                )
            except sqlite3.Error as err:
                raise StoreError(f"cannot open state database {self.path}: {err}") from err
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[_Txn]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise StoreError(f"cannot lock state database {self.path}: {err}") from err
        try:
            txn = _Txn(conn, writable=True)
            yield txn
            conn.execute("UPDATE meta SET value = value + 1 WHERE name='generation'")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[_Txn]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield _Txn(conn, writable=False)
        finally:
            conn.execute("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()
