"""What makes a berthd instance the only one on its data root, sockets and pid file.

- The data root: an exclusive ``flock`` on ``<data-root>/berthd.lock``, held by an open file for
  the process lifetime. The kernel drops it when the process dies, ``kill -9`` included, so a
  crash never leaves a stale lock. The fd is close-on-exec: container shims never inherit it.
- Each socket: a socket file that accepts a connection belongs to a live daemon (refuse); one
  that refuses connections is stale (replace it). Bound and listening here, before the slow part
  of start-up, so two daemons racing for one path cannot both get it: bind() fails for the second.
- The pid file: written atomically once the rest is held; removed at exit if it is still ours.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import logging
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from berth.daemon.config import DaemonConfig
from berth.model.errors import DaemonRunning, InvalidParameter

log = logging.getLogger(__name__)

LOCK_NAME = "berthd.lock"
SOCKET_MODE = 0o660
SOCKET_GROUP = "berth"  # like dockerd's "docker" group: members may use the API
DIR_MODE = 0o711  # exec-root and socket directories: traversable, not listable
BACKLOG = 128


@dataclass
class Listener:
    path: str
    sock: socket.socket
    inode: int


@dataclass
class Claims:
    lock_fd: int
    pidfile: str | None = None
    listeners: list[Listener] = field(default_factory=list)

    def release(self) -> None:
        """Close and remove the sockets and the pid file if they are still ours, then drop the
        lock (last, so a new daemon cannot start while this one still holds anything)."""
        for listener in self.listeners:
            listener.sock.close()
            _remove_if(listener.path, partial(_same_inode, inode=listener.inode))
        self.listeners.clear()
        if self.pidfile is not None:
            _remove_if(self.pidfile, lambda st: _read_pid(self.pidfile or "") == os.getpid())
            self.pidfile = None
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1


def acquire(config: DaemonConfig) -> Claims:
    """Lock the data root, bind every socket, write the pid file; all or nothing."""
    claims = Claims(lock_data_root(config.data_root))
    try:
        os.makedirs(config.exec_root, mode=DIR_MODE, exist_ok=True)
        for path in config.hosts:
            claims.listeners.append(bind(path))
        write_pidfile(config.pidfile)
        claims.pidfile = config.pidfile
    except BaseException:
        claims.release()
        raise
    return claims


def lock_data_root(data_root: str) -> int:
    os.makedirs(data_root, mode=0o700, exist_ok=True)
    path = os.path.join(data_root, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(path)
        os.close(fd)
        who = f"pid {holder}" if holder else "another process"
        raise DaemonRunning(
            f"another berthd ({who}) is using the data root {data_root}: "
            "one daemon per data root (see --data-root)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def bind(path: str) -> Listener:
    """A listening unix socket at ``path``, mode 0660, owner root (group ``berth`` if that group
    exists)."""
    os.makedirs(os.path.dirname(path), mode=DIR_MODE, exist_ok=True)
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise InvalidParameter(f"{path} exists and is not a socket: will not replace it")
        if _answers(path):
            raise DaemonRunning(f"another berthd is listening on {path}")
        log.info("removing stale socket", extra={"socket": path})
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(path)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise DaemonRunning(f"another berthd just bound {path}") from None
            raise
        os.chmod(path, SOCKET_MODE)
        if os.geteuid() == 0:  # unprivileged (unit tests, rootless use) keeps its own owner
            os.chown(path, 0, _socket_gid())
        sock.listen(BACKLOG)
        sock.setblocking(False)
        return Listener(path, sock, os.stat(path).st_ino)
    except BaseException:
        sock.close()
        raise


def write_pidfile(path: str) -> None:
    """Refuse a pid file naming a live berthd (dockerd refuses any live pid; after a reboot or
    kill -9 that pid may belong to an unrelated process, which must not block the start)."""
    holder = _read_pid(path)
    if holder and holder != os.getpid() and _is_berthd(holder):
        raise DaemonRunning(f"pid file {path} names a running berthd (pid {holder})")
    os.makedirs(os.path.dirname(path), mode=DIR_MODE, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:  # busy (EAGAIN, timeout): someone is there
            return True
    return True


def _socket_gid() -> int:
    try:
        return grp.getgrnam(SOCKET_GROUP).gr_gid
    except KeyError:
        return 0


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _is_berthd(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return b"berthd" in cmdline or b"berth.daemon" in cmdline


def _same_inode(st: os.stat_result, *, inode: int) -> bool:
    return st.st_ino == inode


def _remove_if(path: str, ours: Callable[[os.stat_result], bool]) -> None:
    with contextlib.suppress(OSError):
        if ours(os.stat(path)):
            os.unlink(path)
