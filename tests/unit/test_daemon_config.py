"""berthd's configuration: every key from daemon.json and from its flag, defaults, dockerd's
conflict and unknown-key rules, and a clear error for every bad value."""

from __future__ import annotations

import json
import logging
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, ip_network
from pathlib import Path
from typing import Any

import pytest

from berth.controller.config import DefaultBridgeConfig
from berth.daemon.config import DaemonConfig, changed_keys, merge
from berth.daemon.flags import FlagError, load, parse_command_line, read_config_file
from berth.daemon.keys import KEYS
from berth.ipam.pools import PredefinedPool
from berth.model.errors import InvalidConfig, InvalidParameter


def from_flags(*argv: str) -> DaemonConfig:
    return merge(parse_command_line(argv).flags, None)


def from_file(doc: dict[str, Any]) -> DaemonConfig:
    return merge({}, json.loads(json.dumps(doc)))


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_are_dockerds_with_berths_paths() -> None:
    config = merge({}, None)
    assert config == DaemonConfig()
    assert config.hosts == ("/run/berth/berth.sock",)
    assert (config.data_root, config.exec_root) == ("/var/lib/berth", "/run/berth")
    assert config.pidfile == "/run/berth/berthd.pid"
    assert (config.icc, config.ip_forward, config.ip_masq, config.iptables) == (True,) * 4
    assert config.level == logging.INFO
    bridge = config.default_bridge()
    assert bridge == DefaultBridgeConfig(bridge_name="berth0")
    controller = config.controller_config()
    assert controller.state_dir == "/var/lib/berth"
    assert controller.netns_dir == "/run/berth/netns"
    assert controller.predefined is False  # the daemon creates them after reconciling


# --- every key, both ways ---------------------------------------------------------------------

CASES: list[tuple[str, Any, list[str], str, Any]] = [
    # key, file value, flags, attribute, expected
    ("hosts", ["unix:///tmp/a.sock"], ["-H", "unix:///tmp/a.sock"], "hosts", ("/tmp/a.sock",)),
    ("data-root", "/srv/berth/", ["--data-root", "/srv/berth/"], "data_root", "/srv/berth"),
    ("exec-root", "/run/b2", ["--exec-root", "/run/b2"], "exec_root", "/run/b2"),
    ("pidfile", "/run/b2.pid", ["-p", "/run/b2.pid"], "pidfile", "/run/b2.pid"),
    ("bridge", "br0", ["-b", "br0"], "bridge", "br0"),
    ("bridge", "none", ["--bridge=none"], "bridge", "none"),
    ("bip", "10.9.0.1/24", ["--bip", "10.9.0.1/24"], "bip", IPv4Interface("10.9.0.1/24")),
    (
        "fixed-cidr",
        "10.9.0.0/25",
        ["--fixed-cidr", "10.9.0.0/25"],
        "fixed_cidr",
        ip_network("10.9.0.0/25"),
    ),
    ("ipv6", True, ["--ipv6"], "ipv6", True),
    ("mtu", 1400, ["--mtu", "1400"], "mtu", 1400),
    ("icc", False, ["--icc=false"], "icc", False),
    ("ip-forward", False, ["--ip-forward=0"], "ip_forward", False),
    ("ip-masq", False, ["--ip-masq", "false"], "ip_masq", False),
    ("iptables", False, ["--iptables=f"], "iptables", False),
    ("ip", "127.0.0.1", ["--ip", "127.0.0.1"], "ip", IPv4Address("127.0.0.1")),
    ("ip", "::1", ["--ip=::1"], "ip", IPv6Address("::1")),
    (
        "dns",
        ["192.0.2.53", "2001:db8::53"],
        ["--dns", "192.0.2.53", "--dns", "2001:db8::53"],
        "dns",
        (IPv4Address("192.0.2.53"), IPv6Address("2001:db8::53")),
    ),
    (
        "dns-search",
        ["example.org", "."],
        ["--dns-search", "example.org", "--dns-search", "."],
        "dns_search",
        ("example.org", "."),
    ),
    (
        "dns-opts",
        ["ndots:2", "rotate"],
        ["--dns-opt", "ndots:2", "--dns-opt", "rotate"],
        "dns_opts",
        ("ndots:2", "rotate"),
    ),
    (
        "host-resolv-conf",
        "/srv/resolv.conf",
        ["--host-resolv-conf", "/srv/resolv.conf"],
        "host_resolv_conf",
        "/srv/resolv.conf",
    ),
    (
        "default-address-pools",
        [{"base": "10.200.0.0/16", "size": 24}],
        ["--default-address-pool", "base=10.200.0.0/16,size=24"],
        "default_address_pools",
        (PredefinedPool(ip_network("10.200.0.0/16"), 24),),
    ),
    (
        "labels",
        ["a=1", "b=x=y"],
        ["--label", "a=1", "--label", "b=x=y"],
        "labels",
        ("a=1", "b=x=y"),
    ),
    ("log-level", "warn", ["-l", "warn"], "log_level", "warn"),
    ("log-format", "json", ["--log-format", "json"], "log_format", "json"),
    ("debug", True, ["-D"], "debug", True),
]


@pytest.mark.parametrize(("key", "file_value", "argv", "attr", "expected"), CASES)
def test_every_key_from_file_and_from_flags(
    key: str, file_value: Any, argv: list[str], attr: str, expected: Any
) -> None:
    assert getattr(from_file({key: file_value}), attr) == expected
    assert getattr(from_flags(*argv), attr) == expected


def test_every_key_is_covered_by_the_cases() -> None:
    assert {k.name for k in KEYS} == {case[0] for case in CASES} | {"fixed-cidr-v6"}


def test_fixed_cidr_v6_with_ipv6() -> None:
    config = from_file({"ipv6": True, "fixed-cidr-v6": "fd00:1::/64"})
    assert config.fixed_cidr_v6 == ip_network("fd00:1::/64")
    bridge = config.default_bridge()
    assert (
        bridge is not None
        and bridge.enable_ipv6
        and bridge.fixed_cidr_v6 == ip_network("fd00:1::/64")
    )


def test_default_bridge_carries_the_networking_keys() -> None:
    config = from_flags(
        "--bip", "10.9.0.1/24", "--fixed-cidr", "10.9.0.128/25", "--mtu", "1400",
        "--icc=false", "--ip-masq=false", "--ip", "127.0.0.1",
    )  # fmt: skip
    assert config.default_bridge() == DefaultBridgeConfig(
        bridge_name="berth0",
        bip=IPv4Interface("10.9.0.1/24"),
        fixed_cidr=ip_network("10.9.0.128/25"),  # type: ignore[arg-type]
        icc=False,
        ip_masquerade=False,
        host_ip=IPv4Address("127.0.0.1"),
        mtu=1400,
    )
    assert from_flags("-b", "none").default_bridge() is None
    bridge = from_flags("-b", "br0").default_bridge()
    assert bridge is not None and bridge.bridge_name == "br0"


def test_several_hosts_and_the_default_socket() -> None:
    config = from_flags("-H", "unix:///tmp/a.sock", "--host", "unix://")
    assert config.hosts == ("/tmp/a.sock", "/run/berth/berth.sock")
    assert from_file({"hosts": []}).hosts == ("/run/berth/berth.sock",)


def test_debug_wins_over_log_level() -> None:
    assert from_flags("-l", "error", "-D").level == logging.DEBUG
    assert from_flags("-l", "fatal").level == logging.CRITICAL
    assert from_flags("-l", "warn").level == logging.WARNING


def test_duplicate_labels_are_merged_and_conflicting_ones_refused() -> None:
    assert from_flags("--label", "a=1", "--label", "a=1").labels == ("a=1",)
    with pytest.raises(InvalidConfig, match="conflicts with a=1"):
        from_flags("--label", "a=1", "--label", "a=2")


# --- dockerd's merge rules --------------------------------------------------------------------


def test_a_key_in_the_file_and_as_a_flag_is_an_error_naming_it() -> None:
    flags = parse_command_line(["-H", "unix:///tmp/a.sock", "--mtu", "1400"]).flags
    with pytest.raises(InvalidParameter) as err:
        merge(flags, {"hosts": ["unix:///tmp/b.sock"], "mtu": 1400}, config_file="/x/d.json")
    message = str(err.value)
    assert message.startswith("unable to configure berthd with file /x/d.json: ")
    assert "specified both as a flag and in the configuration file" in message
    assert (
        'hosts: (from flag: ["unix:///tmp/a.sock"], from file: ["unix:///tmp/b.sock"])' in message
    )
    assert "mtu: (from flag" in message


def test_unknown_keys_in_the_file_are_errors_naming_them() -> None:
    with pytest.raises(InvalidParameter, match="don't match any configuration option: bips, mtuu"):
        merge({}, {"mtuu": 1, "bips": "x", "mtu": 1400})


def test_config_file_is_flag_only() -> None:
    with pytest.raises(InvalidParameter, match="config-file"):
        merge({}, {"config-file": "/etc/x.json"})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"mtu": "1400"}, 'invalid mtu "1400": expected an integer'),
        ({"mtu": True}, "invalid mtu true: expected an integer"),
        ({"icc": "false"}, 'invalid icc "false": expected true or false'),
        ({"dns": "1.1.1.1"}, "expected a list of strings"),
        ({"dns": [1]}, "expected a list of strings"),
        ({"hosts": "unix:///x"}, "expected a list of strings"),
        ({"default-address-pools": ["10.0.0.0/8"]}, "expected a list of {"),
        ({"bip": 10}, "expected a string"),
    ],
)
def test_file_values_must_have_the_json_type(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        merge({}, doc)
    assert message in str(err.value)


# --- bad values -------------------------------------------------------------------------------

BAD: list[tuple[list[str], str]] = [
    (["-H", "tcp://0.0.0.0:2375"], 'invalid hosts "tcp://0.0.0.0:2375": berthd listens on unix'),
    (["-H", "/run/x.sock"], "expected unix:///path/to/socket"),
    (["-H", "unix://relative/x.sock"], "must be an absolute path"),
    (["-H", "unix:///" + "x" * 120], "at most 107 bytes"),
    (["-H", "unix:///tmp/a", "-H", "unix:///tmp/a"], "socket /tmp/a is listed twice"),
    (["--data-root", "var/lib"], 'invalid data-root "var/lib": must be an absolute path'),
    (["--exec-root", ""], "invalid exec-root"),
    (["-p", "x.pid"], "invalid pidfile"),
    (["-b", "a-very-long-bridge-name"], "invalid bridge"),
    (["-b", "br/0"], "invalid bridge"),
    (["--bip", "10.0.0.1"], "needs a prefix length"),
    (["--bip", "10.0.0.0/24"], "network or broadcast address"),
    (["--bip", "10.0.0.255/24"], "network or broadcast address"),
    (["--bip", "fd00::1/64"], "expected an IPv4 address with prefix length"),
    (["--bip", "nonsense"], "expected an IPv4 address"),
    (["--fixed-cidr", "10.0.0.1/24"], "host bits set"),
    (["--fixed-cidr", "fd00::/64"], "expected an IPv4 subnet"),
    (["--ipv6", "--fixed-cidr-v6", "10.0.0.0/24"], "expected an IPv6 subnet"),
    (["--fixed-cidr-v6", "fd00::/64"], "needs ipv6: true"),
    (["--mtu", "67"], "must be between 68 and 65535"),
    (["--mtu", "70000"], "must be between 68 and 65535"),
    (["--mtu", "big"], 'invalid mtu "big": expected an integer'),
    (["--icc=maybe"], 'invalid icc "maybe": expected true or false'),
    (["--ip-forward=yes"], "invalid ip-forward"),
    (["--ip", "localhost"], "expected an IPv4 or IPv6 address"),
    (["--dns", "dns.example"], 'invalid dns "dns.example"'),
    (["--dns-search=-bad-.example"], "not a valid domain name"),
    (["--dns-search", "a..b"], "not a valid domain name"),
    (["--dns-opt", "ndots 2"], "one word"),
    (["--default-address-pool", "base=10.0.0.0/8"], "size"),
    (["--default-address-pool", "base=10.0.0.0/16,size=8"], "size must be between"),
    (["--default-address-pool", "10.0.0.0/8"], "is not key=value"),
    (["--label", "nolabel"], "expected key=value"),
    (["--label", "=x"], "expected key=value"),
    (["-l", "verbose"], "expected one of debug, info, warn, error, fatal"),
    (["--log-format", "xml"], "expected one of text, json"),
    (["-D=perhaps"], "invalid debug"),
    (["-b", "br0", "--bip", "10.0.0.1/24"], "mutually exclusive"),
    (["-b", "none", "--fixed-cidr", "10.0.0.0/24"], 'bridge: "none" disables'),
    (["--bip", "10.0.0.1/24", "--fixed-cidr", "10.1.0.0/24"], "not within the subnet of bip"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_values_are_refused_with_a_clear_message(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        from_flags(*argv)
    assert message in str(err.value)


def test_bad_values_in_the_file_name_the_file() -> None:
    with pytest.raises(InvalidParameter, match=r"with file /e/d.json: invalid mtu 20: must be"):
        merge({}, {"mtu": 20}, config_file="/e/d.json")


def test_malformed_command_lines() -> None:
    for argv in (["--nope"], ["--mtu"], ["--bip"], ["stray"]):
        with pytest.raises(FlagError):
            parse_command_line(argv)


# --- the file ---------------------------------------------------------------------------------


def test_missing_default_file_is_fine_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    absent = str(tmp_path / "daemon.json")
    assert read_config_file(absent, required=False) is None
    with pytest.raises(InvalidParameter, match="does not exist"):
        load(parse_command_line(["--config-file", absent]))


def test_file_and_flags_together(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"mtu": 1400, "labels": ["site=a"], "iptables": False}))
    config = load(parse_command_line(["--config-file", str(path), "--icc=false"]))
    assert (config.mtu, config.labels, config.iptables, config.icc) == (
        1400,
        ("site=a",),
        False,
        False,
    )
    assert config.config_file == str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", None),
        ("  \n", None),
        ("{", "is not valid JSON: Expecting property name"),
        ('{"mtu": 1400,}', "line 1 column"),
        ("[]", "must hold a JSON object, not list"),
        ('"x"', "must hold a JSON object"),
    ],
)
def test_file_syntax(tmp_path: Path, text: str, message: str | None) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(text)
    if message is None:
        assert read_config_file(str(path), required=True) == {}
    else:
        with pytest.raises(InvalidParameter, match=message):
            read_config_file(str(path), required=True)


def test_changed_keys_for_reloads() -> None:
    old = from_flags("--mtu", "1400")
    new = from_flags("--mtu", "1500", "-l", "debug", "--label", "a=b")
    assert changed_keys(old, new) == ["mtu", "labels", "log-level"]
    assert changed_keys(old, old) == []
