"""`netladder diagnose --json`: the key tree of every kind of rung evidence, pinned by goldens
captured before issue 14 typed the rungs (tests/golden/diagnose-*.json; plan 1.11).

One case per shape the evidence takes: every layer passing (with the full-size echo), a
closed and a filtered port (L4's cause), ICMP echo blocked (L3's "blocked"), a name that does
not resolve (names' "dns"), a slow hop (the trace), a path-MTU black hole, a wrong gateway MAC
(L2's check), an HTTP failure with lint findings, and no privilege at all ("not_checked")."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from netladder.lab import Lab
from netladder.lab.faults import BlockEcho, Delay, DropPort, SmallMtu, WrongArp
from netladder.lab.topologies import demo
from schema import check_golden

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
SERVER = "198.51.100.10"
UNPRIVILEGED = ("setpriv", "--inh-caps=-all", "--bounding-set=-all")

Setup = Callable[[Lab], AbstractContextManager[None]]


def nothing(lab: Lab) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


# (case, diagnose arguments, fault, unprivileged, exit status)
CASES: list[tuple[str, tuple[str, ...], Setup, bool, int]] = [
    ("healthy", ("http://www.lab/",), nothing, False, 0),
    ("port-closed", ("www.lab:81",), nothing, False, 1),
    ("port-filtered", ("www.lab:22",), lambda lab: lab.fault(DropPort("server", 22)), False, 1),
    ("icmp-blocked", ("http://www.lab/",), lambda lab: lab.fault(BlockEcho("server")), False, 0),
    ("unknown-name", ("http://nosuch.lab/",), nothing, False, 1),
    ("slow-hop", (SERVER,), lambda lab: lab.fault(Delay("r1", "r2", 100)), False, 1),
    (
        "pmtu-black-hole",
        ("http://www.lab/big",),
        lambda lab: lab.fault(SmallMtu("r1", "r2", 1280)),
        False,
        1,
    ),
    (
        "wrong-gateway-mac",
        (f"{SERVER}:22",),
        lambda lab: lab.fault(WrongArp("client", "r1")),
        False,
        1,
    ),
    ("http-503", ("http://www.lab/status/503",), nothing, False, 1),
    ("unprivileged", ("http://www.lab/",), nothing, True, 0),
]


@pytest.fixture(scope="module")
def schema_lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(demo(), name="dschema") as lab:
        yield lab


@pytest.mark.parametrize(
    "case, args, setup, unprivileged, status", CASES, ids=[c[0] for c in CASES]
)
def test_diagnose_json_keeps_its_shape(
    schema_lab: Lab,
    case: str,
    args: tuple[str, ...],
    setup: Setup,
    unprivileged: bool,
    status: int,
) -> None:
    argv = [sys.executable, "-m", "netladder", "diagnose", *args, "--json"]
    if unprivileged:
        argv = [*UNPRIVILEGED, *argv]
    with setup(schema_lab):
        result = schema_lab.exec("client", argv, check=False, timeout=60)
    assert result.returncode == status, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    # One shape per layer: a list's items would merge every layer's evidence into one.
    doc["layers"] = {rung["layer"]: rung for rung in doc["layers"]}
    check_golden(doc, GOLDEN / f"diagnose-{case}.json")
