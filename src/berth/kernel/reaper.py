"""Detaching veth pairs: taking both ends out of service at once (``retire``) and deleting them
in the background (``LinkReaper``), for ``PyrouteNetlink.detach_veth``.

Owns: one thread and one rtnetlink socket in the host netns that delete retired links by index.
Deleting a netdev costs ~16-20 ms of kernel time (unregistration waits for RCU grace periods),
which nobody needs to wait for once the link is down, renamed and out of its bridge. Several
links queued together go in one request: they share one link group, and an RTM_DELLINK by group
unregisters them all at once (20 links: ~22 ms instead of ~360 ms one by one), but only after
a dump shows every member of the group is a link this reaper was given.

Must not: delete anything it was not given (group deletes are checked first), or lose a link
silently: failed deletes are retried, then logged; a link still left when the process dies is
tagged for berthd's orphan sweep at the next start.
"""

from __future__ import annotations

import errno
import logging
import secrets
import threading
import time
from collections.abc import Callable

from berth.kernel.rtnl import (
    IFLA_GROUP,
    IFLA_IFALIAS,
    IFLA_IFNAME,
    IFLA_MASTER,
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_NEWLINK,
    Request,
    RtnlSocket,
    asciiz,
    dump_links,
    ifaddr,
    ifinfo,
    link,
    number,
    u32,
)

log = logging.getLogger(__name__)

_GONE = {errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL}
_ATTEMPTS = 3


def retire(
    sock: RtnlSocket,
    index: int,
    *,
    group: int | None = None,
    alias: str | None = None,
    leave_bridge: bool = False,
) -> None:
    """Take one end of a veth pair out of service in one exchange: down (which takes its
    routes and IPv6 addresses), renamed to a throwaway name (freeing its own), out of its
    bridge, into ``group``, with ``alias``; and its IPv4 addresses dropped (a bare RTM_DELADDR
    deletes the primary, and its secondaries with it). Raises the first error that is not
    "already gone"."""
    change = asciiz(IFLA_IFNAME, "bx" + secrets.token_hex(6))  # a name nothing else has
    change += u32(IFLA_MASTER, 0) if leave_bridge else b""
    change += u32(IFLA_GROUP, group) if group is not None else b""
    change += asciiz(IFLA_IFALIAS, alias) if alias else b""
    results = sock.request(
        Request(RTM_NEWLINK, link(index=index, up=False, extra=change)),
        Request(RTM_DELADDR, ifaddr(2, 0, index)),
    )
    for error, _ in results:
        if error is not None and error.errno not in _GONE:
            raise error


class LinkReaper:
    """Deletes links (by ifindex) of one netns in a daemon thread started on first use."""

    def __init__(self, open_socket: Callable[[], RtnlSocket]) -> None:
        self._open_socket = open_socket
        # A link group only berth's retired links carry (0 is everyone's default group).
        self.group = secrets.randbits(30) | 1 << 30
        self._cond = threading.Condition()
        self._queue: list[int] = []
        self._outstanding: set[int] = set()  # queued or being deleted
        self._thread: threading.Thread | None = None
        self._stopping = False

    def claim(self, index: int) -> None:
        """Say link ``index`` is ours before it joins ``group`` (a group member nobody claimed
        is someone else's, and stops deletes by group); ``submit`` it afterwards."""
        with self._cond:
            self._outstanding.add(index)

    def submit(self, index: int) -> None:
        """Delete link ``index`` soon (it should carry ``group`` to be deleted in a batch)."""
        with self._cond:
            if self._stopping:
                self._outstanding.discard(index)
                raise RuntimeError("the link reaper is closed")
            self._queue.append(index)
            self._outstanding.add(index)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="berth-link-reaper", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until every submitted link is deleted (or given up on); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._outstanding, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queue (for at most ``timeout`` seconds), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("links still being deleted at shutdown; the orphan sweep takes them")

    def _run(self) -> None:
        try:
            sock = self._open_socket()
        except Exception:
            log.exception("cannot open a socket to delete retired links")
            sock = None
        try:
            while sock is not None:
                with self._cond:
                    self._cond.wait_for(lambda: bool(self._queue) or self._stopping)
                    batch, self._queue = self._queue, []
                if not batch:
                    return  # stopping, and nothing left
                try:
                    self._delete(sock, batch)
                except Exception:  # the thread must survive whatever one batch does
                    log.exception("deleting retired links %s failed", batch)
                with self._cond:
                    self._outstanding.difference_update(batch)
                    self._cond.notify_all()
        finally:
            if sock is not None:
                sock.close()
            with self._cond:
                if self._queue:
                    log.error("retired links %s are left to the orphan sweep", self._queue)
                self._queue.clear()
                self._outstanding.clear()
                self._thread = None
                self._cond.notify_all()

    def _delete(self, sock: RtnlSocket, batch: list[int]) -> None:
        """Delete by group when that covers several links and only ours; the rest one by one."""
        left = batch
        if len(batch) > 1:
            existing = {link.index: number(link.attrs.get(IFLA_GROUP)) for link in dump_links(sock)}
            members = {index for index, group in existing.items() if group == self.group}
            left = [index for index in batch if index in existing and index not in members]
            if len(members) > 1 and self._all_ours(members):
                request = Request(RTM_DELLINK, ifinfo() + u32(IFLA_GROUP, self.group))
                ((error, _),) = sock.request(request)
                if error is not None and error.errno not in _GONE:
                    log.warning("deleting link group %d failed (%s)", self.group, error)
                    left = batch
            else:
                left += [index for index in batch if index in members]
        for index in left:
            self._delete_one(sock, index)

    def _all_ours(self, members: set[int]) -> bool:
        """Every link in the group is one we were given (whoever else might use the number)."""
        with self._cond:
            foreign = members - self._outstanding
        if foreign:
            log.warning(
                "links %s are in berth's link group %d: no group delete", foreign, self.group
            )
        return not foreign

    def _delete_one(self, sock: RtnlSocket, index: int) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            ((error, _),) = sock.request(Request(RTM_DELLINK, ifinfo(index)))
            if error is None or error.errno in _GONE:
                return
            if attempt == _ATTEMPTS:
                log.error("could not delete retired link %d: %s", index, error)
                return
            time.sleep(0.05 * attempt)
