"""The classic failures, reproduced in the `demo` lab: what `make demo` shows and what
tests/test_diagnose.py pins (each scenario must give its layer in the verdict)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field

from netladder.lab.core import Lab
from netladder.lab.faults import BlockEcho, Delay, DropPort, Loss, NoArp, SmallMtu, WrongArp

__all__ = ["SCENARIOS", "Scenario"]

SERVER = "198.51.100.10"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    args: tuple[str, ...]  # netladder diagnose arguments, run on the client
    layer: str | None  # the layer the verdict must name; None: every layer passes
    words: tuple[str, ...] = ()  # what the verdict must say
    setup: Callable[[Lab], ContextManager[None]] = field(
        default=lambda lab: contextlib.nullcontext()
    )
    # A command run after the diagnosis: (node, netladder arguments) for this lab.
    follow_up: Callable[[Lab], tuple[str, tuple[str, ...]]] | None = None


@contextlib.contextmanager
def _broken_forward(lab: Lab) -> Iterator[None]:
    """r2 forwards its port 8022 to the server's SSH, but IP forwarding is off on r2."""
    lab.netladder("r2", "forward", "add", "--port", "8022", "--to", "22", "--dest", SERVER)
    lab.exec("r2", ["sysctl", "-qw", "net.ipv4.ip_forward=0"])
    try:
        yield
    finally:
        lab.exec("r2", ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        lab.netladder("r2", "forward", "delete", "--all")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "wrong_gateway_mac",
        "a wrong static ARP entry for the client's gateway",
        (f"{SERVER}:22",),
        "l2",
        ("203.0.113.1",),
        setup=lambda lab: lab.fault(WrongArp("client", "r1")),
    ),
    Scenario(
        "gateway_silent",
        "the client's gateway does not answer ARP",
        (f"{SERVER}:22",),
        "l2",
        ("does not answer ARP", "Destination Host Unreachable"),
        setup=lambda lab: lab.fault(NoArp("r1", "client")),
    ),
    Scenario(
        "icmp_blocked_service_fine",
        "ICMP echo blocked at the server, HTTP fine",
        ("http://www.lab/",),
        None,
        ("ICMP echo is blocked",),
        setup=lambda lab: lab.fault(BlockEcho("server")),
    ),
    Scenario("port_closed", "nothing listens on the port", ("www.lab:81",), "l4", ("closed",)),
    Scenario(
        "port_filtered",
        "a firewall drops the port",
        ("www.lab:22",),
        "l4",
        ("filtered", "answers ICMP echo"),
        setup=lambda lab: lab.fault(DropPort("server", 22)),
    ),
    Scenario(
        "broken_port_forward",
        "a port forward on r2 with IP forwarding off",
        ("203.0.113.6:8022",),
        "l4",
        ("filtered", "port forward"),
        setup=_broken_forward,
        follow_up=lambda lab: (
            "r2",
            ("forward", "verify", "--port", "8022", "--from", lab.ns("client")),
        ),
    ),
    Scenario(
        "slow_hop",
        "100 ms added on the r1 - r2 link",
        (SERVER,),
        "path",
        ("203.0.113.6", "ms between hop"),
        setup=lambda lab: lab.fault(Delay("r1", "r2", 100)),
    ),
    Scenario(
        "lossy_link",
        "50 % loss on the r1 - r2 link",
        (SERVER,),
        "path",
        ("loss",),
        setup=lambda lab: lab.fault(Loss("r1", "r2", 50)),
    ),
    Scenario(
        "pmtu_black_hole",
        "a 1280-byte link between r1 and r2 whose routers drop 'fragmentation needed'",
        ("http://www.lab/big",),
        "path",
        ("black hole", "1280 bytes get through"),
        setup=lambda lab: lab.fault(SmallMtu("r1", "r2", 1280)),
    ),
    Scenario(
        "http_503_without_retry_after",
        "the server answers 503 without Retry-After",
        ("http://www.lab/status/503",),
        "l7",
        ("503", "Retry-After"),
    ),
    Scenario(
        "unknown_name",
        "a name that does not exist",
        ("http://nosuch.lab/",),
        "names",
        ("NXDOMAIN",),
    ),
    Scenario("healthy", "a healthy target", ("http://www.lab/",), None, ()),
)


def diagnose_in_lab(lab: Lab, scenario: Scenario, *extra: str) -> tuple[int, str, str]:
    """Run `netladder diagnose` for the scenario on the lab's client (faults applied)."""
    with scenario.setup(lab):
        result = lab.netladder("client", "diagnose", *scenario.args, *extra, timeout=60)
        out = result.stdout
        if scenario.follow_up is not None:
            node, args = scenario.follow_up(lab)
            follow = lab.netladder(node, *args, timeout=60)
            out += f"\n$ netladder {' '.join(args)}   (on {node})\n"
            out += follow.stdout + follow.stderr
    return result.returncode, out, result.stderr
