"""Flags -> API request bodies, with the docker CLI's rules and messages. The bodies for the
common commands were checked byte for byte against what docker 28.2.2 sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berth.cli import opts
from berth.cli.ctrconfig import create_request, endpoints
from berth.cli.errors import OptError
from berth.cli.exec_cmd import exec_body
from berth.cli.network_cmds import connect_body, create_body


@pytest.mark.parametrize(
    ("spec", "exposed", "bindings"),
    [
        ("80", ["80/tcp"], {"80/tcp": [{"HostIp": "", "HostPort": ""}]}),
        ("80/udp", ["80/udp"], {"80/udp": [{"HostIp": "", "HostPort": ""}]}),
        ("8080:80", ["80/tcp"], {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}),
        (
            "127.0.0.1:8080:80",
            ["80/tcp"],
            {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
        ),
        ("127.0.0.1::53/udp", ["53/udp"], {"53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
        ("[::1]:8080:80", ["80/tcp"], {"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}),
        ("::1:8080:80", ["80/tcp"], {"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}),
        ("8000-8010:80", ["80/tcp"], {"80/tcp": [{"HostIp": "", "HostPort": "8000-8010"}]}),
        (
            "8000-8001:80-81",
            ["80/tcp", "81/tcp"],
            {
                "80/tcp": [{"HostIp": "", "HostPort": "8000"}],
                "81/tcp": [{"HostIp": "", "HostPort": "8001"}],
            },
        ),
        (
            "80-81",
            ["80/tcp", "81/tcp"],
            {
                "80/tcp": [{"HostIp": "", "HostPort": ""}],
                "81/tcp": [{"HostIp": "", "HostPort": ""}],
            },
        ),
        ("9999:53/sctp", ["53/sctp"], {"53/sctp": [{"HostIp": "", "HostPort": "9999"}]}),
        (
            "published=8080,target=80,protocol=udp",
            ["80/udp"],
            {"80/udp": [{"HostIp": "", "HostPort": "8080"}]},
        ),
        ("target=80", ["80/tcp"], {"80/tcp": [{"HostIp": "", "HostPort": ""}]}),
        (
            "published=53,target=53,host_ip=::1,mode=host",
            ["53/tcp"],
            {"53/tcp": [{"HostIp": "::1", "HostPort": "53"}]},
        ),
    ],
)
def test_every_publish_form(
    spec: str, exposed: list[str], bindings: dict[str, list[dict[str, str]]]
) -> None:
    got_exposed, got_bindings = opts.ports([spec], [])
    assert sorted(got_exposed) == exposed
    assert got_bindings == bindings


def test_same_port_published_twice_and_expose() -> None:
    exposed, bindings = opts.ports(["8080:80", "127.0.0.1:9090:80"], ["443", "7000-7001/udp"])
    assert bindings == {
        "80/tcp": [
            {"HostIp": "", "HostPort": "8080"},
            {"HostIp": "127.0.0.1", "HostPort": "9090"},
        ]
    }
    assert sorted(exposed) == ["443/tcp", "7000/udp", "7001/udp", "80/tcp"]


@pytest.mark.parametrize(
    ("publish", "expose", "message"),
    [
        (["80/icmp"], [], "unknown protocol"),
        (["abc"], [], "not a port"),
        (["70000"], [], "outside 1-65535"),
        (["1.2.3.4:5:6:7:8"], [], "is not an IP address"),
        (["8000-8002:80-81"], [], "host range has 3 ports"),
        (["published=80"], [], "missing mandatory field 'target'"),
        (["target=80,bogus=1"], [], "invalid field key"),
        ([], ["80:80"], "invalid port format for --expose"),
        ([], ["x"], "invalid range format for --expose"),
    ],
)
def test_bad_ports(publish: list[str], expose: list[str], message: str) -> None:
    with pytest.raises(OptError, match=message):
        opts.ports(publish, expose)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("no", {"Name": "no", "MaximumRetryCount": 0}),
        ("always", {"Name": "always", "MaximumRetryCount": 0}),
        ("unless-stopped", {"Name": "unless-stopped", "MaximumRetryCount": 0}),
        ("on-failure", {"Name": "on-failure", "MaximumRetryCount": 0}),
        ("on-failure:5", {"Name": "on-failure", "MaximumRetryCount": 5}),
    ],
)
def test_restart_policies(value: str, expected: dict[str, Any]) -> None:
    assert opts.restart_policy(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (":3", "no policy provided before colon"),
        ("on-failure:x", "must be an integer"),
        ("sometimes", "unknown policy 'sometimes'"),
        ("always:3", "can only be used with 'on-failure'"),
        ("on-failure:-1", "cannot be negative"),
    ],
)
def test_bad_restart_policies(value: str, message: str) -> None:
    with pytest.raises(OptError, match=message):
        opts.restart_policy(value)


def test_env_files_and_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HOST", "h1")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    env_file = tmp_path / "app.env"
    lines = [
        "\ufeffA=1",
        "# a comment",
        "",
        "   B= spaced value ",
        'QUOTED="kept as is"',
        "EMPTY=",
        "FROM_HOST",
        "UNSET_HERE",
        "EQ=a=b",
    ]
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert opts.environment([str(env_file)], ["C=3", "FROM_HOST", "UNSET_HERE", "A=override"]) == [
        "A=1",
        "B= spaced value ",
        'QUOTED="kept as is"',
        "EMPTY=",
        "FROM_HOST=h1",
        "UNSET_HERE",
        "EQ=a=b",
        "C=3",
        "FROM_HOST=h1",
        "UNSET_HERE",
        "A=override",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"BAD KEY=1\n", "contains whitespaces"),
        (b"=value\n", "no variable name"),
        (b"A=\xff\n", "invalid utf8"),
    ],
)
def test_bad_env_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.env"
    path.write_bytes(content)
    with pytest.raises(OptError, match=message):
        opts.read_env_file(str(path))


def test_missing_env_file_and_bad_env_flag(tmp_path: Path) -> None:
    with pytest.raises(OptError, match=r"open .*nope\.env"):
        opts.environment([str(tmp_path / "nope.env")], [])
    with pytest.raises(OptError, match="invalid environment variable"):
        opts.env_value("=x")


def test_filters_and_key_values() -> None:
    assert opts.filters(["driver=bridge", "label=a=b", "label=c", "Name=x"]) == {
        "driver": {"bridge": True},
        "label": {"a=b": True, "c": True},
        "name": {"x": True},
    }
    assert opts.filters([]) is None
    with pytest.raises(OptError, match="bad format of filter"):
        opts.filters(["dangling"])
    assert opts.kv_map(["a=1", "b", "c=x=y"]) == {"a": "1", "b": "", "c": "x=y"}
    with pytest.raises(OptError, match="invalid key/value pair format in driver options"):
        opts.strict_kv_map(["novalue"], "driver options")


def test_network_create_body_like_docker() -> None:
    assert create_body("foo") == {
        "Driver": "bridge",
        "Scope": "",
        "IPAM": {"Driver": "default", "Options": {}, "Config": []},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigOnly": False,
        "ConfigFrom": None,
        "Options": {},
        "Labels": {},
        "Name": "foo",
    }
    body = create_body(
        "foo",
        subnets=("10.1.0.0/16", "fd00::/64"),
        ip_ranges=("10.1.2.0/24",),
        gateways=("10.1.0.1", "fd00::1"),
        aux_addresses=("r=10.1.0.5",),
        options=("a=b",),
        labels=("x=y", "z"),
        internal=True,
        ipv6=True,
        attachable=True,
        ipam_opts=("q=r",),
        config_from="cfg",
    )
    assert body["EnableIPv6"] is True
    assert "EnableIPv4" not in body
    assert body["IPAM"] == {
        "Driver": "default",
        "Options": {"q": "r"},
        "Config": [
            {
                "Subnet": "10.1.0.0/16",
                "IPRange": "10.1.2.0/24",
                "Gateway": "10.1.0.1",
                "AuxiliaryAddresses": {"r": "10.1.0.5"},
            },
            {"Subnet": "fd00::/64", "Gateway": "fd00::1"},
        ],
    }
    assert body["Labels"] == {"x": "y", "z": ""}
    assert body["ConfigFrom"] == {"Network": "cfg"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"gateways": ("10.0.0.1",)}, "every ip-range or gateway must have a corresponding subnet"),
        ({"subnets": ("10.0.0.0/8", "10.1.0.0/16")}, "multiple overlapping subnet"),
        (
            {"subnets": ("10.0.0.0/24",), "gateways": ("10.9.0.1",)},
            "no matching subnet for gateway",
        ),
        (
            {"subnets": ("10.0.0.0/24",), "ip_ranges": ("10.9.0.0/25",)},
            "no matching subnet for range",
        ),
        (
            {"subnets": ("10.0.0.0/24",), "aux_addresses": ("x=10.9.0.1",)},
            "no matching subnet for aux-address",
        ),
        ({"subnets": ("bogus",)}, "invalid subnet bogus"),
        ({"subnets": ("10.0.0.0/24",), "gateways": ("nope",)}, "invalid gateway nope"),
    ],
)
def test_bad_ipam_flags(args: dict[str, Any], message: str) -> None:
    with pytest.raises(OptError, match=message):
        create_body("foo", **args)


def test_two_gateways_for_one_subnet() -> None:
    with pytest.raises(
        OptError, match=r"cannot configure multiple gateways \(10.0.0.2, 10.0.0.1\)"
    ):
        create_body("foo", subnets=("10.0.0.0/24", "fd00::/64"), gateways=("10.0.0.1", "10.0.0.2"))


def test_connect_body() -> None:
    body = connect_body(
        "ctr",
        ip="10.1.0.9",
        ip6="fd00::9",
        aliases=("a", "b"),
        links=("c:d",),
        driver_opts=("k=v",),
        gw_priority=3,
    )
    assert body == {
        "Container": "ctr",
        "EndpointConfig": {
            "IPAMConfig": {"IPv4Address": "10.1.0.9", "IPv6Address": "fd00::9"},
            "Links": ["c:d"],
            "Aliases": ["a", "b"],
            "MacAddress": "",
            "DriverOpts": {"k": "v"},
            "GwPriority": 3,
        },
    }
    assert connect_body("ctr")["EndpointConfig"]["IPAMConfig"] == {}


def test_run_body_like_docker() -> None:
    query, body = create_request(
        "busybox",
        ["python3", "-c", "print(1)"],
        name="web",
        networks=["front"],
        publish=["8080:80", "127.0.0.1::53/udp"],
        env=["A=b"],
        ip="10.1.0.5",
        network_alias=["w"],
        dns=["1.1.1.1"],
        restart="on-failure:3",
        label=["x=y"],
        hostname="myhost",
        add_host=["h:1.2.3.4", "g=::1"],
        detach=True,
    )
    assert query == {"name": "web"}
    assert body == {
        "Hostname": "myhost",
        "Domainname": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": ["A=b"],
        "Cmd": ["python3", "-c", "print(1)"],
        "Image": "busybox",
        "WorkingDir": "",
        "Entrypoint": None,
        "Labels": {"x": "y"},
        "HostConfig": {
            "NetworkMode": "front",
            "PortBindings": {
                "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
            },
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
            "AutoRemove": False,
            "Dns": ["1.1.1.1"],
            "DnsOptions": [],
            "DnsSearch": [],
            "ExtraHosts": ["h:1.2.3.4", "g:::1"],
            "Links": None,
            "PublishAllPorts": False,
        },
        "NetworkingConfig": {
            "EndpointsConfig": {
                "front": {
                    "IPAMConfig": {"IPv4Address": "10.1.0.5"},
                    "Links": None,
                    "Aliases": ["w"],
                    "MacAddress": "",
                    "DriverOpts": None,
                    "GwPriority": 0,
                }
            }
        },
    }


def test_foreground_interactive_run_body() -> None:
    query, body = create_request(
        "-",
        [],
        interactive=True,
        tty=True,
        rm=True,
        entrypoint="",
        workdir="/tmp",
        rootfs="/srv/root",
        console_size=(24, 80),
    )
    assert query == {}
    assert body["AttachStdin"] and body["OpenStdin"] and body["StdinOnce"] and body["Tty"]
    assert body["Cmd"] is None
    assert body["Entrypoint"] == [""]
    assert body["WorkingDir"] == "/tmp"
    host = body["HostConfig"]
    assert host["NetworkMode"] == "default"
    assert host["AutoRemove"] is True
    assert host["ConsoleSize"] == [24, 80]
    assert host["Rootfs"] == "/srv/root"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {}}
    assert "ExposedPorts" not in body


def test_run_flag_conflicts() -> None:
    with pytest.raises(OptError, match="Conflicting options: --restart and --rm"):
        create_request("x", ["sh"], rm=True, restart="always")
    with pytest.raises(OptError, match="bad format for add-host"):
        create_request("x", ["sh"], add_host=["nohost"])


def test_network_modes_and_endpoints() -> None:
    assert endpoints(["host"]) == ("host", {})
    assert endpoints([], ip="172.17.0.9")[1]["default"]["IPAMConfig"] == {
        "IPv4Address": "172.17.0.9"
    }
    mode, configs = endpoints(["front", "back"], aliases=["a"], mac_address="02:42:ac:11:00:02")
    assert mode == "front"
    assert configs["front"]["Aliases"] == ["a"]
    assert configs["front"]["MacAddress"] == "02:42:ac:11:00:02"
    assert configs["back"] == {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "MacAddress": "",
        "DriverOpts": None,
        "GwPriority": 0,
    }
    with pytest.raises(OptError, match="user-defined and non-user-defined"):
        endpoints(["front", "host"])
    with pytest.raises(OptError, match='network "front" is specified multiple times'):
        endpoints(["front", "front"])


def test_exec_body() -> None:
    assert exec_body(("sh", "-c", "exit 3"), interactive=True, tty=True, env=("A=1",)) == {
        "User": "",
        "Privileged": False,
        "Tty": True,
        "AttachStdin": True,
        "AttachStderr": True,
        "AttachStdout": True,
        "Detach": False,
        "DetachKeys": "",
        "Env": ["A=1"],
        "WorkingDir": "",
        "Cmd": ["sh", "-c", "exit 3"],
    }
    detached = exec_body(("true",), detach=True, interactive=True)
    assert not (detached["AttachStdin"] or detached["AttachStdout"] or detached["AttachStderr"])


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10m", str(int(NOW - 600))),
        ("1h30m", str(int(NOW - 5400))),
        ("1.5s", str(int(NOW - 1.5))),
        ("1700000000", "1700000000"),
        ("1699999999.5", "1699999999.5"),
        ("0", "0"),
        ("2023-11-14T22:13:20Z", "1700000000.000000000"),
        ("2023-11-14T22:13:20.25Z", "1700000000.250000000"),
        ("2023-11-14T23:13:20+01:00", "1700000000.000000000"),
    ],
)
def test_timestamps(value: str, expected: str) -> None:
    assert opts.timestamp(value, now=NOW) == expected


def test_local_dates_and_bad_times(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert opts.timestamp("2023-11-14", now=NOW) == "1699920000.000000000"
    finally:
        monkeypatch.undo()
        time.tzset()
    for bad in ("yesterday", "2023-13-45", "10x"):
        with pytest.raises(OptError, match="failed to parse value as time or duration"):
            opts.timestamp(bad, now=NOW)
    assert opts.go_duration("2h") == 7200
    assert opts.go_duration("-5m") == -300
    assert opts.go_duration("5") is None
