"""The allocation bitmap of one address pool, kept as sorted runs of set offsets.

Offsets count from the pool's network address, so one type serves an IPv4 /30 and an IPv6 /64
(2**64 offsets) alike. Memory and JSON size grow with the number of allocated *runs*, not with the
pool size: a /8 with its first 1000 addresses taken is one run. Runs are kept disjoint and never
adjacent, which is what lets "lowest free" answer in O(log runs): the offset right after a run is
always free.

This module knows nothing about addresses, stores or errors of the IPAM; callers translate.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any


class Bitmap:
    """A set of offsets in ``[0, size)`` with lowest-free and serial (round-robin) allocation."""

    def __init__(self, size: int, cursor: int = 0) -> None:
        if size < 1:
            raise ValueError(f"bitmap size must be positive, got {size}")
        self._size = size
        self._starts: list[int] = []
        self._ends: list[int] = []  # inclusive; _ends[i] + 1 < _starts[i + 1]
        self._count = 0
        # Where a serial allocation resumes: one past the last offset handed out by allocate(),
        # as Docker's bitmap does (explicit set() calls do not move it).
        self._cursor = cursor

    @property
    def size(self) -> int:
        return self._size

    @property
    def cursor(self) -> int:
        return self._cursor

    def count(self) -> int:
        return self._count

    def runs(self) -> list[tuple[int, int]]:
        """The set offsets as inclusive ``(first, last)`` runs, in order."""
        return list(zip(self._starts, self._ends, strict=True))

    def is_set(self, offset: int) -> bool:
        i = self._run_at_or_before(offset)
        return i >= 0 and self._ends[i] >= offset

    def lowest_free(self, lo: int, hi: int) -> int | None:
        """The lowest clear offset in ``[lo, hi]``, or None when all are set."""
        lo, hi = max(lo, 0), min(hi, self._size - 1)
        if lo > hi:
            return None
        i = self._run_at_or_before(lo)
        candidate = self._ends[i] + 1 if i >= 0 and self._ends[i] >= lo else lo
        return candidate if candidate <= hi else None

    def allocate(self, lo: int, hi: int, *, serial: bool = False) -> int | None:
        """Set and return the lowest clear offset in ``[lo, hi]`` (None when full).

        With ``serial`` the search starts at the cursor and wraps around to ``lo``, so freed
        offsets are not reused until the range has been gone through once
        (``com.docker.network.ipam.serial``).
        """
        start = self._cursor if serial and lo < self._cursor <= hi else lo
        found = self.lowest_free(start, hi)
        if found is None and start > lo:
            found = self.lowest_free(lo, start - 1)
        if found is not None:
            self.set(found)
            self._cursor = found + 1
        return found

    def set(self, offset: int) -> None:
        """Mark ``offset``; ValueError if it is outside the bitmap or already set."""
        self._check(offset)
        i = self._run_at_or_before(offset)
        if i >= 0 and self._ends[i] >= offset:
            raise ValueError(f"offset {offset} is already set")
        joins_left = i >= 0 and self._ends[i] == offset - 1
        joins_right = i + 1 < len(self._starts) and self._starts[i + 1] == offset + 1
        if joins_left and joins_right:
            self._ends[i] = self._ends[i + 1]
            del self._starts[i + 1], self._ends[i + 1]
        elif joins_left:
            self._ends[i] = offset
        elif joins_right:
            self._starts[i + 1] = offset
        else:
            self._starts.insert(i + 1, offset)
            self._ends.insert(i + 1, offset)
        self._count += 1

    def release(self, offset: int) -> bool:
        """Clear ``offset``; False (and no change) if it was not set, so teardown can repeat."""
        i = self._run_at_or_before(offset)
        if i < 0 or self._ends[i] < offset:
            return False
        first, last = self._starts[i], self._ends[i]
        if first == last:
            del self._starts[i], self._ends[i]
        elif offset == first:
            self._starts[i] = offset + 1
        elif offset == last:
            self._ends[i] = offset - 1
        else:
            self._ends[i] = offset - 1
            self._starts.insert(i + 1, offset + 1)
            self._ends.insert(i + 1, last)
        self._count -= 1
        return True

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form; runs are a compact string (``"0-2,255"``) a human can read."""
        runs = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in self.runs())
        return {"size": self._size, "cursor": self._cursor, "runs": runs}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Bitmap:
        """Inverse of ``to_json``; ValueError on anything malformed (a corrupt store document)."""
        size, cursor, runs = doc["size"], doc["cursor"], doc["runs"]
        if not isinstance(size, int) or not isinstance(cursor, int) or not isinstance(runs, str):
            raise ValueError(f"malformed bitmap document: {doc!r}")
        bitmap = cls(size, cursor)
        for part in filter(None, runs.split(",")):
            first, _, last = part.partition("-")
            bitmap._append_run(int(first), int(last or first))
        return bitmap

    def _append_run(self, first: int, last: int) -> None:
        if first > last or last >= self._size or first < 0:
            raise ValueError(f"bitmap run {first}-{last} is outside [0, {self._size})")
        if self._ends and first <= self._ends[-1] + 1:
            raise ValueError(f"bitmap run {first}-{last} is out of order or touches the previous")
        self._starts.append(first)
        self._ends.append(last)
        self._count += last - first + 1

    def _run_at_or_before(self, offset: int) -> int:
        """Index of the last run starting at or before ``offset`` (-1 if none)."""
        return bisect_right(self._starts, offset) - 1

    def _check(self, offset: int) -> None:
        if not 0 <= offset < self._size:
            raise ValueError(f"offset {offset} is outside the bitmap [0, {self._size})")

    def __repr__(self) -> str:
        return f"Bitmap(size={self._size}, count={self._count}, runs={self.to_json()['runs']!r})"
