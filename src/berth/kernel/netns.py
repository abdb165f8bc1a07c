"""Network namespaces: ctypes ``setns``/``unshare``/``mount``, the ``in_netns`` switch, and the
``LinuxNetns`` adapter (namespaces as bind-mounted files).

Owns: switching *the calling thread only* into another netns for a short block, and creating and
removing namespace files. Must not: fork, exec ``ip``, or leave a thread in a foreign namespace
(every switch is undone in a ``finally``, with an fd of the original namespace held open).

Python 3.11 has no ``os.setns``/``os.unshare`` (3.12 added them), hence ctypes.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from berth.model.errors import KernelError

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
THREAD_NETNS = "/proc/thread-self/ns/net"
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ_FLAGS = struct.Struct("16sH14x")  # struct ifreq: name, then ifr_flags in the union

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _check(result: int, call: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{call}: {os.strerror(code)}")


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """Move the calling thread into the namespace open at ``fd``."""
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    """Give the calling thread new namespaces of the kinds in ``flags``."""
    _check(_libc.unshare(flags), "unshare")


def mount(source: str, target: str, fstype: str | None, flags: int) -> None:
    fs = fstype.encode() if fstype is not None else None
    _check(_libc.mount(source.encode(), target.encode(), fs, flags, None), f"mount {target}")


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


@contextmanager
def in_netns(target: str | int | None) -> Iterator[None]:
    """Run the block with the calling thread inside ``target`` (a namespace file path or an open
    namespace fd; ``None`` = no switch), then switch back, whatever happens in the block.

    Keep the block short: anything the thread does meanwhile (opening files under /proc/sys/net,
    creating sockets) happens in ``target``.
    """
    if target is None:
        yield
        return
    try:
        own = os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise KernelError("open the current thread's netns", err) from err
    fd = -1
    try:
        try:
            fd = target if isinstance(target, int) else os.open(target, os.O_RDONLY | os.O_CLOEXEC)
            setns(fd)
        except OSError as err:
            raise KernelError(f"enter netns {target}", err) from err
        try:
            yield
        finally:
            # Cannot fail in practice: we hold an fd of our own namespace. If it ever did, the
            # thread would keep running in the wrong namespace, so let the OSError escape.
            setns(own)
    finally:
        os.close(own)
        if isinstance(target, str) and fd >= 0:
            os.close(fd)


def current_netns_inode() -> int:
    """The inode of the calling thread's netns (tests compare it before and after calls)."""
    return os.stat(THREAD_NETNS).st_ino


def _nsfs_device() -> int:
    return os.stat(THREAD_NETNS).st_dev


def is_bound_netns(path: str) -> bool:
    """True if ``path`` is a namespace bind mount (its inode lives on nsfs)."""
    try:
        return os.stat(path).st_dev == _nsfs_device()
    except OSError:
        return False


class LinuxNetns:
    """``Netns`` over bind-mounted namespace files, created in-process (no fork, no exec)."""

    def create(self, path: str) -> None:
        parent = os.path.dirname(path) or "."
        try:
            os.makedirs(parent, exist_ok=True)
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
        except OSError as err:
            raise KernelError(f"create netns file {path}", err) from err
        failure: list[BaseException] = []
        # unshare() gives the *thread* a new netns; a short-lived thread takes that and dies, so
        # no thread of ours ever has to find its way back.
        worker = threading.Thread(
            target=_unshare_and_bind, args=(path, failure), name="berth-netns-create"
        )
        worker.start()
        worker.join()
        if failure:
            with suppress(OSError):
                os.unlink(path)
            raise KernelError(f"create netns {path}", failure[0]) from failure[0]

    def remove(self, path: str) -> bool:
        if not os.path.lexists(path):
            return False
        try:
            umount2(path, MNT_DETACH)
        except OSError as err:
            # EINVAL: not a mount point (a file left behind by a failed create): just unlink.
            if err.errno not in (errno.EINVAL, errno.ENOENT):
                raise KernelError(f"unmount netns {path}", err) from err
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as err:
            raise KernelError(f"remove netns file {path}", err) from err
        return True

    def exists(self, path: str) -> bool:
        return is_bound_netns(path)

    def list(self, directory: str) -> list[str]:
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return []
        except OSError as err:
            raise KernelError(f"list netns directory {directory}", err) from err
        paths = (os.path.join(directory, name) for name in names)
        return [path for path in paths if is_bound_netns(path)]


def _unshare_and_bind(path: str, failure: list[BaseException]) -> None:
    try:
        unshare(CLONE_NEWNET)
        _loopback_up()
        mount(THREAD_NETNS, path, None, MS_BIND)
    except BaseException as err:  # handed to the creating thread, which re-raises it
        failure.append(err)


def _loopback_up() -> None:
    """``lo`` up in the calling thread's netns. Two ioctls on a throwaway socket cost ~0.1 ms,
    where opening a pyroute2 IPRoute (event loop, netlink socket) for one request costs ~1.3 ms."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = _IFREQ_FLAGS.pack(b"lo", 0)
        _name, flags = _IFREQ_FLAGS.unpack(fcntl.ioctl(sock, _SIOCGIFFLAGS, request))
        fcntl.ioctl(sock, _SIOCSIFFLAGS, _IFREQ_FLAGS.pack(b"lo", flags | _IFF_UP))
