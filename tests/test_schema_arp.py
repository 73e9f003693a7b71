"""`netladder arp --json` keeps its key tree (issue 14 §1.11): goldens captured from the code
before the probe became a session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netladder.lab import Lab
from schema import check_golden

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
FAST = ("-i", "0.1", "-W", "0.3")


def doc(lab: Lab, node: str, *args: str) -> tuple[int, object]:
    result = lab.netladder(node, "arp", *args, *FAST, "--json")
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.fixture
def duplicate(chain_lab: Lab) -> Iterator[str]:
    v4 = chain_lab.addr("lan1")
    chain_lab.exec("lan2", ["ip", "addr", "add", f"{v4}/32", "dev", "lan"])
    try:
        yield v4
    finally:
        chain_lab.exec("lan2", ["ip", "addr", "del", f"{v4}/32", "dev", "lan"], check=False)


CASES = [
    ("reply", "client", ("203.0.113.1", "-c", "2"), 0),
    ("ndp-reply", "client", ("2001:db8:1::1", "-c", "1"), 0),
    ("no-reply", "lan3", ("198.51.100.100", "-c", "1"), 1),
    ("dad-free", "lan3", ("198.51.100.100", "--dad", "-c", "1"), 0),
]


@pytest.mark.parametrize(("case", "node", "args", "code"), CASES, ids=[c[0] for c in CASES])
def test_arp_json_keeps_its_shape(
    chain_lab: Lab, case: str, node: str, args: tuple[str, ...], code: int
) -> None:
    rc, got = doc(chain_lab, node, *args)
    assert rc == code, got
    check_golden(got, GOLDEN / f"arp-{case}.json")


def test_arp_json_of_a_conflict_keeps_its_shape(chain_lab: Lab, duplicate: str) -> None:
    rc, got = doc(chain_lab, "lan3", duplicate, "-c", "2")
    assert rc == 1, got
    check_golden(got, GOLDEN / "arp-conflict.json")
