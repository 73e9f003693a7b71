"""`netladder ping --json` keeps its key tree (issue 14 §1.11): goldens captured from the code
before ping became a session, one per kind of outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netladder.lab import BlockEcho, Lab
from schema import check_golden

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
SERVER = "198.51.100.10"


def doc(lab: Lab, *args: str) -> tuple[int, object]:
    result = lab.netladder("client", "ping", "--json", *args)
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


CASES = [
    ("replies", ("-c", "2", "-i", "0.05", SERVER), 0),
    ("time-exceeded", ("-c", "1", "-t", "1", SERVER), 1),
    ("two-targets", ("-c", "1", SERVER, "2001:db8:3::2"), 0),
]


@pytest.mark.parametrize(("case", "args", "code"), CASES, ids=[c[0] for c in CASES])
def test_ping_json_keeps_its_shape(
    chain_lab: Lab, case: str, args: tuple[str, ...], code: int
) -> None:
    rc, got = doc(chain_lab, *args)
    assert rc == code, got
    check_golden(got, GOLDEN / f"ping-{case}.json")


def test_ping_json_of_a_silent_host_keeps_its_shape(chain_lab: Lab) -> None:
    with chain_lab.fault(BlockEcho("server")):
        rc, got = doc(chain_lab, "-c", "1", "-W", "0.3", SERVER)
    assert rc == 1, got
    check_golden(got, GOLDEN / "ping-silent.json")
