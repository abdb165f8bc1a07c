"""A container's /etc/hosts, /etc/resolv.conf and /etc/hostname, rendered without I/O."""

from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from berth.model.endpoint import Endpoint
from berth.model.errors import InvalidParameter
from berth.runtime.etcfiles import (
    HOST_GATEWAY,
    HostEntry,
    ResolvConf,
    own_names,
    parse_extra_host,
    render_hostname,
    render_hosts,
    render_resolv,
    write_in_place,
)
from berth.runtime.networking import gateway_names, host_gateways

HOST_RESOLV = """# managed by something
nameserver 127.0.0.53
nameserver 192.0.2.1
nameserver ::1
search corp.test
options edns0
"""


def test_default_hosts_like_docker() -> None:
    text = render_hosts(
        [HostEntry("10.0.0.2", own_names("web", "example.test"))],
        [HostEntry("10.9.9.9", ("db",))],
    )
    assert text == (
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "ff00::0\tip6-mcastprefix\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n"
        "10.9.9.9\tdb\n"
        "10.0.0.2\tweb.example.test web\n"
    )


def test_link_entries_come_last() -> None:
    """Docker adds the links after the container's own addresses."""
    text = render_hosts(
        [HostEntry("172.17.0.3", ("web",))],
        [HostEntry("10.9.9.9", ("extra",))],
        links=[HostEntry("172.17.0.2", ("db", "0123456789ab", "database"))],
    )
    assert text.splitlines()[-3:] == [
        "10.9.9.9\textra",
        "172.17.0.3\tweb",
        "172.17.0.2\tdb 0123456789ab database",
    ]


def test_host_mode_hosts_start_from_the_hosts_file() -> None:
    text = render_hosts([], [HostEntry("10.9.9.9", ("db",))], base="127.0.0.1 localhost\n")
    assert text == "127.0.0.1 localhost\n10.9.9.9\tdb\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("db:10.0.0.9", ("db", "10.0.0.9")),
        ("db=10.0.0.9", ("db", "10.0.0.9")),
        ("v6:::1", ("v6", "::1")),
        ("v6=[fd00::1]", ("v6", "fd00::1")),
        ("gw:host-gateway", ("gw", HOST_GATEWAY)),
        ("gw=host-gateway", ("gw", HOST_GATEWAY)),
        ("v6:[2001:db8::1]", ("v6", "2001:db8::1")),
        ("v4:[192.0.2.1]", ("v4", "192.0.2.1")),  # brackets are fine for IPv4 too (Docker)
        ("long:0:0:0:0:0:0:0:1", ("long", "0:0:0:0:0:0:0:1")),  # kept as written
        ("a.b-c:10.0.0.9", ("a.b-c", "10.0.0.9")),
    ],
)
def test_parse_extra_host(text: str, expected: tuple[str, str]) -> None:
    assert parse_extra_host(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "nohost",
        ":1.2.3.4",
        "=1.2.3.4",
        "h:notanip",
        "h:",
        "h:[::1",
        "h:::1]",
        "h:[]",
        "h:01.2.3.4",
        "h:1.2.3.4/24",
        "h:fe80::1%eth0x y",
        "a b:1.2.3.4",
        "a\tb=1.2.3.4",
        "#h:1.2.3.4",
        "h\n:1.2.3.4",
        "h:host-gateway2",
        "h:HOST-GATEWAY",
    ],
)
def test_parse_extra_host_refuses(text: str) -> None:
    with pytest.raises(InvalidParameter, match="add-host"):
        parse_extra_host(text)


def test_resolv_conf_drops_loopback_nameservers() -> None:
    assert render_resolv(HOST_RESOLV, ResolvConf()) == (
        "# managed by something\nnameserver 192.0.2.1\nsearch corp.test\noptions edns0\n"
    )


def test_resolv_conf_keeps_them_in_host_mode() -> None:
    assert render_resolv(HOST_RESOLV, ResolvConf(), keep_local_nameservers=True) == HOST_RESOLV


def test_resolv_conf_overrides_replace_only_what_was_given() -> None:
    text = render_resolv(HOST_RESOLV, ResolvConf(nameservers=("10.0.0.53",)))
    assert text == (
        "# managed by something\nsearch corp.test\noptions edns0\nnameserver 10.0.0.53\n"
    )
    text = render_resolv(HOST_RESOLV, ResolvConf(search=("a.test", "b.test"), options=("ndots:3",)))
    assert "nameserver 192.0.2.1\n" in text
    assert "search a.test b.test\n" in text and "corp.test" not in text
    assert "options ndots:3\n" in text and "edns0" not in text


def test_resolv_conf_search_dot_means_none() -> None:
    assert "search" not in render_resolv(HOST_RESOLV, ResolvConf(search=(".",)))


def test_empty_host_resolv_conf() -> None:
    assert render_resolv("", ResolvConf()) == ""
    assert render_resolv("", ResolvConf(nameservers=("10.0.0.1",))) == "nameserver 10.0.0.1\n"


def test_hostname() -> None:
    assert render_hostname("web") == "web\n"
    assert own_names("web", "") == ("web",)


def test_own_names_like_docker() -> None:
    """libnetwork's updateHostsFile: the FQDN, then its first label if it has several."""
    assert own_names("web", "example.test") == ("web.example.test", "web")
    assert own_names("web.example.test", "") == ("web.example.test", "web")
    assert own_names("web.a", "example.test") == ("web.a.example.test", "web")


def test_host_gateway_is_the_first_gateway_of_each_family() -> None:
    def ep(name: str, gw4: str | None, gw6: str | None = None) -> Endpoint:
        return Endpoint(
            id=name,
            name=name,
            network_id=name,
            gateway4=IPv4Address(gw4) if gw4 else None,
            gateway6=IPv6Address(gw6) if gw6 else None,
        )

    endpoints = [ep("a", None), ep("b", "10.1.0.1"), ep("c", "10.2.0.1", "fd00:2::1")]
    assert host_gateways(endpoints) == ["10.1.0.1", "fd00:2::1"]
    assert host_gateways([]) == []
    extra = ["db:10.0.0.1", "host.docker.internal:host-gateway", "gw=host-gateway"]
    assert gateway_names(extra) == ("host.docker.internal", "gw")


def test_write_in_place_keeps_the_inode(tmp_path: Path) -> None:
    """A bind mount pins the inode: rewrites must not replace the file."""
    path = tmp_path / "hosts"
    write_in_place(str(path), "a much longer first version\n")
    inode = os.stat(path).st_ino
    write_in_place(str(path), "short\n")
    assert path.read_text() == "short\n"
    assert os.stat(path).st_ino == inode


def test_write_in_place_overwrites_without_truncating_to_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Longer, shorter, equal and empty rewrites leave exactly the new text; the file is never
    cut to zero before the write (ext4 would flush it to disk at close: see write_in_place)."""
    path = tmp_path / "resolv.conf"
    cuts: list[int] = []
    real_ftruncate = os.ftruncate

    def ftruncate(fd: int, length: int) -> None:
        cuts.append(length)
        real_ftruncate(fd, length)

    monkeypatch.setattr(os, "ftruncate", ftruncate)
    for text in ("nameserver 10.0.0.1\n", "x" * 100_000, "short\n", "short\n", "é\n", ""):
        write_in_place(str(path), text)
        assert path.read_text() == text
    assert cuts == [20, 100_000, 6, 6, 3, 0]
