"""The code base stays clean: ruff (lint and format) and mypy --strict, as configured in
pyproject.toml. Run here so CI enforces them with the rest of the suite."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "src", "tests", "examples"],
        ["ruff", "format", "--check", "src", "tests", "examples"],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_clean(command: list[str]) -> None:
    tool = os.path.join(BIN, command[0])
    result = subprocess.run(
        [tool, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
