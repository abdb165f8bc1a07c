"""Container runtime, pure parts: record codec, names, restart policies, signals, config checks,
and the records index."""

from __future__ import annotations

import random
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.model.errors import AmbiguousReference, ContainerNotFound, InvalidParameter, NotFound
from berth.model.network import IpamConfig, IpamPoolConfig, Network
from berth.model.ports import PortMapping, parse_port_spec
from berth.runtime import policy
from berth.runtime.api import (
    Container,
    ContainerConfig,
    ContainerState,
    EndpointSettings,
    RestartPolicy,
)
from berth.runtime.codec import Record, record_from_doc, record_to_doc
from berth.runtime.errors import ContainerNameInUse, InvalidContainerName
from berth.runtime.names import generate_name, validate_container_name
from berth.runtime.records import ContainerRecords
from berth.runtime.validate import Mode, check_connect, check_disconnect, normalize
from berth.store.memory import MemoryStore

FULL = ContainerConfig(
    cmd=("sh", "-c", "echo hi"),
    name="web",
    image="busybox",
    entrypoint=("/bin/env",),
    env=("A=1", "B=two"),
    working_dir="/srv",
    hostname="h",
    domainname="example.test",
    tty=True,
    open_stdin=True,
    stdin_once=True,
    labels={"k": "v"},
    exposed_ports=((80, "tcp"), (53, "udp")),
    rootfs="/srv/root",
    network_mode="front",
    port_bindings=(
        *parse_port_spec("8080:80"),
        *parse_port_spec("127.0.0.1::81/udp"),
        *parse_port_spec("[::1]:8000-8010:82"),
    ),
    publish_all=True,
    dns=("192.0.2.1",),
    dns_search=("a.test",),
    dns_options=("ndots:1",),
    extra_hosts=("db:10.0.0.9",),
    links=("other:alias",),
    restart_policy=RestartPolicy("on-failure", 3),
    auto_remove=False,
    networks={
        "front": EndpointSettings(
            aliases=("api",),
            ipv4=IPv4Address("10.1.0.5"),
            ipv6=IPv6Address("fd00::5"),
            links=("x:y",),
            mac="02:42:0a:01:00:05",
            gw_priority=10,
            driver_opts={"o": "p"},
        ),
        "back": EndpointSettings(),
    },
)


def container(config: ContainerConfig = FULL, cid: str = "a" * 64, name: str = "web") -> Container:
    return Container(
        id=cid,
        name=name,
        created="2024-01-02T03:04:05.123Z",
        config=config,
        state=ContainerState(
            "exited", 0, 3, "2024-01-02T03:04:06Z", "2024-01-02T03:04:07Z", "x", 2
        ),
        sandbox_id=None,
        path="/run/berth/containers/" + cid,
    )


def test_codec_round_trip_keeps_everything_and_the_network_order() -> None:
    record = Record(container(), manually_stopped=True, backoff_s=0.4)
    again = record_from_doc(record_to_doc(record))
    assert again == record
    assert list(again.container.config.networks) == ["front", "back"]


@given(
    st.lists(
        st.tuples(
            st.integers(1, 65535),
            st.sampled_from(["tcp", "udp", "sctp"]),
            st.sampled_from([None, "127.0.0.1", "::1"]),
            st.one_of(st.none(), st.tuples(st.integers(1, 65535), st.integers(0, 10))),
        ),
        max_size=4,
    )
)
def test_codec_round_trips_port_mappings(
    raw: list[tuple[int, str, str | None, tuple[int, int] | None]],
) -> None:
    mappings = tuple(
        PortMapping(
            port,
            proto,  # type: ignore[arg-type]
            None if ip is None else ip_address(ip),
            None if host is None else (host[0], min(65535, host[0] + host[1])),
        )
        for port, proto, ip, host in raw
    )
    config = replace(FULL, port_bindings=mappings)
    record = Record(container(config))
    assert record_from_doc(record_to_doc(record)).container.config.port_bindings == mappings


@pytest.mark.parametrize("name", ["x", "-web", "a b", "a/b", "/", "é1"])
def test_invalid_container_names(name: str) -> None:
    with pytest.raises(InvalidContainerName, match=r"only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]"):
        validate_container_name(name)


def test_valid_container_names() -> None:
    assert validate_container_name("/web.1_a-b") == "web.1_a-b"
    assert validate_container_name("ab") == "ab"


def test_generated_names_are_free_and_valid() -> None:
    taken: set[str] = set()
    rng = random.Random(7)
    for _ in range(300):
        name = generate_name(taken.__contains__, rng)
        assert name not in taken
        validate_container_name(name)
        taken.add(name)
    assert generate_name(lambda _name: True, rng).count("_") == 1


@pytest.mark.parametrize(
    ("policy_", "code", "count", "manual", "expected"),
    [
        (RestartPolicy("no"), 1, 0, False, False),
        (RestartPolicy("always"), 0, 9, False, True),
        (RestartPolicy("always"), 1, 0, True, False),
        (RestartPolicy("unless-stopped"), 0, 0, False, True),
        (RestartPolicy("on-failure"), 0, 0, False, False),
        (RestartPolicy("on-failure"), 1, 99, False, True),
        (RestartPolicy("on-failure", 2), 1, 1, False, True),
        (RestartPolicy("on-failure", 2), 1, 2, False, False),
        (RestartPolicy("on-failure", 2), 137, 0, True, False),
    ],
)
def test_restart_on_exit(
    policy_: RestartPolicy, code: int, count: int, manual: bool, expected: bool
) -> None:
    assert policy.restart_on_exit(policy_, code, count, manual) is expected


def test_restart_on_daemon_start() -> None:
    assert policy.restart_on_daemon_start(RestartPolicy("always"), manually_stopped=True)
    assert not policy.restart_on_daemon_start(RestartPolicy("unless-stopped"), True)
    assert policy.restart_on_daemon_start(RestartPolicy("unless-stopped"), False)
    assert not policy.restart_on_daemon_start(RestartPolicy("on-failure"), False)


def test_backoff_doubles_and_resets() -> None:
    delay = policy.next_backoff(0, 0)
    assert delay == policy.BACKOFF_START_S
    delays = [delay := policy.next_backoff(delay, 0.1) for _ in range(12)]
    assert delays[0] == 0.2 and delays[-1] == policy.BACKOFF_MAX_S
    assert policy.next_backoff(30, ran_for_s=11) == policy.BACKOFF_START_S


def test_parse_restart_policy() -> None:
    assert policy.parse_restart_policy("on-failure:3") == RestartPolicy("on-failure", 3)
    assert policy.parse_restart_policy("always") == RestartPolicy("always")
    for bad, message in (
        ("always:3", "format"),
        ("on-failure:x", "integer"),
        ("sometimes", "unknown policy"),
        ("on-failure:-1", "negative"),
    ):
        with pytest.raises(InvalidParameter, match=message):
            policy.parse_restart_policy(bad)
    with pytest.raises(InvalidParameter, match="AutoRemove"):
        policy.validate_policy(RestartPolicy("always"), auto_remove=True)


def test_parse_signal() -> None:
    assert policy.parse_signal("SIGKILL") == policy.parse_signal("kill") == 9
    assert policy.parse_signal("15") == policy.parse_signal(15) == 15
    for bad in ("SIGNOPE", "0", "99", "", "SIG"):
        with pytest.raises(InvalidParameter, match="Invalid signal"):
            policy.parse_signal(bad)


# --- config checks ------------------------------------------------------------------------

NETWORKS = {
    name: Network(
        id=f"{name}-id",
        name=name,
        driver=driver,
        scope="local",
        created="",
        ipam=IpamConfig(),
        pools=(),
    )
    for name, driver in (
        ("bridge", "bridge"),
        ("front", "bridge"),
        ("back", "bridge"),
        ("host", "host"),
        ("none", "null"),
    )
}
NETWORKS["fixed"] = replace(
    NETWORKS["front"],
    id="fixed-id",
    name="fixed",
    ipam=IpamConfig(config=(IpamPoolConfig(subnet=ip_network("10.9.0.0/24")),)),
)


def network(ref: str) -> Network:
    for net in NETWORKS.values():
        if ref in (net.name, net.id):
            return net
    raise NotFound(f"network {ref} not found")


def lookup(ref: str) -> Container:
    if ref == "other":
        return container(cid="b" * 64, name="other")
    if ref == "hosted":
        return container(ContainerConfig(cmd=("true",), network_mode="host"), "c" * 64, "hosted")
    if ref == "shares":
        config = ContainerConfig(cmd=("true",), network_mode="container:hosted")
        return container(config, "d" * 64, "shares")
    raise ContainerNotFound(ref)


def norm(**kwargs: object) -> ContainerConfig:
    return normalize(
        ContainerConfig(cmd=("true",), **kwargs),  # type: ignore[arg-type]
        network=network,
        container=lookup,
    )


def test_links_are_checked_on_the_default_bridge_only() -> None:
    """Docker registers HostConfig.Links only on the default bridge; on a user-defined network
    a link to a missing container is fine (an alias for the embedded DNS)."""
    assert norm(links=("other:db",)).links == ("other:db",)
    assert norm(network_mode="front", links=("ghost:g",)).links == ("ghost:g",)


def test_normalize_orders_networks_primary_first_by_name() -> None:
    config = norm(network_mode="front", networks={"back-id": EndpointSettings(), "front": FULL_EP})
    assert list(config.networks) == ["front", "back"]
    assert config.networks["front"] == FULL_EP
    assert list(norm().networks) == ["bridge"]
    assert list(norm(network_mode="host").networks) == ["host"]


FULL_EP = EndpointSettings(aliases=("a",))
IP_EP = EndpointSettings(ipv4=IPv4Address("10.8.0.5"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cmd": ()}, "No command specified"),
        ({"working_dir": "rel"}, "absolute path"),
        ({"hostname": "bad_name"}, "invalid hostname format"),
        ({"hostname": "x" * 64}, "invalid hostname format"),
        ({"extra_hosts": ("nohost",)}, "bad format for add-host"),
        ({"extra_hosts": ("h:1.2.3",)}, "invalid IP address in add-host"),
        ({"dns": ("resolver",)}, "is not an ip address"),
        ({"env": ("=x",)}, "invalid environment variable"),
        ({"restart_policy": RestartPolicy("always"), "auto_remove": True}, "AutoRemove"),
        ({"network_mode": "nowhere"}, "network nowhere not found"),
        ({"network_mode": "container:"}, "invalid container format"),
        ({"network_mode": "container:ghost"}, "No such container: ghost"),
        ({"network_mode": "container:other", "hostname": "h"}, "hostname and the network mode"),
        ({"network_mode": "container:other", "dns": ("1.1.1.1",)}, "dns and the network mode"),
        ({"network_mode": "container:other", "extra_hosts": ("a:1.2.3.4",)}, "host-to-IP"),
        (
            {"network_mode": "container:other", "port_bindings": parse_port_spec("80")},
            "port publishing",
        ),
        ({"network_mode": "container:other", "links": ("other",)}, "links"),
        ({"network_mode": "container:other", "networks": {"front": FULL_EP}}, "sharing network"),
        ({"network_mode": "host", "networks": {"front": FULL_EP}}, "sharing network"),
        ({"network_mode": "host", "links": ("other",)}, "host type networking"),
        ({"network_mode": "none", "networks": {"front": FULL_EP}}, "non-user-defined"),
        ({"networks": {"host": EndpointSettings()}}, "host network"),
        ({"networks": {"bridge": FULL_EP}}, "network-scoped alias"),
        (
            {"networks": {"bridge": EndpointSettings(ipv4=IPv4Address("1.2.3.4"))}},
            "user-specified IP address is supported on user-defined networks only",
        ),
        (
            {"network_mode": "host", "networks": {"host": FULL_EP}},
            "only supported for user-defined",
        ),
        ({"network_mode": "front", "networks": {"front": IP_EP}}, "user configured subnets"),
        ({"network_mode": "fixed", "networks": {"fixed": IP_EP}}, "no configured subnet contains"),
        (
            {"network_mode": "front", "networks": {"front": EndpointSettings(aliases=("a b",))}},
            "alias",
        ),
        (
            {"network_mode": "front", "networks": {"front": EndpointSettings(links=("a:b:c",))}},
            "bad format for links",
        ),
        (
            {"links": ("ghost:alias",)},
            "could not get container for ghost: No such container: ghost",
        ),
        ({"links": ("hosted",)}, "host type networking can't be used with links"),
        ({"links": ("shares:s",)}, "host type networking can't be used with links"),
        ({"links": ("other:a:b",)}, "bad format for links: other:a:b"),
        ({"links": ("other:",)}, "bad format for links"),
        ({"links": ("",)}, "empty string specified for links"),
        ({"network_mode": "front", "links": ("x y",)}, "bad format for links"),
        ({"extra_hosts": ("a b:1.2.3.4",)}, "bad format for add-host"),
        ({"extra_hosts": ("::1:1.2.3.4",)}, "bad format for add-host"),
        ({"extra_hosts": ("h:[1.2.3.4",)}, "invalid IP address in add-host"),
        ({"extra_hosts": ("h:gateway",)}, "invalid IP address in add-host"),
        ({"dns_search": ("-bad",)}, "-bad is not a valid domain"),
        ({"dns_search": ("123",)}, "123 is not a valid domain"),
        ({"dns_search": ("a..b",)}, "is not a valid domain"),
        ({"dns_options": ("ndots:x",)}, "invalid number for ndots option"),
        ({"dns_options": ("timeout",)}, "invalid number for timeout option"),
        ({"dns_options": ("rotate\nnameserver 1.2.3.4",)}, "invalid DNS option"),
        ({"dns_options": ("",)}, "invalid DNS option"),
        ({"rootfs": "relative"}, "root directory"),
    ],
)
def test_normalize_refuses(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"cmd": ("true",)}
    base.update(kwargs)
    with pytest.raises((InvalidParameter, NotFound), match=message):
        normalize(ContainerConfig(**base), network=network, container=lookup)  # type: ignore[arg-type]


def test_connect_and_disconnect_checks() -> None:
    on_front = container(norm(network_mode="front"))
    check_connect(on_front, NETWORKS["back"], Mode.NETWORKS, EndpointSettings())
    for target, mode, message in (
        (NETWORKS["front"], Mode.NETWORKS, "already exists in network front"),
        (NETWORKS["back"], Mode.HOST, "sharing network namespace"),
        (NETWORKS["back"], Mode.CONTAINER, "sharing network namespace"),
        (NETWORKS["host"], Mode.NETWORKS, "host network"),
        (NETWORKS["none"], Mode.NETWORKS, "non-user-defined"),
    ):
        with pytest.raises(
            InvalidParameter if "already" not in message else Exception, match=message
        ):
            check_connect(on_front, target, mode, EndpointSettings())
    for settings, message in (
        (EndpointSettings(aliases=("x",)), "only supported for user-defined"),
        (EndpointSettings(ipv6=IPv6Address("fd00::5")), "supported on user-defined networks only"),
    ):
        with pytest.raises(InvalidParameter, match=message):
            check_connect(on_front, NETWORKS["bridge"], Mode.NETWORKS, settings)
    for settings, message in (
        (EndpointSettings(ipv4=IPv4Address("10.8.0.5")), "no configured subnet contains"),
        (EndpointSettings(ipv6=IPv6Address("fd00::5")), "user configured subnets"),
        (EndpointSettings(aliases=("-x",)), "invalid alias"),
        (EndpointSettings(links=("a:b:c",)), "bad format for links"),
    ):
        with pytest.raises(InvalidParameter, match=message):
            check_connect(on_front, NETWORKS["fixed"], Mode.NETWORKS, settings)
    fixed = EndpointSettings(ipv4=IPv4Address("10.9.0.5"), aliases=("x",), links=("ghost:g",))
    check_connect(on_front, NETWORKS["fixed"], Mode.NETWORKS, fixed)  # a missing link target: ok
    check_disconnect(on_front, NETWORKS["front"], Mode.NETWORKS)
    with pytest.raises(Exception, match="is not connected to network back"):
        check_disconnect(on_front, NETWORKS["back"], Mode.NETWORKS)


# --- records ------------------------------------------------------------------------------


def test_records_lookup_and_names() -> None:
    records = ContainerRecords(MemoryStore())
    first = container(cid="ab" + "1" * 62, name="first")
    second = container(cid="ac" + "2" * 62, name="second")
    records.add(Record(first))
    records.add(Record(second))
    assert records.get(first.id) == first
    assert records.get("first") == records.get("/first") == first
    assert records.get("ac") == second
    with pytest.raises(AmbiguousReference):
        records.get("a")
    with pytest.raises(ContainerNotFound, match="No such container: zz"):
        records.get("zz")
    with pytest.raises(ContainerNameInUse, match='"/first" is already in use by container "ab'):
        records.add(Record(container(cid="c" * 64, name="first")))
    records.rename(first.id, "renamed")
    assert records.get("renamed").config.name == "renamed"
    assert not records.name_taken("first")
    with pytest.raises(ContainerNameInUse):
        records.rename(first.id, "second")
    records.set_state(second.id, status="running", pid=42)
    assert records.get("second").state.pid == 42
    records.remove(second.id)
    assert [r.container.name for r in records.all()] == ["renamed"]


def test_records_survive_reopening() -> None:
    store = MemoryStore()
    records = ContainerRecords(store)
    records.add(Record(container(), manually_stopped=True))
    reopened = ContainerRecords(store)
    assert reopened.record("web").manually_stopped
    assert reopened.get("web") == container()
