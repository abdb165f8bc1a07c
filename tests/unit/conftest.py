"""Unit-test fixtures: golden files.

``golden(name, text)`` compares ``text`` with tests/unit/golden/<name>; with ``--update-golden``
it rewrites the file instead, so a reviewer reads the change as a diff of the golden file:

    .venv/bin/python -m pytest tests/unit --update-golden

(the option is declared in tests/conftest.py); ``BERTH_UPDATE_GOLDEN=1`` works too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"

Golden = Callable[[str, str], None]


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    update = bool(request.config.getoption("update_golden", default=False)) or (
        os.environ.get("BERTH_UPDATE_GOLDEN") == "1"
    )

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return
        assert path.exists(), f"no golden file {path}: run pytest tests/unit --update-golden"
        assert text == path.read_text(), f"output differs from {path} (--update-golden)"

    return check
