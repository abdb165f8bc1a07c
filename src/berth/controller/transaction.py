"""Undo stacks for all-or-nothing operations, and keep-going teardown.

``Transaction``: every kernel-changing step pushes its inverse right after it succeeds; if the
block raises, the inverses run in reverse order and the *original* error is re-raised (undo
failures are logged and attached as notes, never masking the cause).

``Teardown``: runs every step even after failures and raises one TeardownErrors at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from berth.model.errors import TeardownErrors

log = logging.getLogger(__name__)


class Transaction:
    def __init__(self, what: str = "operation") -> None:
        self.what = what
        self._undo: list[tuple[str, Callable[[], Any]]] = []

    def on_rollback(self, label: str, fn: Callable[[], Any]) -> None:
        """Register the inverse of a step that just succeeded."""
        self._undo.append((label, fn))

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.rollback(exc)

    def rollback(self, cause: BaseException | None = None) -> None:
        while self._undo:
            label, fn = self._undo.pop()
            try:
                fn()
            except Exception as err:  # keep undoing: the cause is what matters
                log.error("rollback of %s: undo step %r failed: %s", self.what, label, err)
                if cause is not None:
                    cause.add_note(f"rollback step {label!r} also failed: {err}")

    def commit(self) -> None:
        """Forget the undo steps (the operation is complete)."""
        self._undo.clear()


class Teardown:
    """Collects failures of independent teardown steps."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.errors: list[BaseException] = []

    def step(self, label: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as err:  # teardown keeps going
            log.warning("%s: step %r failed: %s", self.what, label, err)
            err.add_note(f"while {label}")
            self.errors.append(err)

    def finish(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise TeardownErrors(self.what, self.errors)
