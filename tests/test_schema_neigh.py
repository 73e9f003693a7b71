"""`netladder neigh --json` and `neigh --check --json` keep their key trees (issue 14 §1.11):
goldens captured from the code before the check's sentences moved to a renderer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netladder.lab import Lab, WrongArp
from schema import check_golden

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"


def doc(lab: Lab, node: str, *args: str) -> tuple[int, object]:
    result = lab.netladder(node, "neigh", *args, "--json")
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def test_neigh_table_json_keeps_its_shape(chain_lab: Lab) -> None:
    chain_lab.exec("client", ["ping", "-c", "1", "-W", "1", "203.0.113.1"])
    rc, got = doc(chain_lab, "client")
    assert rc == 0
    check_golden(got, GOLDEN / "neigh-table.json")


def test_neigh_check_json_keeps_its_shape(chain_lab: Lab) -> None:
    rc, got = doc(chain_lab, "client", "--check", "198.51.100.10")
    assert rc == 0, got
    check_golden(got, GOLDEN / "neigh-check-ok.json")
    rc, got = doc(chain_lab, "lan3", "--check", "198.51.100.100")
    assert rc == 1, got
    check_golden(got, GOLDEN / "neigh-check-no-answer.json")
    rc, got = doc(chain_lab, "client", "--check")
    assert rc == 0, got
    check_golden(got, GOLDEN / "neigh-check-gateways.json")


def test_neigh_check_json_of_a_mismatch_keeps_its_shape(chain_lab: Lab) -> None:
    with chain_lab.fault(WrongArp("client", "r1")):
        rc, got = doc(chain_lab, "client", "--check", "198.51.100.10")
    assert rc == 1, got
    check_golden(got, GOLDEN / "neigh-check-mismatch.json")
