"""A small selectors loop for the shim: readers by fd and buffered non-blocking writes.

The shim relays container output to the log and to attached clients and client input to the
container; a slow client must never stall the container or the log, so writes are buffered per
fd and a client whose buffer grows past ``MAX_PENDING`` is dropped (the log keeps everything).
"""

from __future__ import annotations

import errno
import os
import selectors
from collections.abc import Callable
from functools import partial

MAX_PENDING = 4 << 20

Callback = Callable[[], None]


class Loop:
    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._readers: dict[int, Callback] = {}
        self._pending: dict[int, bytearray] = {}
        self._on_write_error: dict[int, Callback] = {}
        self._close_when_flushed: set[int] = set()

    # --- registration ---------------------------------------------------------------------

    def add_reader(self, fd: int, callback: Callback) -> None:
        self._readers[fd] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        self._readers.pop(fd, None)
        self._update(fd)

    def on_write_error(self, fd: int, callback: Callback) -> None:
        self._on_write_error[fd] = callback

    def forget(self, fd: int) -> None:
        """Stop watching ``fd`` entirely and drop what was waiting to be written to it."""
        self._readers.pop(fd, None)
        self._pending.pop(fd, None)
        self._on_write_error.pop(fd, None)
        self._close_when_flushed.discard(fd)
        self._update(fd)

    def _update(self, fd: int) -> None:
        events = (selectors.EVENT_READ if fd in self._readers else 0) | (
            selectors.EVENT_WRITE if self._pending.get(fd) else 0
        )
        registered = fd in self._sel.get_map()
        if not events:
            if registered:
                self._sel.unregister(fd)
        elif registered:
            self._sel.modify(fd, events)
        else:
            self._sel.register(fd, events)

    # --- writing --------------------------------------------------------------------------

    def send(self, fd: int, data: bytes) -> None:
        """Write now what the fd takes, buffer the rest; on error or overflow call the fd's
        write-error callback."""
        buf = self._pending.setdefault(fd, bytearray())
        buf += data
        if len(buf) > MAX_PENDING:
            self._write_failed(fd)
            return
        self._flush(fd)

    def close_after(self, fd: int, data: bytes = b"") -> None:
        """Write ``data`` (and what is pending), then close ``fd``; close it as well if writing
        fails. The loop owns ``fd`` from now on."""
        self._on_write_error[fd] = partial(os.close, fd)
        self._close_when_flushed.add(fd)
        self._pending.setdefault(fd, bytearray()).extend(data)
        self._flush(fd)

    def _flush(self, fd: int) -> None:
        buf = self._pending.get(fd)
        while buf:
            try:
                written = os.write(fd, buf)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno == errno.EINTR:
                    continue
                self._write_failed(fd)
                return
            del buf[:written]
        if fd in self._close_when_flushed and not buf:
            self.forget(fd)
            os.close(fd)
            return
        self._update(fd)

    def _write_failed(self, fd: int) -> None:
        callback = self._on_write_error.get(fd)
        self.forget(fd)
        if callback is not None:
            callback()

    def has_pending(self) -> bool:
        return any(self._pending.values())

    # --- running --------------------------------------------------------------------------

    def run_once(self, timeout: float | None) -> None:
        for key, mask in self._sel.select(timeout):
            fd = int(key.fd)
            if mask & selectors.EVENT_WRITE and fd in self._pending:
                self._flush(fd)
            if mask & selectors.EVENT_READ:
                callback = self._readers.get(fd)
                if callback is not None:
                    callback()
