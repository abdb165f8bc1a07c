"""Is a host port already taken? Answered by trying to bind it inside the netns.

Owns: the probe socket (created inside ``in_netns``, bound after switching back, closed at once).
Must not: listen, connect, or keep anything open; a probe never holds the port.

Why a bind and not a /proc/net scan: the kernel's bind conflict rules (wildcards, dual-stack
sockets, SO_REUSEADDR, TIME_WAIT) are exactly the question, and one bind is ~20 µs.
"""

from __future__ import annotations

import errno
import socket

from berth.kernel.api import IPAddress, NsRef, Proto
from berth.kernel.netns import in_netns
from berth.model.errors import KernelError

_KINDS = {
    "tcp": (socket.SOCK_STREAM, socket.IPPROTO_TCP),
    "udp": (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
    "sctp": (socket.SOCK_STREAM, socket.IPPROTO_SCTP),
}
_UNSUPPORTED = {errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT}


class SocketPorts:
    """``Ports`` for one host netns (``host_ns`` path, or None for the calling thread's)."""

    def __init__(self, host_ns: str | None = None) -> None:
        self._host_ns = host_ns

    def in_use(self, ns: NsRef, proto: Proto, host_ip: IPAddress, port: int) -> bool:
        target = ns if ns is not None else self._host_ns
        what = f"probe {proto} {host_ip} port {port} in {target or 'the host netns'}"
        family = socket.AF_INET if host_ip.version == 4 else socket.AF_INET6
        kind, number = _KINDS[proto]
        with in_netns(target):
            try:
                sock = socket.socket(family, kind, number)
            except OSError as err:
                if err.errno in _UNSUPPORTED:
                    return False  # no SCTP in this kernel: nothing can hold an SCTP port
                raise KernelError(what, err) from err
        with sock:
            if proto == "tcp":
                # A TCP socket in TIME_WAIT (or bound, not listening, with SO_REUSEADDR) would not
                # stop a real server either; listeners still conflict.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((str(host_ip), port))
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    return True
                raise KernelError(what, err) from err
        return False
