"""Undo stacks re-raise the original error; teardown keeps going and reports everything."""

import pytest

from berth.controller.transaction import Teardown, Transaction
from berth.model.errors import TeardownErrors


def test_rollback_runs_in_reverse_and_reraises_cause() -> None:
    done: list[str] = []
    with pytest.raises(ValueError, match="step 3") as err, Transaction("op") as txn:
        txn.on_rollback("one", lambda: done.append("undo 1"))
        txn.on_rollback("two", lambda: (_ for _ in ()).throw(OSError("undo 2 failed")))
        txn.on_rollback("three", lambda: done.append("undo 3"))
        raise ValueError("step 3")
    assert done == ["undo 3", "undo 1"]
    assert any("undo 2 failed" in note for note in err.value.__notes__)


def test_success_keeps_everything() -> None:
    done: list[str] = []
    with Transaction("op") as txn:
        txn.on_rollback("one", lambda: done.append("undo"))
    assert done == []


def test_teardown_keeps_going() -> None:
    done: list[str] = []
    teardown = Teardown("delete x")
    teardown.step("a", lambda: (_ for _ in ()).throw(OSError("a failed")))
    teardown.step("b", lambda: done.append("b"))
    teardown.step("c", lambda: (_ for _ in ()).throw(OSError("c failed")))
    with pytest.raises(TeardownErrors, match="2 step") as err:
        teardown.finish()
    assert done == ["b"]
    assert "a failed" in str(err.value) and "c failed" in str(err.value)


def test_teardown_single_error_is_raised_as_is() -> None:
    teardown = Teardown("delete x")
    teardown.step("a", lambda: (_ for _ in ()).throw(OSError("only")))
    with pytest.raises(OSError, match="only"):
        teardown.finish()
    Teardown("nothing").finish()
