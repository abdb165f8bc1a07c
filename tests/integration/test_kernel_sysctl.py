"""ProcSysctl against the real kernel: /proc/sys/net follows the netns of the opening thread."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from berth.kernel.sysctl import ProcSysctl
from berth.model.errors import KernelError
from tests.integration.netenv import Ns, namespace, unique

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (sysctls in a namespace)"),
]

FORWARD = "net/ipv4/ip_forward"


def in_ns(ns: Ns, key: str) -> str:
    return ns.run("sysctl", "-n", key.replace("/", ".")).stdout.strip()


def test_values_are_per_namespace(host: Ns) -> None:
    own = Path(f"/proc/sys/{FORWARD}").read_text()  # the machine's value, only read
    sysctl = ProcSysctl(host.path)
    with namespace("bty") as sandbox:
        sysctl.write(None, FORWARD, "1")
        assert sysctl.read(None, FORWARD) == "1" and in_ns(host, FORWARD) == "1"
        assert sysctl.read(sandbox.path, FORWARD) == "0" and in_ns(sandbox, FORWARD) == "0"
        sysctl.write(sandbox.path, FORWARD, "1")
        assert in_ns(sandbox, FORWARD) == "1"
    assert Path(f"/proc/sys/{FORWARD}").read_text() == own


def test_interface_keys(host: Ns) -> None:
    sysctl = ProcSysctl(host.path)
    link = unique("bv.")  # a dot in the name: the reason keys use slashes
    host.ip("link", "add", link, "type", "veth", "peer", "name", unique("pe"))
    key = f"net/ipv4/conf/{link}/route_localnet"
    assert sysctl.read(None, key) == "0"
    sysctl.write(None, key, "1")
    assert open_in(host, key) == "1"
    assert sysctl.read(None, "net/ipv4/ip_local_port_range") == "32768\t60999"


def open_in(ns: Ns, key: str) -> str:
    return ns.run("cat", f"/proc/sys/{key}").stdout.strip()


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("net/ipv4/conf/nosuchlink/route_localnet", "1", errno.ENOENT),
        (FORWARD, "yes", errno.EINVAL),
        ("net/../../kernel/hostname", "x", errno.EINVAL),
        ("/net/ipv4/ip_forward", "1", errno.EINVAL),
    ],
)
def test_errors(host: Ns, key: str, value: str, code: int) -> None:
    with pytest.raises(KernelError) as excinfo:
        ProcSysctl(host.path).write(None, key, value)
    assert excinfo.value.errno == code


def test_missing_namespace(host: Ns) -> None:
    with pytest.raises(KernelError) as excinfo:
        ProcSysctl(host.path).read("/nonexistent/netns", FORWARD)
    assert excinfo.value.errno == errno.ENOENT
