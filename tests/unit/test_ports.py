"""Port spec parsing: every `-p` form Docker accepts, and clear errors for the rest."""

from ipaddress import ip_address

import pytest

from berth.model.errors import InvalidPortSpec
from berth.model.ports import PortMapping, parse_exposed, parse_port_spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("80", [PortMapping(80)]),
        ("80/udp", [PortMapping(80, "udp")]),
        ("8080:80", [PortMapping(80, "tcp", None, (8080, 8080))]),
        ("127.0.0.1:8080:80", [PortMapping(80, "tcp", ip_address("127.0.0.1"), (8080, 8080))]),
        ("127.0.0.1::80", [PortMapping(80, "tcp", ip_address("127.0.0.1"), None)]),
        ("[::1]:8080:80/tcp", [PortMapping(80, "tcp", ip_address("::1"), (8080, 8080))]),
        ("9999:53/SCTP", [PortMapping(53, "sctp", None, (9999, 9999))]),
        (
            "8000-8002:80-82",
            [
                PortMapping(80, "tcp", None, (8000, 8000)),
                PortMapping(81, "tcp", None, (8001, 8001)),
                PortMapping(82, "tcp", None, (8002, 8002)),
            ],
        ),
        ("8000-8010:80", [PortMapping(80, "tcp", None, (8000, 8010))]),
        ("80-81", [PortMapping(80), PortMapping(81)]),
        (
            "0.0.0.0:8000-8001:80-81/udp",
            [
                PortMapping(80, "udp", ip_address("0.0.0.0"), (8000, 8000)),
                PortMapping(81, "udp", ip_address("0.0.0.0"), (8001, 8001)),
            ],
        ),
    ],
)
def test_docker_forms(spec: str, expected: list[PortMapping]) -> None:
    assert list(parse_port_spec(spec)) == expected


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "is not a port"),
        ("http", "is not a port"),
        ("0", "outside 1-65535"),
        ("70000", "outside 1-65535"),
        ("80/icmp", "unknown protocol 'icmp'"),
        ("8000-8002:80-81", "host range has 3 ports but container range has 2"),
        ("82-80", "ends before it starts"),
        ("999.1.1.1:80:80", "is not an IP address"),
        ("::1:80:80", "expected"),
        ("1.2.3.4:8080:80:90", "expected"),
    ],
)
def test_malformed_specs_name_the_problem(spec: str, why: str) -> None:
    with pytest.raises(InvalidPortSpec) as err:
        parse_port_spec(spec)
    assert why in str(err.value)
    assert repr(spec) in str(err.value)


def test_str_round_trips() -> None:
    for spec in ("80/tcp", "127.0.0.1:8080:80/tcp", "[::1]:8080:80/udp", "8000-8010:80/tcp"):
        (mapping,) = parse_port_spec(spec)
        assert str(mapping) == spec
        assert parse_port_spec(str(mapping)) == (mapping,)


def test_exposed() -> None:
    assert parse_exposed("53/udp") == (53, "udp")
    with pytest.raises(InvalidPortSpec):
        parse_exposed("8080:80")
