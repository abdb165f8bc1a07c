"""The embedded DNS server's name table: who sees which names (pure, no sockets)."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Interface, IPv6Interface, ip_address, ip_network

import pytest

from berth.dns.names import (
    AAAA,
    ANY,
    PTR,
    A,
    Forward,
    NameTable,
    NxDomain,
    Records,
    TableBuilder,
    build_table,
    dns_enabled,
    gateway_entry,
    resolve,
)
from berth.model import netlabels as nl
from berth.model.endpoint import Endpoint, Sandbox
from berth.model.network import AllocatedPool, IpamConfig, Network

MX, TXT = 15, 16


def network(name: str, subnet: str, *, internal: bool = False, **kw: object) -> Network:
    net = ip_network(subnet)
    pool = AllocatedPool(f"pool-{name}", net, next(net.hosts()))
    v6 = kw.pop("v6", None)
    pools = (pool,) if v6 is None else (pool, AllocatedPool("p6", ip_network(v6), None))
    return Network(
        id=f"{name}-id".ljust(64, "0"),
        name=name,
        driver=str(kw.pop("driver", "bridge")),
        scope="local",
        created="",
        ipam=IpamConfig(),
        pools=pools,
        internal=internal,
        options=dict(kw.pop("options", {})),  # type: ignore[call-overload]
    )


class World:
    """Networks, sandboxes and endpoints as the controller would hold them."""

    def __init__(self) -> None:
        self.networks: list[Network] = []
        self.sandboxes: dict[str, Sandbox] = {}
        self.endpoints: list[Endpoint] = []

    def add_network(self, net: Network) -> Network:
        self.networks.append(net)
        return net

    def join(
        self,
        container: str,
        net: Network,
        address: str,
        *,
        aliases: tuple[str, ...] = (),
        hostname: str = "",
        v6: str | None = None,
        links: tuple[tuple[str, str], ...] = (),
    ) -> Endpoint:
        sandbox_id = (container.encode().hex() * 8)[:64]
        sandbox = self.sandboxes.get(container) or Sandbox(
            sandbox_id, container, f"/nonexistent/netns/{container}", hostname or sandbox_id[:12]
        )
        endpoint = Endpoint(
            id=f"ep{len(self.endpoints)}".ljust(64, "e"),
            name=container,
            network_id=net.id,
            ipv4=IPv4Interface(f"{address}/24"),
            ipv6=IPv6Interface(f"{v6}/64") if v6 else None,
            aliases=aliases,
            links=links,
            sandbox_id=sandbox.id,
            gateway4=None if net.internal else net.pools[0].gateway,  # type: ignore[arg-type]
        )
        self.endpoints.append(endpoint)
        self.sandboxes[container] = Sandbox(
            sandbox.id,
            sandbox.name,
            sandbox.netns_path,
            sandbox.hostname,
            endpoints=(*sandbox.endpoints, endpoint.id),
        )
        return endpoint

    def table(self) -> NameTable:
        return build_table(self.networks, self.endpoints, self.sandboxes.values())

    def ask(self, container: str, name: str, qtype: int = A) -> object:
        table = self.table()
        view = table.view(self.sandboxes[container].id)
        assert view is not None, f"{container} has no DNS view"
        return resolve(table.scope(view), name, qtype)


def addresses(answer: object) -> set[str]:
    assert isinstance(answer, Records), answer
    return {str(a) for a in answer.addresses}


@pytest.fixture
def world() -> World:
    w = World()
    front = w.add_network(network("front", "10.1.0.0/24"))
    back = w.add_network(network("back", "10.2.0.0/24"))
    w.join("web", front, "10.1.0.2", aliases=("www",), hostname="webhost")
    w.join("api", front, "10.1.0.3")
    w.join("api", back, "10.2.0.3", aliases=("svc",))
    w.join("db", back, "10.2.0.4", aliases=("svc",))
    return w


def test_names_on_a_shared_network(world: World) -> None:
    assert addresses(world.ask("web", "api")) == {"10.1.0.3"}
    assert addresses(world.ask("api", "web")) == {"10.1.0.2"}
    assert addresses(world.ask("web", "web")) == {"10.1.0.2"}  # its own name too


def test_no_names_across_networks_not_shared(world: World) -> None:
    assert world.ask("web", "db") == Forward(single_label=True)
    assert world.ask("db", "web") == Forward(single_label=True)


def test_a_sandbox_on_two_networks_sees_both(world: World) -> None:
    assert addresses(world.ask("api", "web")) == {"10.1.0.2"}
    assert addresses(world.ask("api", "db")) == {"10.2.0.4"}


def test_aliases_short_id_and_hostname(world: World) -> None:
    web_id = world.sandboxes["web"].id
    assert addresses(world.ask("api", "www")) == {"10.1.0.2"}
    assert addresses(world.ask("api", web_id[:12])) == {"10.1.0.2"}
    assert addresses(world.ask("api", "webhost")) == {"10.1.0.2"}
    assert world.ask("api", web_id) == Forward(single_label=True)  # the full id is not a name


def test_aliases_are_scoped_to_their_network(world: World) -> None:
    assert world.ask("web", "svc") == Forward(single_label=True)  # svc lives on back only


def test_a_shared_alias_has_every_address(world: World) -> None:
    assert addresses(world.ask("db", "svc")) == {"10.2.0.3", "10.2.0.4"}


def test_case_and_trailing_dot(world: World) -> None:
    assert addresses(world.ask("web", "API.")) == {"10.1.0.3"}
    assert addresses(world.ask("web", "Www")) == {"10.1.0.2"}


def test_network_qualified_names(world: World) -> None:
    assert addresses(world.ask("api", "db.back")) == {"10.2.0.4"}
    assert addresses(world.ask("api", "web.front")) == {"10.1.0.2"}
    assert world.ask("api", "web.back") == Forward(single_label=False)
    assert world.ask("web", "db.back") == Forward(single_label=False)  # not web's network


def test_dotted_names_are_tried_whole_first() -> None:
    w = World()
    net = w.add_network(network("a.b", "10.3.0.0/24"))
    w.join("x.y", net, "10.3.0.2")
    w.join("client", net, "10.3.0.3")
    assert addresses(w.ask("client", "x.y")) == {"10.3.0.2"}
    assert addresses(w.ask("client", "x.y.a.b")) == {"10.3.0.2"}


def test_known_name_other_type_is_nodata(world: World) -> None:
    for qtype in (AAAA, MX, TXT):
        assert world.ask("web", "api", qtype) == Records()


def test_ipv6_addresses() -> None:
    w = World()
    net = w.add_network(network("six", "10.4.0.0/24", v6="fd00:4::/64"))
    w.join("a", net, "10.4.0.2", v6="fd00:4::2")
    w.join("b", net, "10.4.0.3")
    assert addresses(w.ask("b", "a", AAAA)) == {"fd00:4::2"}
    assert addresses(w.ask("b", "a", A)) == {"10.4.0.2"}
    assert addresses(w.ask("b", "a", ANY)) == {"10.4.0.2", "fd00:4::2"}
    assert w.ask("a", "b", AAAA) == Records()


def test_ptr_v4_and_v6() -> None:
    w = World()
    net = w.add_network(network("six", "10.4.0.0/24", v6="fd00:4::/64"))
    other = w.add_network(network("other", "10.5.0.0/24"))
    w.join("a", net, "10.4.0.2", v6="fd00:4::2")
    w.join("b", net, "10.4.0.3")
    w.join("c", other, "10.5.0.2")
    assert w.ask("b", "2.0.4.10.in-addr.arpa", PTR) == Records(pointer="a.six")
    v6_name = ip_address("fd00:4::2").reverse_pointer.upper() + "."
    assert w.ask("b", v6_name, PTR) == Records(pointer="a.six")
    assert w.ask("b", "2.0.5.10.in-addr.arpa", PTR) == Forward(single_label=False)
    assert w.ask("c", "2.0.4.10.in-addr.arpa", PTR) == Forward(single_label=False)


def test_host_berth_internal_is_the_gateway() -> None:
    w = World()
    net = w.add_network(network("front", "10.6.0.0/24"))
    w.join("a", net, "10.6.0.2")
    assert addresses(w.ask("a", "host.berth.internal")) == {"10.6.0.1"}
    assert addresses(w.ask("a", "HOST.berth.internal.")) == {"10.6.0.1"}
    assert w.ask("a", "host.berth.internal", AAAA) == Records()
    assert w.ask("a", "nothing.berth.internal") == NxDomain()


def test_gateway_names_answer_like_host_berth_internal_for_their_sandbox_only() -> None:
    """--add-host host.docker.internal:host-gateway: that sandbox alone resolves the name, and
    its view differs from a neighbour's on the same network (so they share no cached answer)."""
    w = World()
    net = w.add_network(network("front", "10.6.0.0/24", v6="fd00:6::/64"))
    w.join("a", net, "10.6.0.2")
    w.join("b", net, "10.6.0.3")
    w.sandboxes["a"] = replace(w.sandboxes["a"], gateway_names=("host.docker.internal",))
    assert addresses(w.ask("a", "HOST.docker.internal.")) == {"10.6.0.1"}
    assert w.ask("a", "host.docker.internal", AAAA) == Records()  # no IPv6 gateway in the pool
    assert w.ask("a", "host.docker.internal", MX) == Records()
    assert w.ask("b", "host.docker.internal") == Forward(single_label=False)
    assert addresses(w.ask("a", "b")) == {"10.6.0.3"}
    table = w.table()
    view_a, view_b = table.view(w.sandboxes["a"].id), table.view(w.sandboxes["b"].id)
    assert view_a is not None and view_b is not None
    assert view_a.networks == (net.id, gateway_entry(["host.docker.internal"]).id)
    assert view_b.networks == (net.id,)


def test_links_are_aliases_of_the_linking_sandbox_on_their_network() -> None:
    """Docker's EndpointSettings.Links on a user-defined network: "bee" is web's address on
    front, for client alone; a link to a container that is not on that network gives nothing,
    and the alias is looked up before the network's own names."""
    w = World()
    front = w.add_network(network("front", "10.6.0.0/24"))
    back = w.add_network(network("back", "10.7.0.0/24"))
    w.join("web", front, "10.6.0.2")
    w.join("db", back, "10.7.0.4")
    w.join("api", front, "10.6.0.5")
    links = (("web", "bee"), ("db", "dbx"), ("WEB", "api"))
    w.join("client", front, "10.6.0.9", links=links)
    w.join("other", front, "10.6.0.8")
    assert addresses(w.ask("client", "BEE.")) == {"10.6.0.2"}
    assert addresses(w.ask("client", "api")) == {"10.6.0.2"}  # the link hides the container
    assert w.ask("client", "dbx") == Forward(single_label=True)
    assert w.ask("other", "bee") == Forward(single_label=True)
    assert addresses(w.ask("other", "api")) == {"10.6.0.5"}
    w.endpoints[0] = replace(w.endpoints[0], ipv4=IPv4Interface("10.6.0.22/24"))
    assert addresses(w.ask("client", "bee")) == {"10.6.0.22"}  # follows its target


def test_default_bridge_host_and_none_have_no_names() -> None:
    bridge = network("bridge", "172.17.0.0/16", options={nl.DEFAULT_BRIDGE: "true"})
    assert not dns_enabled(bridge)
    assert not dns_enabled(network("host", "10.9.0.0/24", driver="host"))
    assert not dns_enabled(network("none", "10.9.0.0/24", driver="null"))
    assert dns_enabled(network("front", "10.9.0.0/24"))
    w = World()
    w.add_network(bridge)
    w.join("a", bridge, "172.17.0.2")
    w.join("b", bridge, "172.17.0.3")
    assert w.table().view(w.sandboxes["a"].id) is None


def test_internal_only_sandboxes_have_no_external_access() -> None:
    w = World()
    inner = w.add_network(network("inner", "10.7.0.0/24", internal=True))
    outer = w.add_network(network("outer", "10.8.0.0/24"))
    w.join("a", inner, "10.7.0.2")
    w.join("b", inner, "10.7.0.3")
    w.join("b", outer, "10.8.0.3")
    table = w.table()
    view_a, view_b = table.view(w.sandboxes["a"].id), table.view(w.sandboxes["b"].id)
    assert view_a is not None and not view_a.external
    assert view_b is not None and view_b.external
    assert view_b.networks == (inner.id, outer.id)


def test_the_first_network_that_knows_a_name_answers() -> None:
    w = World()
    one = w.add_network(network("one", "10.10.0.0/24"))
    two = w.add_network(network("two", "10.11.0.0/24"))
    w.join("client", one, "10.10.0.9")
    w.join("client", two, "10.11.0.9")
    w.join("x", one, "10.10.0.2", aliases=("same",))
    w.join("y", two, "10.11.0.2", aliases=("same",))
    assert addresses(w.ask("client", "same")) == {"10.10.0.2"}


def test_endpoints_not_joined_are_not_names() -> None:
    w = World()
    net = w.add_network(network("front", "10.12.0.0/24"))
    w.join("a", net, "10.12.0.2")
    w.endpoints.append(
        Endpoint(id="f" * 64, name="ghost", network_id=net.id, ipv4=IPv4Interface("10.12.0.9/24"))
    )
    assert w.ask("a", "ghost") == Forward(single_label=True)


def test_the_builder_reuses_what_did_not_change() -> None:
    w = World()
    one = w.add_network(network("one", "10.13.0.0/24"))
    two = w.add_network(network("two", "10.14.0.0/24"))
    w.join("a", one, "10.13.0.2")
    w.join("b", two, "10.14.0.2")
    builder = TableBuilder()
    first = builder.build(w.networks, w.endpoints, w.sandboxes.values())
    w.join("c", one, "10.13.0.3")
    second = builder.build(w.networks, w.endpoints, w.sandboxes.values())
    assert second.networks[two.id] is first.networks[two.id]  # untouched network: reused
    assert second.networks[one.id] is not first.networks[one.id]
    assert second.views[w.sandboxes["b"].id] is first.views[w.sandboxes["b"].id]
    assert set(second.networks[one.id].names) >= {"a", "c"}
    assert second == build_table(w.networks, w.endpoints, w.sandboxes.values())
    w.networks.remove(two)
    third = builder.build(w.networks, w.endpoints, w.sandboxes.values())
    assert two.id not in third.networks and w.sandboxes["b"].id not in third.views
