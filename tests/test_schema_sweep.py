"""`netladder sweep --json` keeps its key tree (issue 14 §1.11): goldens captured from the code
before the sweep became a session, one per kind of outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netladder.lab import Lab
from schema import check_golden
from test_sweep import three_hops

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
NO_ROUTE = "198.51.100.200"  # r1 has no route: Destination Net Unreachable from r1
BROADCAST = "203.0.113.3"  # the client link's broadcast: the kernel refuses the send


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(three_hops(), name="ssweep") as built:
        yield built


CASES = [
    ("default", ("--retries", "0", "--timeout", "200", "203.0.113.1", NO_ROUTE), 1),
    ("count", ("--count", "2", "--period", "50", "203.0.113.0/30", "far.lab"), 0),
    ("unresolved", ("--retries", "0", "far.lab", "nosuch.lab"), 2),
    ("errors", ("--retries", "0", "--timeout", "300", NO_ROUTE, BROADCAST, "203.0.113.1"), 1),
]


@pytest.mark.parametrize(("case", "args", "code"), CASES, ids=[c[0] for c in CASES])
def test_sweep_json_keeps_its_shape(lab: Lab, case: str, args: tuple[str, ...], code: int) -> None:
    result = lab.netladder("client", "sweep", "--json", *args)
    assert result.returncode == code, result.stderr
    got = json.loads(result.stdout)
    check_golden(got, GOLDEN / f"sweep-{case}.json")
