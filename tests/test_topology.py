"""Topology planning is pure: addresses, interface names and routes without a kernel."""

from __future__ import annotations

import ipaddress

import pytest

from netladder.errors import UsageError
from netladder.lab.topologies import BUILTIN, chain, get
from netladder.lab.topology import Link, Node, Topology, plan


def test_chain_addresses_follow_the_declaration_order() -> None:
    p = plan(chain())
    assert str(p.nodes["r1"].interface_to("client").addresses[0]) == "203.0.113.1/30"
    assert str(p.nodes["client"].interface_to("r1").addresses[0]) == "203.0.113.2/30"
    assert str(p.nodes["server"].address(4)) == "198.51.100.10"
    assert str(p.nodes["server"].address(6)) == "2001:db8:3::2"
    assert [str(a) for a in p.nodes["lan2"].interface_to("lan").addresses] == [
        "198.51.100.67/26",
        "2001:db8:10::3/64",
    ]


def test_hosts_route_everything_through_their_gateway() -> None:
    routes = plan(chain()).nodes["client"].routes
    assert {(r.destination, str(r.via)) for r in routes} == {
        ("default", "203.0.113.1"),
        ("default", "2001:db8:1::1"),
    }


def test_routers_get_shortest_path_routes_to_every_lab_prefix() -> None:
    r1 = {(r.destination, str(r.via)) for r in plan(chain()).nodes["r1"].routes}
    assert ("198.51.100.8/30", "203.0.113.6") in r1
    assert ("2001:db8:3::/64", "2001:db8:2::2") in r1
    assert ("198.18.0.0/17", "203.0.113.6") in r1  # the server's sweep block
    r2 = {(r.destination, str(r.via)) for r in plan(chain()).nodes["r2"].routes}
    assert ("203.0.113.0/30", "203.0.113.5") in r2
    assert ("198.51.100.64/26", "203.0.113.5") in r2
    # Nothing outside the lab is routed anywhere: no default route on a router.
    assert all(r.destination != "default" for r in plan(chain()).nodes["r2"].routes)


def test_hosts_are_not_transit() -> None:
    topo = Topology(
        "t",
        (Node("a", "router"), Node("h"), Node("b", "router"), Node("c")),
        (
            Link("a", "h", "198.51.100.0/30"),
            Link("h", "b", "198.51.100.4/30"),
            Link("b", "c", "198.51.100.8/30"),
        ),
    )
    # a reaches h's other address through h, but nothing behind b: h does not forward.
    assert [r.destination for r in plan(topo).nodes["a"].routes] == ["198.51.100.4/30"]


@pytest.mark.parametrize(
    "net", ["192.0.2.0/24", "10.0.0.0/8", "192.168.1.0/24", "2001:db9::/64", "203.0.113.0/23"]
)
def test_addresses_outside_the_lab_ranges_are_refused(net: str) -> None:
    topo = Topology("t", (Node("a"), Node("b")), (Link("a", "b", net),))
    with pytest.raises(UsageError, match="outside the lab ranges|invalid prefix"):
        plan(topo)


@pytest.mark.parametrize(
    "topo, message",
    [
        (Topology("t", (Node("a"), Node("a"))), "duplicate"),
        (Topology("t", (Node("a"),), (Link("a", "zz", "198.51.100.0/30"),)), "unknown node"),
        (
            Topology(
                "t",
                (Node("a"), Node("b")),
                (Link("a", "b", "198.51.100.0/31"), Link("a", "b", "198.51.100.0/30")),
            ),
            "overlaps",
        ),
        (Topology("t", (Node("A"),)), "lowercase"),
        (
            Topology("t", (Node("a"), Node("b"), Node("c")), (Link("a", "b", "198.51.100.0/32"),)),
            "too few",
        ),
    ],
)
def test_invalid_topologies_are_usage_errors(topo: Topology, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan(topo)


def test_unknown_topology_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown topology"):
        get("nope")


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_topology_plans_inside_the_lab_ranges(name: str) -> None:
    from netladder.lab.topology import ALLOWED_RANGES

    for node in plan(get(name)).nodes.values():
        for iface in node.interfaces:
            for a in iface.addresses:
                assert any(a.ip in r for r in ALLOWED_RANGES), a
                assert isinstance(a, ipaddress.IPv4Interface | ipaddress.IPv6Interface)
