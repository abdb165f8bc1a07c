"""What makes a berthd the only one on its data root, sockets and pid file: the lock, live versus
stale sockets, the pid file, and a release that removes only what is still ours."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.daemon.claims import Claims, acquire, bind, lock_data_root, write_pidfile
from berth.daemon.config import DaemonConfig
from berth.model.errors import DaemonRunning, InvalidParameter


@pytest.fixture
def base() -> Iterator[Path]:
    """Short paths: unix socket paths are limited to 107 bytes."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="bdu", dir="/tmp"))
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def config(base: Path, *hosts: str) -> DaemonConfig:
    return DaemonConfig(
        hosts=hosts or (str(base / "b.sock"),),
        data_root=str(base / "data"),
        exec_root=str(base / "run"),
        pidfile=str(base / "run" / "berthd.pid"),
    )


def test_acquire_and_release(base: Path) -> None:
    cfg = config(base, str(base / "a.sock"), str(base / "s" / "b.sock"))
    claims = acquire(cfg)
    try:
        for path in cfg.hosts:
            mode = os.stat(path).st_mode
            assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
        assert Path(cfg.pidfile).read_text() == f"{os.getpid()}\n"
        assert (base / "data" / "berthd.lock").read_text() == f"{os.getpid()}\n"
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(cfg.hosts[0])  # listening before anything is served
    finally:
        claims.release()
    assert not any(os.path.exists(p) for p in (*cfg.hosts, cfg.pidfile))
    claims.release()  # twice is harmless
    acquire(cfg).release()  # and the lock is free again


def test_the_data_root_lock_is_exclusive(base: Path) -> None:
    fd = lock_data_root(str(base / "data"))
    try:
        with pytest.raises(DaemonRunning, match=rf"\(pid {os.getpid()}\) is using the data root"):
            acquire(config(base))
        assert not (base / "b.sock").exists()  # nothing else was claimed
    finally:
        os.close(fd)


def test_a_live_socket_is_refused_and_a_stale_one_replaced(base: Path) -> None:
    path = str(base / "x.sock")
    live = bind(path)
    try:
        with pytest.raises(DaemonRunning, match=f"another berthd is listening on {path}"):
            bind(path)
    finally:
        live.sock.close()  # the file stays behind, like after kill -9
    assert os.path.exists(path)
    replaced = bind(path)
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)  # the new socket answers
    finally:
        replaced.sock.close()


def test_a_file_that_is_not_a_socket_is_never_replaced(base: Path) -> None:
    path = base / "x.sock"
    path.write_text("precious")
    with pytest.raises(InvalidParameter, match="exists and is not a socket"):
        bind(str(path))
    assert path.read_text() == "precious"


def test_pidfile_of_a_live_berthd_is_refused_a_stale_one_replaced(base: Path) -> None:
    pidfile = base / "berthd.pid"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "berth.daemon"])
    try:
        cmdline = Path(f"/proc/{other.pid}/cmdline")
        while not cmdline.read_bytes():  # right after a vfork, the exec may not be done yet
            time.sleep(0.01)
        pidfile.write_text(f"{other.pid}\n")
        with pytest.raises(DaemonRunning, match=f"names a running berthd .pid {other.pid}."):
            write_pidfile(str(pidfile))
    finally:
        other.kill()
        other.wait()
    write_pidfile(str(pidfile))  # its pid is dead now
    assert pidfile.read_text() == f"{os.getpid()}\n"
    unrelated = subprocess.Popen(["sleep", "30"])
    try:
        pidfile.write_text(f"{unrelated.pid}\n")
        write_pidfile(str(pidfile))  # a reused pid that is not berthd's does not block
    finally:
        unrelated.kill()
        unrelated.wait()


def test_release_leaves_files_that_are_no_longer_ours(base: Path) -> None:
    cfg = config(base)
    claims: Claims = acquire(cfg)
    os.unlink(cfg.hosts[0])
    replacement = bind(cfg.hosts[0])  # someone else's socket now
    Path(cfg.pidfile).write_text("1\n")
    claims.release()
    assert os.path.exists(cfg.hosts[0]) and Path(cfg.pidfile).read_text() == "1\n"
    replacement.sock.close()
