"""NetlinkConntrack's choice between the kernel's filtered delete and dump-and-delete, with a
stand-in socket: what it sends, when it falls back, what it returns and how it fails. The real
kernel's side is tests/integration/test_kernel_conntrack.py."""

from __future__ import annotations

import errno
import os
import re
from ipaddress import ip_address
from typing import Any

import pytest

from berth.kernel import conntrack, ctnetlink
from berth.kernel.conntrack import NetlinkConntrack
from berth.kernel.rtnl import Request
from berth.model.errors import KernelError

V4, V4_OTHER, V6 = ip_address("172.17.0.2"), ip_address("192.0.2.10"), ip_address("fd00::2")
AF_INET, AF_INET6 = ctnetlink.AF_INET, ctnetlink.AF_INET6


class Kernel:
    """Answers every delete request with ``answer`` (None = ACK); records what was sent."""

    def __init__(self) -> None:
        self.answer: int | None = None
        self.broken = False  # the exchange itself fails (say, a timeout)
        self.writes: list[list[bytes]] = []
        self.dumped: list[tuple[int, str]] = []
        self.opened = self.closed = 0

    def socket(self, protocol: int) -> Any:
        assert protocol == ctnetlink.NETLINK_NETFILTER
        kernel = self
        kernel.opened += 1

        class Socket:
            def request(self, *requests: Request) -> list[tuple[OSError | None, list[bytes]]]:
                assert all(r.kind == ctnetlink.CT_DELETE and not r.dump for r in requests)
                if kernel.broken:
                    raise TimeoutError("timed out")
                kernel.writes.append([r.body for r in requests])
                code = kernel.answer
                error = None if code is None else OSError(code, os.strerror(code))
                return [(error, []) for _ in requests]

            def close(self) -> None:
                kernel.closed += 1

        return Socket()


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Kernel:
    fake = Kernel()
    monkeypatch.setattr(conntrack, "RtnlSocket", fake.socket)

    def dump_and_delete(sock: Any, family: int, match: Any) -> int:
        fake.dumped.append((family, str(match)))
        return 3

    monkeypatch.setattr(conntrack, "_dump_and_delete", dump_and_delete)
    return fake


def test_an_endpoint_address_is_flushed_in_the_kernel_with_one_request(kernel: Kernel) -> None:
    assert NetlinkConntrack().flush(None, reply_src=V4) is None
    assert kernel.writes == [[ctnetlink.flush_matching(AF_INET, reply_src=V4)]]
    assert kernel.dumped == []


def test_without_an_address_both_families_go_in_one_write(kernel: Kernel) -> None:
    assert NetlinkConntrack().flush(None, proto="udp", orig_dport=53) is None
    assert kernel.writes == [
        [
            ctnetlink.flush_matching(family, proto=17, orig_dport=53)
            for family in (AF_INET, AF_INET6)
        ]
    ]


def test_no_field_at_all_flushes_the_whole_table(kernel: Kernel) -> None:
    assert NetlinkConntrack().flush(None) is None
    assert kernel.writes == [[ctnetlink.flush_all()]]


def test_addresses_of_two_families_match_nothing(kernel: Kernel) -> None:
    assert NetlinkConntrack().flush(None, orig_dst=V4_OTHER, reply_src=V6) == 0
    assert kernel.writes == [] and kernel.dumped == []


@pytest.mark.parametrize(
    ("fields", "dumped"),
    [
        # the kernel inverts IPv6 address filters (ctnetlink_filter_match_tuple)
        ({"reply_src": V6}, [(AF_INET6, f"reply_src={V6}")]),
        ({"proto": "tcp", "orig_dst": V6}, [(AF_INET6, f"proto=tcp orig_dst={V6}")]),
        # and compares ports only on TCP and UDP entries
        (
            {"proto": "sctp", "orig_dport": 9},
            [(AF_INET, "proto=sctp orig_dport=9"), (AF_INET6, "proto=sctp orig_dport=9")],
        ),
        ({"orig_dport": 9}, [(AF_INET, "orig_dport=9"), (AF_INET6, "orig_dport=9")]),
    ],
)
def test_where_the_kernel_filter_is_not_exact_entries_are_dumped(
    kernel: Kernel, fields: dict[str, Any], dumped: list[tuple[int, str]]
) -> None:
    assert NetlinkConntrack().flush(None, **fields) == 3 * len(dumped)
    assert kernel.writes == []
    assert kernel.dumped == dumped


def test_only_the_exact_family_goes_to_the_kernel(kernel: Kernel) -> None:
    """sctp without a port is exact in both families; with IPv6 off the table nothing changes."""
    assert NetlinkConntrack().flush(None, proto="sctp") is None
    assert len(kernel.writes[0]) == 2 and kernel.dumped == []


@pytest.mark.parametrize("code", [errno.EINVAL, errno.EOPNOTSUPP])
def test_a_kernel_without_the_filtered_delete_gets_dump_and_delete(
    kernel: Kernel, code: int
) -> None:
    kernel.answer = code
    ct = NetlinkConntrack()
    assert ct.flush(None, reply_src=V4) == 3
    assert kernel.dumped == [(AF_INET, f"reply_src={V4}")]
    # and is not asked again
    kernel.answer = None
    assert ct.flush(None, proto="udp") == 6
    assert len(kernel.writes) == 1


def test_other_kernel_errors_are_raised_with_what_and_where(kernel: Kernel) -> None:
    kernel.answer = errno.EPERM
    what = re.escape("flush conntrack entries reply_src=172.17.0.2 in the host netns")
    with pytest.raises(KernelError, match=f"{what}: .*Operation not permitted") as caught:
        NetlinkConntrack().flush(None, reply_src=V4)
    assert caught.value.errno == errno.EPERM
    assert kernel.dumped == []


def test_the_host_socket_is_kept_and_other_namespaces_get_their_own(kernel: Kernel) -> None:
    """Closing a netfilter socket waits for nf_tables' deferred cleanup: the host's stays."""
    ct = NetlinkConntrack()
    for _ in range(3):
        ct.flush(None, reply_src=V4)
    assert (kernel.opened, kernel.closed) == (1, 0)
    ct.flush("/proc/self/ns/net", reply_src=V4)  # a sandbox's: opened and closed
    assert (kernel.opened, kernel.closed) == (2, 1)
    ct.close()
    assert kernel.closed == 2


def test_a_broken_exchange_drops_the_host_socket(kernel: Kernel) -> None:
    ct = NetlinkConntrack()
    kernel.broken = True
    with pytest.raises(KernelError, match="timed out"):
        ct.flush(None, reply_src=V4)
    kernel.broken = False
    ct.flush(None, reply_src=V4)
    assert (kernel.opened, kernel.closed) == (2, 1)
