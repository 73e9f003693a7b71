"""L2 and routing (issue 4): route lookup, neighbour table, ARP probe and gateway check, each
beside the by-hand tool it replaces, in the chain lab's client."""

from __future__ import annotations

import sys

from bench.harness import Case

NL = [sys.executable, "-m", "netladder"]

CASES = [
    Case(
        name="l2_route_get",
        topology="chain",
        ours=lambda lab: [*NL, "route", "198.51.100.10"],
        anchor=lambda lab: ["ip", "route", "get", "198.51.100.10"],
        runs=20,
        max_ms=150.0,
        note="anchor: ip route get (C); ours includes the interpreter start-up and asyncio",
    ),
    Case(
        name="l2_neigh_table",
        topology="chain",
        ours=lambda lab: [*NL, "neigh"],
        anchor=lambda lab: ["ip", "neigh", "show", "nud", "all"],
        runs=20,
        max_ms=150.0,
    ),
    Case(
        name="l2_arp_gateway",
        topology="chain",
        ours=lambda lab: [*NL, "arp", "203.0.113.1", "-c", "2"],
        anchor=lambda lab: ["arping", "-c", "2", "-I", "to-r1", "203.0.113.1"],
        runs=5,
        max_ratio=1.2,
        note="2 requests 1 s apart (this arping takes whole seconds for -i): paced by the "
        "interval and the wait after the last request",
    ),
    Case(
        name="l2_neigh_check",
        topology="chain",
        ours=lambda lab: [*NL, "neigh", "--check", "198.51.100.10"],
        anchor=lambda lab: [
            "sh",
            "-c",
            "ip route get 198.51.100.10; ip neigh show 203.0.113.1;"
            " arping -f -c 3 -I to-r1 203.0.113.1",
        ],
        runs=10,
        max_ms=250.0,
        note="anchor: the by-hand steps (route, table, one live arping)",
    ),
]
