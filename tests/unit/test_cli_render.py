"""List and inspect output rendered from Docker-shaped JSON, compared with what docker 28.2.2
printed for the same JSON (captured against a stub daemon serving these fixtures)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from berth.cli import rows as rows_module
from berth.cli.output import natural_key, render_inspect, render_rows, resolve_format, tabwrite
from berth.cli.rows import (
    CONTAINER_HEADERS,
    CONTAINER_TABLE,
    NETWORK_HEADERS,
    NETWORK_TABLE,
    ContainerRow,
    NetworkRow,
    displayable_ports,
    ellipsis,
    go_quote,
    go_time_string,
    human_duration,
    human_size,
    truncate_id,
)

NETWORKS: list[dict[str, Any]] = [
    {
        "Name": "bridge",
        "Id": "f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566",
        "Created": "2016-10-19T06:21:00.416543526Z",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": False,
        "Internal": False,
        "Labels": {},
    },
    {
        "Name": "net10",
        "Id": "9a0e2c7c3e2fd5ebd4fa2b9c1e2b6b61cbd0c0d9f6b3d2a1e9c8b7a6f5e4d3c2",
        "Created": "2024-03-04T10:20:30.5Z",
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": True,
        "Internal": True,
        "Labels": {"com.example.tier": "front"},
    },
    {
        "Name": "net2",
        "Id": "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef",
        "Created": "2024-03-04T10:20:30Z",
        "Scope": "local",
        "Driver": "macvlan",
        "Labels": None,
    },
    {
        "Name": "a-very-long-network-name-indeed",
        "Id": "abcdefabcdef0000000000000000000000000000000000000000000000000000",
        "Created": "2024-03-04T10:20:30.123Z",
        "Scope": "local",
        "Driver": "null",
        "Labels": {},
    },
]
CREATED = 1700000000
CONTAINERS: list[dict[str, Any]] = [
    {
        "Id": "8dfafdbc3a40aaaabbbbccccddddeeeeffff0000111122223333444455556666",
        "Names": ["/web", "/other/weblink"],
        "Image": "busybox",
        "Command": "python3 -c 'import socket; s=socket.socket()'",
        "Created": CREATED,
        "Ports": [
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
            {"PrivatePort": 443, "Type": "tcp"},
            {"PrivatePort": 444, "Type": "tcp"},
            {"IP": "127.0.0.1", "PrivatePort": 53, "PublicPort": 53, "Type": "udp"},
            {"IP": "127.0.0.1", "PrivatePort": 54, "PublicPort": 54, "Type": "udp"},
        ],
        "Labels": {"z": "1", "a": "2"},
        "State": "running",
        "Status": "Up 2 minutes",
        "NetworkSettings": {"Networks": {"front": {}, "back": {}}},
        "Mounts": [],
    },
    {
        "Id": "0123456789ab0123456789ab0123456789ab0123456789ab0123456789ab0123",
        "Names": ["/old"],
        "Image": "",
        "Command": "sh -c 'exit 3'",
        "Created": CREATED - 2 * 86400,
        "Ports": [],
        "Labels": {},
        "State": "exited",
        "Status": "Exited (3) 2 days ago",
        "NetworkSettings": {"Networks": {"bridge": {}}},
    },
]


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """UTC and a fixed "now", 125 s after the first container was created."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(rows_module.time, "time", lambda: CREATED + 125.0)
    yield
    monkeypatch.undo()
    time.tzset()


def network_ls(fmt: str | None = None, quiet: bool = False, trunc: bool = True) -> str:
    items = sorted(NETWORKS, key=lambda n: natural_key(n["Name"]))
    rows = [NetworkRow(n, trunc=trunc) for n in items]
    return render_rows(resolve_format(fmt, quiet, NETWORK_TABLE, False), rows, NETWORK_HEADERS)


def ps(fmt: str | None = None, quiet: bool = False, trunc: bool = True) -> str:
    rows = [ContainerRow(c, trunc=trunc) for c in CONTAINERS]
    return render_rows(resolve_format(fmt, quiet, CONTAINER_TABLE, True), rows, CONTAINER_HEADERS)


def test_network_ls_table_like_docker() -> None:
    assert network_ls() == (
        "NETWORK ID     NAME                              DRIVER    SCOPE\n"
        "abcdefabcdef   a-very-long-network-name-indeed   null      local\n"
        "f2de39df4171   bridge                            bridge    local\n"
        "1234567890ab   net2                              macvlan   local\n"
        "9a0e2c7c3e2f   net10                             bridge    local\n"
    )


def test_network_ls_no_trunc_quiet_and_custom_table() -> None:
    assert network_ls(trunc=False).splitlines()[2] == (
        "f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566"
        "   bridge                            bridge    local"
    )
    assert network_ls(quiet=True) == "abcdefabcdef\nf2de39df4171\n1234567890ab\n9a0e2c7c3e2f\n"
    # `network ls -q` keeps a custom format (docker's NewFormat); only "table" becomes ids
    assert network_ls("table {{.Name}}", quiet=True).splitlines()[0] == "NAME"
    assert network_ls('table {{.Name}}\\t{{.Label "com.example.tier"}}\\t{{.ID}}') == (
        "NAME                              tier      NETWORK ID\n"
        "a-very-long-network-name-indeed             abcdefabcdef\n"
        "bridge                                      f2de39df4171\n"
        "net2                                        1234567890ab\n"
        "net10                             front     9a0e2c7c3e2f\n"
    )


def test_network_ls_json_lines() -> None:
    lines = network_ls("json").splitlines()
    assert lines[3] == (
        '{"CreatedAt":"2024-03-04 10:20:30.5 +0000 UTC","Driver":"bridge","ID":"9a0e2c7c3e2f",'
        '"IPv4":"true","IPv6":"true","Internal":"true","Labels":"com.example.tier=front",'
        '"Name":"net10","Scope":"local"}'
    )
    assert network_ls("{{.Name}}:{{.CreatedAt}}").splitlines()[:2] == [
        "a-very-long-network-name-indeed:2024-03-04 10:20:30.123 +0000 UTC",
        "bridge:2016-10-19 06:21:00.416543526 +0000 UTC",
    ]


def test_ps_table_like_docker() -> None:
    assert ps().splitlines() == [
        "CONTAINER ID   IMAGE        COMMAND                  CREATED         STATUS"
        "                  PORTS                                                              "
        "                NAMES",
        '8dfafdbc3a40   busybox      "python3 -c \'import …"   2 minutes ago   Up 2 minutes'
        "            127.0.0.1:53-54->53-54/udp, 443-444/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80"
        "/tcp   web",
        "0123456789ab   <no image>   \"sh -c 'exit 3'\"         2 days ago      Exited (3) 2 days"
        " ago                                                                                     "
        " old",
    ]


def test_ps_formats() -> None:
    assert ps(quiet=True) == "8dfafdbc3a40\n0123456789ab\n"
    assert ps("{{.Names}}", quiet=True) == "8dfafdbc3a40\n0123456789ab\n"
    assert ps("{{.Names}}", trunc=False) == "web,other/weblink\nold\n"
    assert ps('{{.Names}} {{if eq .State "running"}}up{{else}}down{{end}}') == "web up\nold down\n"
    assert ps("{{.Networks}}|{{.Labels}}|{{.Label `a`}}|{{.Status}}").splitlines()[0] == (
        "back,front|a=2,z=1|2|Up 2 minutes"
    )
    first = ps("json").splitlines()[0]
    assert first == (
        '{"Command":"\\"python3 -c \'import …\\"","CreatedAt":"2023-11-14 22:13:20 +0000 UTC",'
        '"ID":"8dfafdbc3a40","Image":"busybox","Labels":"a=2,z=1","LocalVolumes":"0",'
        '"Mounts":"","Names":"web","Networks":"back,front","Platform":null,'
        '"Ports":"127.0.0.1:53-54-\\u003e53-54/udp, 443-444/tcp, 0.0.0.0:8080-\\u003e80/tcp, '
        '[::]:8080-\\u003e80/tcp","RunningFor":"2 minutes ago","Size":"0B","State":"running",'
        '"Status":"Up 2 minutes"}'
    )


def test_ps_custom_table_headers() -> None:
    out = ps("table {{.Names}}\\t{{.State}}\\t{{upper .Image}}\\t{{json .Names}}")
    assert out == (
        'NAMES     STATE     IMAGE        NAMES\nweb       running   BUSYBOX      "web"\n'
        'old       exited    <NO IMAGE>   "old"\n'
    )


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        ([], ""),
        ([{"PrivatePort": 9988, "Type": "tcp"}], "9988/tcp"),
        ([{"PrivatePort": 9988, "Type": "udp"}], "9988/udp"),
        (
            [{"IP": "4.3.2.1", "PrivatePort": 9988, "PublicPort": 8899, "Type": "tcp"}],
            "4.3.2.1:8899->9988/tcp",
        ),
        (
            [{"IP": "::1", "PrivatePort": 9988, "PublicPort": 9988, "Type": "tcp"}],
            "[::1]:9988->9988/tcp",
        ),
        (
            [{"PrivatePort": p, "Type": "tcp"} for p in (9998, 9999, 10000)],
            "9998-10000/tcp",
        ),
        (
            [
                {"PrivatePort": 6677, "Type": "tcp"},
                {"PrivatePort": 9988, "Type": "udp"},
                {"PrivatePort": 9988, "Type": "tcp"},
                {"PrivatePort": 9999, "Type": "tcp"},
            ],
            "6677/tcp, 9988/tcp, 9999/tcp, 9988/udp",
        ),
        (
            [
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                {"PrivatePort": 22, "Type": "tcp"},
                {"PrivatePort": 24, "Type": "tcp"},
            ],
            "22/tcp, 24/tcp, 0.0.0.0:8080->80/tcp",
        ),
    ],
)
def test_displayable_ports(ports: list[dict[str, Any]], expected: str) -> None:
    assert displayable_ports(ports) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (47, "47 seconds"),
        (60, "About a minute"),
        (3 * 60, "3 minutes"),
        (3600, "About an hour"),
        (3 * 3600, "3 hours"),
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (15 * 86400, "2 weeks"),
        (70 * 86400, "2 months"),
        (3 * 365 * 86400, "3 years"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_small_helpers() -> None:
    assert truncate_id("sha256:0123456789abcdef") == "0123456789ab"
    assert ellipsis("abcdef", 4) == "abc…"
    assert ellipsis("abc", 4) == "abc"
    assert go_quote('say "hi"\n\t\x01é') == '"say \\"hi\\"\\n\\t\\x01é"'
    assert human_size(0) == "0B"
    assert human_size(12_345_678) == "12.3MB"
    assert go_time_string("2024-01-02T03:04:05.120Z") == "2024-01-02 03:04:05.12 +0000 UTC"
    assert go_time_string("2024-01-02T03:04:05+02:00") == "2024-01-02 03:04:05 +0200 +0200"
    assert sorted(["net10", "net2", "a", "net1"], key=natural_key) == ["a", "net1", "net2", "net10"]


def test_tabwriter_blocks_and_last_cell() -> None:
    # a line with fewer cells ends the column block above it, as in Go's text/tabwriter
    text = "a\tbb\tc\nlonger-cell\td\te\nsolo\nx\ty\n"
    assert tabwrite(text) == (
        "a             bb        c\nlonger-cell   d         e\nsolo\nx         y\n"
    )


def test_inspect_output() -> None:
    assert render_inspect([], None) == "[]\n"
    assert render_inspect([{"Name": "x", "Options": {}}], None) == (
        '[\n    {\n        "Name": "x",\n        "Options": {}\n    }\n]\n'
    )
    assert render_inspect([{"Id": "a"}, {"Id": "b"}], "{{.Id}}") == "a\nb\n"
