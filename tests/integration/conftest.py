"""Fixtures for integration tests: root, a throwaway host namespace, berth running against it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.controller.controller import NetworkController
from berth.local import open_controller
from tests.integration.netenv import Ns, namespace, outside_world


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root and the real kernel")
        for item in items:
            if "integration" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def stays_in_own_netns() -> Iterator[None]:
    """No adapter call may leave the test's thread in another namespace."""
    from berth.kernel.netns import current_netns_inode

    before = current_netns_inode()
    yield
    assert current_netns_inode() == before


@pytest.fixture
def host() -> Iterator[Ns]:
    """berth's "host": a fresh namespace with no route to the real network."""
    with namespace("bth") as ns:
        yield ns


@pytest.fixture
def outside(host: Ns) -> Iterator[Ns]:
    """Another machine on the host's "public" link: host 198.51.100.1, outside 198.51.100.2."""
    with outside_world(host) as out:
        yield out


def remove_sandbox_mounts(run_dir: Path) -> None:
    """Unbind every namespace file a test left under its exec root, even after a failure."""
    from berth.kernel.netns import LinuxNetns

    netns = LinuxNetns()
    netns_dir = run_dir / "netns"
    if netns_dir.is_dir():
        for path in netns.list(str(netns_dir)):
            netns.remove(path)


@pytest.fixture
def berth_dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    state, run = tmp_path / "state", tmp_path / "run"
    yield state, run
    remove_sandbox_mounts(run)


@pytest.fixture
def berth(host: Ns, berth_dirs: tuple[Path, Path]) -> Iterator[NetworkController]:
    """A controller whose host is ``host``; sandboxes and state live in the test's tmp dir."""
    state, run = berth_dirs
    ctl = open_controller(
        state_dir=str(state), exec_root=str(run), host_ns=host.path, predefined=False
    )
    try:
        yield ctl
    finally:
        for sandbox in ctl.sandboxes():
            with contextlib.suppress(Exception):
                ctl.delete_sandbox(sandbox.id)
        ctl.close()


def sandbox_ns(ctl: NetworkController, ref: str) -> Ns:
    sandbox = ctl.sandbox(ref)
    return Ns(name=sandbox.name, path=sandbox.netns_path)
