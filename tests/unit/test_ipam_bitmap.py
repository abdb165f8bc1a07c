"""The run-length allocation bitmap: unit tests and a stateful comparison with a plain set."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from berth.ipam.bitmap import Bitmap

SIZE_V6_64 = 1 << 64


def test_set_and_release_merge_and_split_runs() -> None:
    bm = Bitmap(16)
    for offset in (0, 2, 1):
        bm.set(offset)
    assert bm.runs() == [(0, 2)]
    bm.set(5)
    bm.set(4)
    assert bm.runs() == [(0, 2), (4, 5)]
    bm.set(3)
    assert bm.runs() == [(0, 5)]
    assert bm.release(2)
    assert bm.runs() == [(0, 1), (3, 5)]
    assert bm.release(0) and bm.release(5)
    assert bm.runs() == [(1, 1), (3, 4)]
    assert bm.count() == 3
    assert [o for o in range(16) if bm.is_set(o)] == [1, 3, 4]


def test_set_twice_or_outside_is_an_error() -> None:
    bm = Bitmap(8)
    bm.set(7)
    with pytest.raises(ValueError, match="offset 7 is already set"):
        bm.set(7)
    with pytest.raises(ValueError, match="outside the bitmap"):
        bm.set(8)
    with pytest.raises(ValueError, match="outside the bitmap"):
        bm.set(-1)
    with pytest.raises(ValueError, match="size must be positive"):
        Bitmap(0)


def test_release_is_tolerant() -> None:
    bm = Bitmap(8)
    assert not bm.release(3)
    bm.set(3)
    assert bm.release(3)
    assert not bm.release(3)
    assert not bm.release(100)
    assert bm.count() == 0


def test_lowest_free_respects_bounds() -> None:
    bm = Bitmap(10)
    for offset in range(6):
        bm.set(offset)
    assert bm.lowest_free(0, 9) == 6
    assert bm.lowest_free(2, 5) is None
    assert bm.lowest_free(7, 9) == 7
    assert bm.lowest_free(8, 100) == 8
    assert bm.lowest_free(5, 4) is None


def test_allocate_lowest_free_reuses_released() -> None:
    bm = Bitmap(8)
    assert [bm.allocate(0, 7) for _ in range(4)] == [0, 1, 2, 3]
    bm.release(1)
    assert bm.allocate(0, 7) == 1
    assert bm.allocate(2, 3) is None
    assert bm.allocate(6, 7) == 6


def test_serial_allocation_continues_after_the_last_and_wraps() -> None:
    bm = Bitmap(6)
    assert [bm.allocate(1, 4, serial=True) for _ in range(3)] == [1, 2, 3]
    bm.release(1)
    assert bm.allocate(1, 4, serial=True) == 4
    assert bm.allocate(1, 4, serial=True) == 1  # wrapped around to the freed one
    assert bm.allocate(1, 4, serial=True) is None
    assert bm.cursor == 2


def test_explicit_set_does_not_move_the_serial_cursor() -> None:
    bm = Bitmap(8)
    assert bm.allocate(0, 7, serial=True) == 0
    bm.set(5)
    assert bm.allocate(0, 7, serial=True) == 1


def test_json_round_trip_is_compact_and_keeps_the_cursor() -> None:
    bm = Bitmap(256)
    for offset in (0, 1, 2, 255):
        bm.set(offset)
    bm.allocate(10, 20)
    doc = bm.to_json()
    assert doc == {"size": 256, "cursor": 11, "runs": "0-2,10,255"}
    again = Bitmap.from_json(doc)
    assert again.runs() == bm.runs()
    assert again.count() == 5
    assert again.cursor == 11


@pytest.mark.parametrize(
    "doc",
    [
        {"size": 8, "cursor": 0, "runs": "3-1"},
        {"size": 8, "cursor": 0, "runs": "0-8"},
        {"size": 8, "cursor": 0, "runs": "4,2"},
        {"size": 8, "cursor": 0, "runs": "1,2"},  # touching runs must have been merged
        {"size": 8, "cursor": 0, "runs": "x"},
        {"size": "8", "cursor": 0, "runs": ""},
    ],
)
def test_from_json_rejects_malformed_documents(doc: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Bitmap.from_json(doc)


def test_memory_follows_runs_not_pool_size() -> None:
    """A /8 (2**24 addresses) or an IPv6 /64 with many consecutive allocations is one run."""
    for size in (1 << 24, SIZE_V6_64):
        bm = Bitmap(size)
        bm.set(size - 1)
        started = time.perf_counter()
        for expected in range(5000):
            assert bm.allocate(0, size - 1) == expected
        assert time.perf_counter() - started < 2.0
        assert bm.runs() == [(0, 4999), (size - 1, size - 1)]
        assert len(bm.to_json()["runs"]) < 60


def test_lowest_free_jumps_over_a_huge_run() -> None:
    bm = Bitmap.from_json({"size": SIZE_V6_64, "cursor": 0, "runs": f"0-{(1 << 63) - 1}"})
    assert bm.count() == 1 << 63
    assert bm.allocate(0, SIZE_V6_64 - 1) == 1 << 63


# --- property: the bitmap behaves like a set of offsets ------------------------------------------


def _model_lowest_free(model: set[int], lo: int, hi: int) -> int | None:
    candidate = lo
    while candidate in model:
        candidate += 1
    return candidate if candidate <= hi else None


class BitmapVersusSet(RuleBasedStateMachine):
    """Offsets are drawn near three anchors, so huge bitmaps (IPv6 /64) get collisions too."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 1
        self.bitmap = Bitmap(1)
        self.model: set[int] = set()
        self.cursor = 0

    @initialize(size=st.one_of(st.integers(1, 40), st.just(SIZE_V6_64)))
    def create(self, size: int) -> None:
        self.size = size
        self.bitmap = Bitmap(size)

    def _offset(self, k: int) -> int:
        if self.size <= 60:
            return k % self.size
        return (k // 20) * (self.size // 3) + k % 20

    @rule(k=st.integers(0, 59))
    def set_offset(self, k: int) -> None:
        offset = self._offset(k)
        if offset in self.model:
            with pytest.raises(ValueError):
                self.bitmap.set(offset)
        else:
            self.bitmap.set(offset)
            self.model.add(offset)

    @rule(k=st.integers(0, 59))
    def release(self, k: int) -> None:
        offset = self._offset(k)
        assert self.bitmap.release(offset) == (offset in self.model)
        self.model.discard(offset)

    @rule(a=st.integers(0, 59), b=st.integers(0, 59), serial=st.booleans())
    def allocate(self, a: int, b: int, serial: bool) -> None:
        lo, hi = sorted((self._offset(a), self._offset(b)))
        start = self.cursor if serial and lo < self.cursor <= hi else lo
        expected = _model_lowest_free(self.model, start, hi)
        if expected is None and start > lo:
            expected = _model_lowest_free(self.model, lo, start - 1)
        assert self.bitmap.allocate(lo, hi, serial=serial) == expected
        if expected is not None:
            self.model.add(expected)
            self.cursor = expected + 1

    @rule(k=st.integers(0, 59))
    def is_set(self, k: int) -> None:
        offset = self._offset(k)
        assert self.bitmap.is_set(offset) == (offset in self.model)

    @invariant()
    def runs_are_canonical_and_match_the_model(self) -> None:
        runs = self.bitmap.runs()
        for (_, last), (first, _) in itertools.pairwise(runs):
            assert last + 1 < first
        expanded = {o for first, last in runs for o in range(first, last + 1)}
        assert expanded == self.model
        assert self.bitmap.count() == len(self.model)

    @invariant()
    def json_round_trips(self) -> None:
        again = Bitmap.from_json(self.bitmap.to_json())
        assert again.runs() == self.bitmap.runs()
        assert again.cursor == self.bitmap.cursor == self.cursor


TestBitmapVersusSet = BitmapVersusSet.TestCase
TestBitmapVersusSet.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
