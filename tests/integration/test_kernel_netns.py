"""LinuxNetns and in_netns against the real kernel. Namespace files live in pytest's tmp_path and
are removed by the tests (and by the fixture if a test fails half-way)."""

from __future__ import annotations

import errno
import os
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.kernel import netns as netns_module
from berth.kernel.netns import LinuxNetns, current_netns_inode, in_netns, is_bound_netns
from berth.model.errors import KernelError
from tests.integration.netenv import namespace, sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bind mounts)"),
]


@pytest.fixture
def nsdir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "netns"
    yield directory
    for parent, _dirs, _files in os.walk(directory):
        for path in LinuxNetns().list(parent):
            LinuxNetns().remove(path)


def mounted(path: str) -> bool:
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == path for line in mounts)


def test_create_makes_a_bound_netns_with_lo_up(nsdir: Path) -> None:
    netns = LinuxNetns()
    path = str(nsdir / "deeper" / "sb1")
    netns.create(path)
    assert netns.exists(path) and mounted(path)
    assert os.stat(path).st_ino != current_netns_inode()
    links = sh("nsenter", f"--net={path}", "ip", "-br", "link").stdout.split("\n")
    assert links[0].split()[:2] == ["lo", "UNKNOWN"]  # lo is up (its oper state is unknown)
    assert "UP" in links[0].split()[-1]
    assert netns.list(str(nsdir / "deeper")) == [path]
    assert netns.remove(path) is True
    assert not os.path.exists(path) and not mounted(path) and not netns.exists(path)
    assert netns.remove(path) is False


def test_create_refuses_an_existing_path(nsdir: Path) -> None:
    netns = LinuxNetns()
    path = str(nsdir / "sb")
    netns.create(path)
    inode = os.stat(path).st_ino
    with pytest.raises(KernelError) as excinfo:
        netns.create(path)
    assert excinfo.value.errno == errno.EEXIST
    assert os.stat(path).st_ino == inode  # the first one is untouched
    netns.remove(path)


def test_a_failed_create_leaves_nothing(nsdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_mount(source: str, target: str, fstype: str | None, flags: int) -> None:
        raise OSError(errno.EPERM, "mount refused")

    monkeypatch.setattr(netns_module, "mount", failing_mount)
    path = str(nsdir / "sb")
    with pytest.raises(KernelError) as excinfo:
        LinuxNetns().create(path)
    assert excinfo.value.errno == errno.EPERM
    assert not os.path.exists(path)


def test_list_and_remove_skip_or_clean_plain_files(nsdir: Path) -> None:
    netns = LinuxNetns()
    nsdir.mkdir()
    stale = nsdir / "stale"
    stale.touch()  # what a crash between create and bind mount would leave
    netns.create(str(nsdir / "live"))
    assert netns.list(str(nsdir)) == [str(nsdir / "live")]
    assert netns.list(str(nsdir / "missing")) == []
    assert netns.remove(str(stale)) is True and not stale.exists()
    netns.remove(str(nsdir / "live"))


def test_in_netns_switches_only_the_calling_thread() -> None:
    own = current_netns_inode()
    seen: dict[str, int] = {}
    switched, looked = threading.Event(), threading.Event()

    def other_thread() -> None:
        switched.wait(5)
        seen["other"] = current_netns_inode()
        looked.set()

    other = threading.Thread(target=other_thread)
    other.start()  # started before the switch: a new thread inherits its creator's netns
    with namespace() as ns:
        target = os.stat(ns.path).st_ino
        with in_netns(ns.path):
            seen["inside"] = current_netns_inode()
            switched.set()
            looked.wait(5)
        with in_netns(None):
            seen["none"] = current_netns_inode()
    other.join()
    assert seen == {"inside": target, "other": own, "none": own}


def test_in_netns_restores_after_an_error() -> None:
    with namespace() as ns:
        with pytest.raises(RuntimeError), in_netns(ns.path):
            raise RuntimeError("inside")
        fd = os.open(ns.path, os.O_RDONLY)
        try:
            with in_netns(fd):
                assert current_netns_inode() == os.stat(ns.path).st_ino
        finally:
            os.close(fd)
    with pytest.raises(KernelError) as excinfo, in_netns("/nonexistent/netns"):
        pass
    assert excinfo.value.errno == errno.ENOENT


def test_bound_netns_detection(nsdir: Path) -> None:
    nsdir.mkdir()
    assert not is_bound_netns(str(nsdir))
    assert is_bound_netns("/proc/self/ns/net")


def test_measure_create_and_remove(nsdir: Path) -> None:
    netns = LinuxNetns()
    times = []
    for i in range(30):
        path = str(nsdir / f"m{i}")
        start = time.perf_counter()
        netns.create(path)
        netns.remove(path)
        times.append(time.perf_counter() - start)
    print(f"\nLinuxNetns.create + remove: median {statistics.median(times) * 1000:.2f} ms")
