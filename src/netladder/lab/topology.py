"""Declarative lab topologies: nodes, point-to-point links, LAN segments, services, routes.

A topology is pure data.  `plan()` turns it into what each namespace gets — interfaces with
addresses and the static routes that make every lab subnet reachable — without touching the
kernel, so the plan is testable on its own.  Addresses must come from the documentation and
benchmarking ranges of SPEC.md; anything else is refused, so a lab can never claim an address
of the machine's real networks.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from netladder.errors import UsageError

__all__ = [
    "ALLOWED_RANGES",
    "Interface",
    "Link",
    "Node",
    "NodePlan",
    "Plan",
    "Route",
    "Segment",
    "Service",
    "Topology",
    "plan",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# SPEC.md addressing plan; 192.0.2.0/24 is deliberately absent (the machine may use it).
ALLOWED_RANGES: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("2001:db8::/32"),
)

MAX_NODE_NAME = 10  # interface names are "to-" + peer name and must fit IFNAMSIZ - 1 = 15


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    kind: Literal["host", "router"] = "host"
    # The neighbour a host sends everything else to; default: its first adjacent router.
    gateway: str | None = None
    # Extra sysctls for this namespace, e.g. {"net.ipv4.ping_group_range": "0 2147483647"}.
    sysctls: Mapping[str, str] = field(default_factory=dict)
    # Prefixes the node answers for as a whole (a `local` route), e.g. a /16 for sweeps.
    local_prefixes: tuple[str, ...] = ()
    # nft scripts loaded in the node once its addresses and routes are up (e.g. a masquerade).
    setup: tuple[str, ...] = ()
    # Files `ip netns exec` shows in place of /etc/NAME inside the node, e.g. {"resolv.conf":
    # "nameserver 203.0.113.6\n"}; written to /etc/netns/NS/ at up, removed at down.
    etc: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Link:
    """A veth pair; the first node takes the first host address of each subnet."""

    a: str
    b: str
    net4: str | None = None
    net6: str | None = None
    # Put a userspace frame relay in the middle, so delay can be added without sch_netem.
    relay: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    """A LAN: a bridge in its own namespace; members take host addresses in order."""

    name: str
    members: tuple[str, ...]
    net4: str | None = None
    net6: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """A service run by the node's lab agent; `kind` names an entry of lab.services.KINDS."""

    node: str
    kind: str
    port: int
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Topology:
    name: str
    nodes: tuple[Node, ...]
    links: tuple[Link, ...] = ()
    segments: tuple[Segment, ...] = ()
    services: tuple[Service, ...] = ()
    description: str = ""

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise UsageError(f"topology {self.name!r} has no node {name!r}")


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    peer: str  # the node (link) or segment name at the other end
    addresses: tuple[IPInterface, ...]


@dataclass(frozen=True, slots=True)
class Route:
    destination: str  # a prefix, or "default"
    via: IPAddress
    version: int


@dataclass(frozen=True, slots=True)
class NodePlan:
    node: Node
    interfaces: tuple[Interface, ...]
    routes: tuple[Route, ...]

    def address(self, version: int = 4) -> IPAddress | None:
        for iface in self.interfaces:
            for addr in iface.addresses:
                if addr.version == version:
                    return addr.ip
        return None

    def interface_to(self, peer: str) -> Interface:
        for iface in self.interfaces:
            if iface.peer == peer:
                return iface
        raise UsageError(f"node {self.node.name!r} has no interface to {peer!r}")


@dataclass(frozen=True, slots=True)
class Plan:
    topology: Topology
    nodes: Mapping[str, NodePlan]


def _network(text: str | None, where: str) -> IPNetwork | None:
    if text is None:
        return None
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise UsageError(f"{where}: invalid prefix {text!r}: {exc}") from None
    if not any(_within(net, r) for r in ALLOWED_RANGES):
        allowed = ", ".join(str(r) for r in ALLOWED_RANGES)
        raise UsageError(f"{where}: {net} is outside the lab ranges ({allowed})")
    return net


def _within(net: IPNetwork, outer: IPNetwork) -> bool:
    if isinstance(net, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return net.subnet_of(outer)
    if isinstance(net, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return net.subnet_of(outer)
    return False


def _host_addresses(net: IPNetwork, count: int, where: str) -> list[IPInterface]:
    hosts = iter(net.hosts())
    result: list[IPInterface] = []
    for _ in range(count):
        try:
            ip = next(hosts)
        except StopIteration:
            raise UsageError(f"{where}: {net} has too few addresses") from None
        result.append(ipaddress.ip_interface(f"{ip}/{net.prefixlen}"))
    return result


def plan(topology: Topology) -> Plan:
    """Addresses, interface names and routes for every node; raises UsageError when invalid."""
    names = [n.name for n in topology.nodes]
    if len(set(names)) != len(names):
        raise UsageError(f"topology {topology.name!r}: duplicate node names")
    for name in names:
        if not name.isidentifier() or len(name) > MAX_NODE_NAME or not name.islower():
            raise UsageError(
                f"node name {name!r}: use up to {MAX_NODE_NAME} lowercase letters/digits"
            )
    known = set(names)

    ifaces: dict[str, list[Interface]] = {n: [] for n in names}
    # adjacency: node -> list of (neighbour, {version: neighbour's address on the shared subnet})
    adjacency: dict[str, list[tuple[str, dict[int, IPAddress]]]] = {n: [] for n in names}
    subnets: list[tuple[IPNetwork, set[str]]] = []

    def attach(members: Iterable[str], nets: list[IPNetwork], where: str, peer_of: Any) -> None:
        members = list(members)
        for m in members:
            if m not in known:
                raise UsageError(f"{where}: unknown node {m!r}")
        per_member: dict[str, list[IPInterface]] = {m: [] for m in members}
        for net in nets:
            for m, addr in zip(members, _host_addresses(net, len(members), where), strict=True):
                per_member[m].append(addr)
            subnets.append((net, set(members)))
        for m in members:
            peer = peer_of(m)
            ifname = ("to-" + peer) if peer in known else peer
            ifaces[m].append(Interface(ifname[:15], peer, tuple(per_member[m])))
        for m in members:
            for other in members:
                if other != m:
                    adjacency[m].append((other, {a.version: a.ip for a in per_member[other]}))

    for link in topology.links:
        where = f"link {link.a}-{link.b}"
        nets = [n for n in (_network(link.net4, where), _network(link.net6, where)) if n]
        attach(
            (link.a, link.b), nets, where, lambda m, link=link: link.b if m == link.a else link.a
        )
    for seg in topology.segments:
        where = f"segment {seg.name}"
        nets = [n for n in (_network(seg.net4, where), _network(seg.net6, where)) if n]
        attach(seg.members, nets, where, lambda m, seg=seg: seg.name)

    for node in topology.nodes:
        for prefix in node.local_prefixes:
            net = _network(prefix, f"node {node.name}")
            assert net is not None
            subnets.append((net, {node.name}))

    seen: list[IPNetwork] = []
    for net, _members in subnets:
        for other in seen:
            if net.version == other.version and net.overlaps(other):
                raise UsageError(f"topology {topology.name!r}: {net} overlaps {other}")
        seen.append(net)

    kinds = {n.name: n.kind for n in topology.nodes}
    plans: dict[str, NodePlan] = {}
    for node in topology.nodes:
        routes: list[Route] = []
        if node.kind == "host":
            routes = _host_routes(node, adjacency, kinds)
        else:
            routes = _router_routes(node.name, adjacency, kinds, subnets)
        plans[node.name] = NodePlan(node, tuple(ifaces[node.name]), tuple(routes))
    for svc in topology.services:
        if svc.node not in known:
            raise UsageError(f"service {svc.kind}:{svc.port}: unknown node {svc.node!r}")
        if not 0 < svc.port < 65536:
            raise UsageError(f"service {svc.kind}: port {svc.port} out of range")
    return Plan(topology, plans)


def _host_routes(
    node: Node,
    adjacency: Mapping[str, list[tuple[str, dict[int, IPAddress]]]],
    kinds: Mapping[str, str],
) -> list[Route]:
    neighbours = adjacency[node.name]
    gateway = node.gateway
    if gateway is None:
        gateway = next((n for n, _ in neighbours if kinds[n] == "router"), None)
    if gateway is None:
        return []
    addrs = next((a for n, a in neighbours if n == gateway), None)
    if addrs is None:
        raise UsageError(f"node {node.name!r}: gateway {gateway!r} is not a neighbour")
    return [Route("default", ip, version) for version, ip in sorted(addrs.items())]


def _router_routes(
    name: str,
    adjacency: Mapping[str, list[tuple[str, dict[int, IPAddress]]]],
    kinds: Mapping[str, str],
    subnets: list[tuple[IPNetwork, set[str]]],
) -> list[Route]:
    """Shortest-path static routes; only routers forward, so paths go through routers only."""
    # BFS from this router: first hop towards every node.
    first_hop: dict[str, str] = {name: name}
    distance: dict[str, int] = {name: 0}
    queue = deque([name])
    while queue:
        current = queue.popleft()
        if current != name and kinds[current] != "router":
            continue  # hosts are leaves: reachable, but not transit
        for neighbour, _ in adjacency[current]:
            if neighbour not in first_hop:
                first_hop[neighbour] = neighbour if current == name else first_hop[current]
                distance[neighbour] = distance[current] + 1
                queue.append(neighbour)
    neighbour_addrs = {n: a for n, a in adjacency[name]}
    routes: list[Route] = []
    for net, members in subnets:
        if name in members:
            continue
        reachable = sorted((distance[m], m) for m in members if m in first_hop)
        if not reachable:
            continue
        hop = first_hop[reachable[0][1]]
        via = neighbour_addrs.get(hop, {}).get(net.version)
        if via is not None:
            routes.append(Route(str(net), via, net.version))
    return routes
