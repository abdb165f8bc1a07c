"""Legacy links without a kernel: Docker's link syntax and environment variables, and who links
to whom with what openings, over a controller on the fake kernel (default bridge with ICC off)."""

from __future__ import annotations

import os
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from berth import EndpointSpec, NetworkSpec, SandboxSpec
from berth.controller.config import ControllerConfig, DefaultBridgeConfig
from berth.controller.controller import NetworkController
from berth.controller.defaults import predefined_specs
from berth.drivers.bridge import BridgeDriver
from berth.drivers.null import HostDriver, NullDriver
from berth.firewall.api import LinkIntent
from berth.firewall.recording import RecordingFirewall
from berth.ipam.default import DefaultIpam
from berth.kernel.fake import fake_kernel
from berth.model.errors import Conflict, InvalidParameter
from berth.runtime.api import Container, ContainerConfig
from berth.runtime.codec import Record
from berth.runtime.links import LegacyLinks, Link, link_env, stored_links
from berth.runtime.records import ContainerRecords
from berth.runtime.syntax import parse_link
from berth.store.memory import MemoryStore
from berth.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("db", ("db", "db")),
        ("db:database", ("db", "database")),
        ("/db:/web/database", ("db", "database")),  # the form Docker stores
        ("my-db.1:my_db", ("my-db.1", "my_db")),
    ],
)
def test_parse_link(text: str, expected: tuple[str, str]) -> None:
    assert parse_link(text) == expected


@pytest.mark.parametrize("text", ["", "a:b:c", ":x", "x:", "a b:c", "a:-b", "a:b\n", "a:b/c"])
def test_parse_link_refuses(text: str) -> None:
    with pytest.raises(InvalidParameter, match="links"):
        parse_link(text)


def ctr(name: str, **config: object) -> Container:
    return Container(
        id=(name * 64)[:64],
        name=name,
        created="",
        config=ContainerConfig(cmd=("true",), **config),  # type: ignore[arg-type]
    )


def test_env_like_dockers_link_tests() -> None:
    """daemon/links/links_test.go TestLinkMultipleEnv, with the child's own variables."""
    child = ctr("db", env=("PASSWORD=gordon", "PATH=/x", "HOME=/h", "EMPTY="))
    link = Link(ctr("web"), child, "docker")
    ports = [(6300, "udp"), (6379, "tcp"), (6380, "tcp"), (6381, "tcp"), (6382, "udp")]
    env = link_env(link, "172.0.17.2", ports)  # type: ignore[arg-type]
    assert sorted(env) == [
        "DOCKER_ENV_EMPTY=",
        "DOCKER_ENV_PASSWORD=gordon",
        "DOCKER_NAME=/web/docker",
        "DOCKER_PORT=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6300_UDP=udp://172.0.17.2:6300",
        "DOCKER_PORT_6300_UDP_ADDR=172.0.17.2",
        "DOCKER_PORT_6300_UDP_PORT=6300",
        "DOCKER_PORT_6300_UDP_PROTO=udp",
        "DOCKER_PORT_6379_TCP=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6379_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6379_TCP_END=tcp://172.0.17.2:6381",
        "DOCKER_PORT_6379_TCP_PORT=6379",
        "DOCKER_PORT_6379_TCP_PORT_END=6381",
        "DOCKER_PORT_6379_TCP_PORT_START=6379",
        "DOCKER_PORT_6379_TCP_PROTO=tcp",
        "DOCKER_PORT_6379_TCP_START=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6380_TCP=tcp://172.0.17.2:6380",
        "DOCKER_PORT_6380_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6380_TCP_PORT=6380",
        "DOCKER_PORT_6380_TCP_PROTO=tcp",
        "DOCKER_PORT_6381_TCP=tcp://172.0.17.2:6381",
        "DOCKER_PORT_6381_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6381_TCP_PORT=6381",
        "DOCKER_PORT_6381_TCP_PROTO=tcp",
        "DOCKER_PORT_6382_UDP=udp://172.0.17.2:6382",
        "DOCKER_PORT_6382_UDP_ADDR=172.0.17.2",
        "DOCKER_PORT_6382_UDP_PORT=6382",
        "DOCKER_PORT_6382_UDP_PROTO=udp",
    ]


def test_env_alias_naming_and_no_ports() -> None:
    env = link_env(Link(ctr("web"), ctr("db"), "my-db.x"), "10.0.0.2", [])
    assert env == ["MY_DB.X_NAME=/web/my-db.x"]


# --- who links to whom, over the fake kernel ------------------------------------------------------


class World:
    """A controller (fake kernel, ICC off on the default bridge) and container records."""

    def __init__(self) -> None:
        kernel, _ = fake_kernel()
        self.firewall = RecordingFirewall()
        self.ctl = NetworkController(
            config=ControllerConfig(
                state_dir="/fake/state",
                exec_root="/fake/run",
                default_bridge=DefaultBridgeConfig(icc=False),
            ),
            store=MemoryStore(),
            kernel=kernel,
            ipam={"default": DefaultIpam(host_id="unit")},
            drivers={
                "bridge": BridgeDriver(kernel, self.firewall),
                "host": HostDriver(),
                "null": NullDriver(),
            },
        )
        self.ctl.ensure_predefined_networks()
        self.records = ContainerRecords(MemoryStore())
        self.links = LegacyLinks(self.ctl, self.records.get, self.containers)

    def containers(self) -> list[Container]:
        return [r.container for r in self.records.all()]

    def add(self, container: Container) -> Container:
        self.records.add(Record(container))
        return container

    def start(self, name: str, network: str = "bridge") -> Container:
        """Give the container a sandbox on ``network`` and mark it running."""
        container = self.records.get(name)
        self.ctl.create_sandbox(SandboxSpec(id=container.id, name=name))
        self.ctl.connect(network, container.id, EndpointSpec())
        self.records.update(container.id, sandbox_id=container.id, state={"status": "running"})
        return self.records.get(name)

    def stop(self, name: str) -> None:
        container = self.records.get(name)
        self.ctl.delete_sandbox(container.id)
        self.records.update(container.id, sandbox_id=None, state={"status": "exited"})


@pytest.fixture
def world() -> World:
    return World()


def test_children_parents_and_the_start_checks(world: World) -> None:
    world.add(ctr("db", exposed_ports=((5432, "tcp"),), env=("POSTGRES=1",)))
    web = world.add(ctr("web", links=("db:database", "db:database", "ghost:g")))
    world.add(ctr("mesh", network_mode="container:db"))
    world.add(ctr("other", network_mode="front", links=("db:x",)))  # not a legacy link
    assert [(link.child.name, link.alias) for link in world.links.children(web)] == [
        ("db", "database")  # one per alias; a link to a removed container is forgotten
    ]
    with pytest.raises(Conflict, match="non running container: /db AS /web/database"):
        world.links.check_start(web)
    world.ctl.create_network(NetworkSpec(name="front"))
    world.start("db", network="front")
    with pytest.raises(Conflict, match="as it does not belong to the default network"):
        world.links.check_start(web)
    world.stop("db")
    db = world.start("db")
    world.links.check_start(web)
    assert [link.parent.name for link in world.links.parents(db)] == ["web"]
    mesh_link = world.add(ctr("app", links=("mesh:m",)))
    assert world.links.children(mesh_link)[0].child.name == "db"  # the namespace's owner


def test_env_hosts_and_openings(world: World) -> None:
    world.add(ctr("db", exposed_ports=((5432, "tcp"),), env=("POSTGRES=1",), hostname="dbhost"))
    world.add(ctr("web", links=("db:database",)))
    world.start("db")
    web = world.start("web")
    db_ip = world.links.bridge_endpoint(world.records.get("db"))
    web_ip = world.links.bridge_endpoint(web)
    assert db_ip is not None and db_ip.ipv4 is not None
    assert web_ip is not None and web_ip.ipv4 is not None
    ip = str(db_ip.ipv4.ip)
    assert world.links.env(web) == [
        f"DATABASE_PORT=tcp://{ip}:5432",
        f"DATABASE_PORT_5432_TCP=tcp://{ip}:5432",
        f"DATABASE_PORT_5432_TCP_ADDR={ip}",
        "DATABASE_PORT_5432_TCP_PORT=5432",
        "DATABASE_PORT_5432_TCP_PROTO=tcp",
        "DATABASE_NAME=/web/database",
        "DATABASE_ENV_POSTGRES=1",
    ]
    hosts = world.links.hosts(web, lambda c: c.config.hostname or c.id[:12])
    assert [(h.address, h.names) for h in hosts] == [(ip, ("database", "dbhost", "db"))]
    opening = LinkIntent("tcp", web_ip.ipv4.ip, db_ip.ipv4.ip, 5432)
    assert world.links.intents(web) == [opening]
    assert world.links.intents(world.records.get("db")) == [opening]  # seen from the child
    world.links.open(web)
    assert world.firewall.links == {opening}
    assert world.links.all_intents() == [opening]
    world.links.close(world.links.intents(world.records.get("db")))
    assert world.firewall.links == set()
    world.stop("db")
    assert world.links.intents(web) == [] and world.links.env(web) == []


def test_stored_links_read_the_runtimes_store(world: World, tmp_path: Path) -> None:
    assert stored_links(world.ctl, str(tmp_path)) == []  # no container store yet
    world.add(ctr("db", exposed_ports=((80, "tcp"),)))
    world.add(ctr("web", links=("db",)))
    world.start("db")
    world.start("web")
    records = ContainerRecords(SqliteStore(os.path.join(tmp_path, "containers.db")))
    for container in world.containers():
        records.add(Record(container))
    records.close()
    found = stored_links(world.ctl, str(tmp_path))
    assert [(link.proto, link.port) for link in found] == [("tcp", 80)]
    assert found[0].child == IPv4Address(
        str(world.links.bridge_endpoint(world.records.get("db")).ipv4.ip)  # type: ignore[union-attr]
    )


def test_no_openings_when_icc_is_on(world: World) -> None:
    world.ctl.delete_network("bridge", predefined=True)
    icc_on = ControllerConfig(state_dir="/x", exec_root="/x")
    spec = next(s for s in predefined_specs(icc_on) if s.name == "bridge")
    world.ctl.create_network(spec, predefined=True)
    world.add(ctr("db", exposed_ports=((80, "tcp"),)))
    world.add(ctr("web", links=("db",)))
    world.start("db")
    web = world.start("web")
    assert world.links.intents(web) == []
    assert world.links.env(web)  # the variables and hosts lines do not depend on ICC
