"""`netladder sweep --json` keeps its key tree (issue 14 §1.11): goldens captured from the code
before the sweep became a session, one per kind of outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netladder.lab import Lab, Link, Node, Topology
from schema import check_golden

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
NO_ROUTE = "198.51.100.200"  # r1 has no route: Destination Net Unreachable from r1
BROADCAST = "203.0.113.3"  # the client link's broadcast: the kernel refuses the send


def topology() -> Topology:
    """client — r1 — far, far answering for 198.18.0.0/17; names from the hosts file only."""
    return Topology(
        "ssweep",
        nodes=(
            Node(
                "client",
                etc={
                    "hosts": "127.0.0.1 localhost\n198.51.100.10 far.lab\n",
                    "nsswitch.conf": "hosts: files\n",
                },
            ),
            Node("r1", "router"),
            Node("far", local_prefixes=("198.18.0.0/17",)),
        ),
        links=(
            Link("r1", "client", "203.0.113.0/30"),
            Link("r1", "far", "198.51.100.8/30"),
        ),
    )


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(topology(), name="ssweep") as built:
        yield built


CASES = [
    ("default", ("--retries", "0", "--timeout", "200", "198.18.0.1", "198.18.200.1"), 1),
    ("count", ("--count", "2", "--period", "50", "198.18.0.0/30", "198.18.200.1"), 1),
    ("unresolved", ("--retries", "0", "far.lab", "nosuch.lab"), 2),
    ("errors", ("--retries", "0", "--timeout", "300", NO_ROUTE, BROADCAST, "203.0.113.1"), 1),
]


@pytest.mark.parametrize(("case", "args", "code"), CASES, ids=[c[0] for c in CASES])
def test_sweep_json_keeps_its_shape(lab: Lab, case: str, args: tuple[str, ...], code: int) -> None:
    result = lab.netladder("client", "sweep", "--json", *args)
    assert result.returncode == code, result.stderr
    got = json.loads(result.stdout)
    check_golden(got, GOLDEN / f"sweep-{case}.json")
