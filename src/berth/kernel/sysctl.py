"""sysctls under /proc/sys, per network namespace.

Owns: reading and writing /proc/sys keys of a given netns. The kernel resolves /proc/sys/net
against the netns of the thread that *opens* the file, so the file is opened inside ``in_netns``
and read or written after switching back. Must not: write anything outside the namespace asked
for (callers pass ``ns``; None means this adapter's host netns).
"""

from __future__ import annotations

import errno
import os

from berth.kernel.api import NsRef
from berth.kernel.netns import in_netns
from berth.model.errors import KernelError

PROC_SYS = "/proc/sys"


class ProcSysctl:
    """``Sysctl`` for one host netns (``host_ns`` path, or None for the calling thread's)."""

    def __init__(self, host_ns: str | None = None) -> None:
        self._host_ns = host_ns

    def read(self, ns: NsRef, key: str) -> str:
        fd = self._open(ns, key, os.O_RDONLY)
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        except OSError as err:
            raise KernelError(f"read sysctl {key} in {self._where(ns)}", err) from err
        finally:
            os.close(fd)
        return b"".join(chunks).decode().rstrip("\n")

    def write(self, ns: NsRef, key: str, value: str) -> None:
        fd = self._open(ns, key, os.O_WRONLY)
        try:
            # One write(2): the kernel parses each write as a whole value.
            os.write(fd, value.encode())
        except OSError as err:
            raise KernelError(f"write sysctl {key}={value} in {self._where(ns)}", err) from err
        finally:
            os.close(fd)

    def _open(self, ns: NsRef, key: str, mode: int) -> int:
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts):
            bad = OSError(errno.EINVAL, f"invalid sysctl key {key!r}")
            raise KernelError(f"sysctl {key!r}", bad) from bad
        path = os.path.join(PROC_SYS, *parts)
        target = ns if ns is not None else self._host_ns
        with in_netns(target):
            try:
                return os.open(path, mode | os.O_CLOEXEC)
            except OSError as err:
                raise KernelError(f"open sysctl {key} in {self._where(ns)}", err) from err

    def _where(self, ns: NsRef) -> str:
        return ns or self._host_ns or "the host netns"
