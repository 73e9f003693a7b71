"""`netladder dns --json` keeps its key tree (issue 14 §1.11): goldens captured from the code
before the command became a session, one per kind of outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netladder.lab import Lab
from netladder.lab.core import ETC_NETNS
from netladder.lab.topologies import nat
from schema import check_golden
from test_names_hostile import EXT, SERVER, hostile_names

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
DNS = "203.0.113.6"  # pub in the nat topology


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(nat(), name="sdns") as built:
        yield built


@pytest.fixture(scope="module")
def hostile(lab_ok: None) -> Iterator[Lab]:
    with Lab(hostile_names(), name="sdnsh") as built:
        yield built


def doc(lab: Lab, *args: str) -> tuple[int, object]:
    result = lab.netladder("client", "dns", *args, "--json")
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


CASES = [
    ("answer-with-chain", ("www.lab", "--server", DNS), 0),
    ("nxdomain", ("nope.lab", "--server", DNS), 1),
    ("truncated-then-tcp", ("big.lab", "--server", DNS), 0),
    ("timeout", ("www.lab", "--server", "203.0.113.9", "--timeout", "0.3", "--tries", "1"), 1),
    ("unreachable", ("www.lab", "--server", "{nat}"), 1),
    ("malformed", ("garbage.lab", "--server", DNS), 1),
    ("compare-agree", ("www.lab", "--compare"), 0),
    ("compare-hosts", ("pinned.lab", "--compare", "-4"), 1),
]


@pytest.mark.parametrize(("case", "args", "code"), CASES, ids=[c[0] for c in CASES])
def test_dns_json_keeps_its_shape(lab: Lab, case: str, args: tuple[str, ...], code: int) -> None:
    rc, got = doc(lab, *(a.format(nat=lab.addr("nat")) for a in args))
    assert rc == code, got
    check_golden(got, GOLDEN / f"dns-{case}.json")


def test_dns_json_of_a_chase_across_servers_keeps_its_shape(hostile: Lab) -> None:
    rc, got = doc(hostile, "x.lab", "--server", SERVER, "--server", EXT)
    assert rc == 0, got
    check_golden(got, GOLDEN / "dns-chased.json")


def test_dns_json_without_a_resolver_keeps_its_shape(lab: Lab) -> None:
    directory = ETC_NETNS / lab.ns("client")
    saved = (directory / "resolv.conf").read_text()
    (directory / "resolv.conf").write_text("search lab\n")
    try:
        rc, got = doc(lab, "www.lab")
    finally:
        (directory / "resolv.conf").write_text(saved)
    assert rc == 3
    check_golden(got, GOLDEN / "dns-no-resolver.json")
