"""`netladder trace --json` keeps its key tree (issue 14 §1.11): goldens captured from the code
before the trace became a session (tests/golden/trace-*.json).

One case per shape the document takes: each protocol reaching the server (UDP, ICMPv6, TCP
from a raw socket, TCP connects without privilege), mtr's report mode, a reject that ends the
trace, a max TTL short of the server, and silent hops (timeouts: null addresses and times)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from netladder.lab import Lab
from netladder.lab.faults import DropPort, RejectPort
from netladder.lab.topologies import chain3
from schema import check_golden

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
SERVER = {4: "198.51.100.10", 6: "2001:db8:3::2"}
UNPRIVILEGED = ("setpriv", "--inh-caps=-all", "--bounding-set=-all")

Setup = Callable[[Lab], AbstractContextManager[None]]


def nothing(lab: Lab) -> AbstractContextManager[None]:
    return nullcontext()


# (case, trace arguments, fault, unprivileged, exit status)
CASES: list[tuple[str, tuple[str, ...], Setup, bool, int]] = [
    ("udp", (SERVER[4],), nothing, False, 0),
    ("icmp6", (SERVER[6], "--proto", "icmp"), nothing, False, 0),
    ("tcp-raw", (SERVER[4], "--proto", "tcp", "-p", "22"), nothing, False, 0),
    ("tcp-connect", (SERVER[4], "--proto", "tcp", "-p", "22"), nothing, True, 0),
    ("report", (SERVER[4], "--cycles", "3", "-i", "0.05"), nothing, False, 0),
    (
        "rejected",
        (SERVER[4],),
        lambda lab: lab.fault(RejectPort("server", 33434, "udp")),
        False,
        1,
    ),
    ("max-ttl", (SERVER[4], "-m", "2"), nothing, False, 1),
    (
        "silent",
        (SERVER[4], "--proto", "tcp", "-p", "80", "-w", "0.5"),
        lambda lab: lab.fault(DropPort("server", 80)),
        False,
        1,
    ),
]


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(chain3(), name="tschema") as built:
        yield built


@pytest.mark.parametrize(
    "case, args, setup, unprivileged, status", CASES, ids=[c[0] for c in CASES]
)
def test_trace_json_keeps_its_shape(
    lab: Lab, case: str, args: tuple[str, ...], setup: Setup, unprivileged: bool, status: int
) -> None:
    argv = [sys.executable, "-m", "netladder", "trace", *args, "--json"]
    with setup(lab):
        result = lab.exec("client", [*UNPRIVILEGED, *argv] if unprivileged else argv, check=False)
    assert result.returncode == status, result.stderr
    check_golden(json.loads(result.stdout), GOLDEN / f"trace-{case}.json")
