"""The README's end-to-end example keeps working."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

DEMO = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "demo.py")


def test_demo_runs_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, DEMO], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "you are 10.77.0.3" in result.stdout  # sandbox to sandbox
    assert "you are 198.51.100.2" in result.stdout  # another machine, via the published port
    assert "tcp . 8080 : 10.77.0.2 . 80" in result.stdout


def test_cli_demo_runs_end_to_end() -> None:
    script = os.path.join(os.path.dirname(DEMO), "demo.sh")
    result = subprocess.run(
        ["bash", script], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello from web, you are 10.77.0.1" in result.stdout  # host 127.0.0.1:8080 via DNAT
    assert "hello from web, you are 10.77.0.3" in result.stdout  # another container
    by_name = result.stdout.split("and by name")[1].split("==>")[0]
    assert "hello from web, you are 10.77.0." in by_name  # embedded DNS
    assert "front 10.77.0.0/24 via 10.77.0.1, containers: 1" in result.stdout
    assert "elements" not in result.stdout.split("empty again:")[1]
