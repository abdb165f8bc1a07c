"""Where a sandbox's 127.0.0.11:53 really is.

Sockets bound on 127.0.0.11:53 itself would take port 53 from the container: a DNS server in
it (dnsmasq, CoreDNS, Pi-hole, unbound) binding 0.0.0.0:53 would fail with "address in use"
(TCP always, UDP unless it sets SO_REUSEADDR). So, as Docker does, the resolver's sockets take
ephemeral ports on 127.0.0.11, and a nat rule in the sandbox's own namespace (nftables table
``ip berth-dns``, output hook) sends what is addressed to 127.0.0.11:53 there; conntrack turns
the answers' source back into port 53. Creating the sockets and applying the rule are the only
things done in the sandbox's namespace (``socket()`` in ``in_netns``; the rule by a helper
process, ``berth.dns.nfthelper``). Where nftables cannot be used, the sockets bind port 53
directly (with a warning: the container then cannot serve DNS itself).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from berth.kernel.netns import in_netns
from berth.model.errors import BerthError

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"
PORT = 53
TABLE = "berth-dns"
IP_FREEBIND = 15  # linux/in.h: bind even before lo is up
FD_SETSIZE = 1024

NftRunner = Callable[[str, str], None]  # (namespace path, nft script)


def open_sockets(netns: str, address: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A bound UDP socket and a listening TCP socket at ``address``:``port`` (0: each its own
    ephemeral port) in ``netns``."""
    flags = socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
    with in_netns(netns):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | flags)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM | flags)
    try:
        udp = _move_high(udp)
        tcp = _move_high(tcp)
        for sock in (udp, tcp):
            sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
        tcp.listen(128)
    except OSError:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


def _move_high(sock: socket.socket) -> socket.socket:
    """The same socket on a descriptor >= FD_SETSIZE (1024), when the fd limit allows.

    Two listeners per sandbox would otherwise fill the low descriptors, and code that still
    uses select() aborts on a descriptor above 1023: libnftables does (glibc's "bit out of range
    0 - FD_SETSIZE on fd_set", seen at ~250 sandboxes), so do parts of the runtime. berthd's
    event loop uses epoll, which has no such limit."""
    try:
        fd = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, FD_SETSIZE)
    except OSError:
        return sock  # RLIMIT_NOFILE at 1024 or below: stay low
    try:
        moved = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        return sock
    sock.close()
    moved.setblocking(False)
    return moved


def redirect_script(address: str, port: int, udp_port: int, tcp_port: int, *, new: bool) -> str:
    """The sandbox's table for these ports. ``new``: create it, failing if it exists (one
    quick transaction); else replace it, which deletes the old one in the same transaction and
    makes the kernel wait for an RCU grace period (~10 ms): only a sandbox that already had a
    table (berthd restarted) pays that."""
    head = (
        f"create table ip {TABLE}\n"
        if new
        else (f"table ip {TABLE} {{}}\ndelete table ip {TABLE}\nadd table ip {TABLE}\n")
    )
    return (
        head
        + f"add chain ip {TABLE} output {{ type nat hook output priority -100; policy accept; }}\n"
        + f"add rule ip {TABLE} output ip daddr {address} udp dport {port}"
        + f" dnat to {address}:{udp_port}\n"
        + f"add rule ip {TABLE} output ip daddr {address} tcp dport {port}"
        + f" dnat to {address}:{tcp_port}\n"
    )


def remove_script() -> str:
    return f"table ip {TABLE} {{}}\ndelete table ip {TABLE}\n"


def run_nft(netns: str, script: str) -> None:
    """Run ``script`` with an nftables context made in ``netns`` (libnftables, in-process)."""
    from berth.kernel.nftables import LibNftables  # noqa: PLC0415 - loads libnftables

    nft = LibNftables(netns)
    try:
        nft.run(script)
    finally:
        nft.close()


@dataclass
class Binder:
    """Opens a sandbox's listening sockets. ``nft`` runs a script in a namespace (berthd uses
    ``berth.dns.nfthelper``); None binds ``port`` directly."""

    address: str = ADDRESS
    port: int = PORT
    nft: NftRunner | None = None
    _warned: bool = field(default=False, repr=False)

    def open(self, netns: str) -> tuple[socket.socket, socket.socket]:
        if self.nft is not None:
            udp, tcp = open_sockets(netns, self.address, 0)
            ports = udp.getsockname()[1], tcp.getsockname()[1]
            try:
                self._redirect(netns, *ports)
                return udp, tcp
            except (BerthError, OSError) as err:
                udp.close()
                tcp.close()
                if not self._warned:
                    self._warned = True
                    log.warning(
                        "embedded DNS: cannot redirect port %d with nftables (%s): listening on "
                        "%s:%d itself, so containers cannot bind port %d",
                        self.port,
                        err,
                        self.address,
                        self.port,
                        self.port,
                    )
        return open_sockets(netns, self.address, self.port)

    def _redirect(self, netns: str, udp_port: int, tcp_port: int) -> None:
        assert self.nft is not None
        try:
            script = redirect_script(self.address, self.port, udp_port, tcp_port, new=True)
            self.nft(netns, script)
        except (BerthError, OSError):  # most likely: a table from before berthd restarted
            script = redirect_script(self.address, self.port, udp_port, tcp_port, new=False)
            self.nft(netns, script)

    def release(self, netns: str) -> None:
        """The sandbox stays but leaves DNS: remove its rule (best effort)."""
        if self.nft is None:
            return
        try:
            self.nft(netns, remove_script())
        except (BerthError, OSError) as err:
            log.debug("embedded DNS: removing the redirect in %s: %s", netns, err)
