"""The real kernel: composes the Linux adapters for one host namespace.

Only composition roots (daemon wiring, CNI entry, test fixtures) call ``real_kernel``; everything
else receives the resulting ``Kernel``.
"""

from __future__ import annotations

from berth.kernel.api import Kernel
from berth.kernel.conntrack import NetlinkConntrack
from berth.kernel.netlink import PyrouteNetlink
from berth.kernel.netns import LinuxNetns
from berth.kernel.nftables import LibNftables
from berth.kernel.ports import SocketPorts
from berth.kernel.sysctl import ProcSysctl


def real_kernel(host_ns: str | None = None) -> Kernel:
    """Adapters acting on ``host_ns`` (a netns file) as "the host", or on the netns of the calling
    thread when None. Release with ``close_real_kernel`` when done."""
    return Kernel(
        netns=LinuxNetns(),
        netlink=PyrouteNetlink(host_ns),
        nft=LibNftables(host_ns),
        sysctl=ProcSysctl(host_ns),
        conntrack=NetlinkConntrack(host_ns),
        ports=SocketPorts(host_ns),
        host_ns=host_ns,
    )


def close_real_kernel(kernel: Kernel) -> None:
    """Close the sockets, the netlink worker thread and the nftables context of ``kernel``
    (which keep ``host_ns`` alive while open)."""
    if isinstance(kernel.netlink, PyrouteNetlink):
        kernel.netlink.shutdown()
    if isinstance(kernel.conntrack, NetlinkConntrack):
        kernel.conntrack.close()
    if isinstance(kernel.nft, LibNftables):
        kernel.nft.close()
