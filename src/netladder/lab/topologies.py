"""Built-in topologies.  Add one by writing a function that returns a Topology and naming it in
BUILTIN; tests may also build a Topology inline."""

from __future__ import annotations

from collections.abc import Callable

from netladder.errors import UsageError
from netladder.lab.topology import Link, Node, Segment, Service, Topology

__all__ = ["BUILTIN", "chain", "get", "pair", "sweep"]

SSH_BANNER = "SSH-2.0-OpenSSH_9.2p1 netladder-lab"
SMTP_BANNER = "220 server.lab ESMTP netladder-lab"


def chain() -> Topology:
    """client — r1 — r2 — server, and a LAN (lan1..lan3) behind r1.

    ::

        client .2 ─203.0.113.0/30─ .1 r1 .5 ─203.0.113.4/30 (relay)─ .6 r2 .9 ─┐
                                      │ .65                 198.51.100.8/30 ─┘
                 198.51.100.64/26: lan1 .66, lan2 .67, lan3 .68     .10 server

    The server also answers for 198.18.0.0/17 (a `local` route), for sweeps.
    """
    return Topology(
        name="chain",
        description="client - r1 - r2 - server, plus a LAN behind r1",
        nodes=(
            Node("client"),
            Node("r1", "router"),
            Node("r2", "router"),
            Node("server", local_prefixes=("198.18.0.0/17",)),
            Node("lan1"),
            Node("lan2"),
            Node("lan3"),
        ),
        links=(
            Link("r1", "client", "203.0.113.0/30", "2001:db8:1::/64"),
            Link("r1", "r2", "203.0.113.4/30", "2001:db8:2::/64", relay=True),
            Link("r2", "server", "198.51.100.8/30", "2001:db8:3::/64"),
        ),
        segments=(
            Segment("lan", ("r1", "lan1", "lan2", "lan3"), "198.51.100.64/26", "2001:db8:10::/64"),
        ),
        services=(
            Service("server", "tcp", 22, {"banner": SSH_BANNER}),
            Service("server", "tcp", 25, {"banner": SMTP_BANNER}),
            Service("server", "http", 80),
            Service("server", "http", 8080, {"routes": {"/": {"status": 200, "body": "alt\n"}}}),
            Service("server", "udp-echo", 7),
            Service("lan1", "http", 80),
        ),
    )


def pair() -> Topology:
    """Two hosts on one link: the smallest lab, for unit-like lab tests and benchmarks."""
    return Topology(
        name="pair",
        description="a - b on one link",
        nodes=(Node("a"), Node("b")),
        links=(Link("a", "b", "198.51.100.0/30", "2001:db8:100::/64"),),
        services=(
            Service("b", "tcp", 22, {"banner": SSH_BANNER}),
            Service("b", "http", 80),
            Service("b", "udp-echo", 7),
        ),
    )


def sweep() -> Topology:
    """client — target for sweeps and ping benchmarks: the target answers for 198.18.0.0/17 (a
    `local` route); the client sends all of 198.18.0.0/16 to it (its gateway), and the other
    half stays silent (the target is not a router, so it drops them without an ICMP error)."""
    return Topology(
        name="sweep",
        description="client - target answering half of 198.18.0.0/16",
        nodes=(
            Node("client", gateway="target"),
            Node("target", local_prefixes=("198.18.0.0/17",)),
        ),
        links=(Link("target", "client", "198.51.100.16/30", "2001:db8:200::/64"),),
    )


BUILTIN: dict[str, Callable[[], Topology]] = {"chain": chain, "pair": pair, "sweep": sweep}


def get(name: str) -> Topology:
    factory = BUILTIN.get(name)
    if factory is None:
        raise UsageError(f"unknown topology {name!r} (known: {', '.join(sorted(BUILTIN))})")
    return factory()
