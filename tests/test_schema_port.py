"""`netladder port --json` and `netladder sockets --json` keep their key trees (issue 14 §1.11):
goldens captured from the code before the scans became sessions."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netladder.lab import DropPort, Lab, Link, Node, RejectPort, Service, Topology
from netladder.lab.topologies import SSH_BANNER
from schema import check_golden

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def lab(chain_lab: Lab) -> Iterator[Lab]:
    with chain_lab.fault(
        DropPort("server", 81), RejectPort("server", 82), DropPort("server", 9, "udp")
    ):
        yield chain_lab


def port_doc(lab: Lab, *args: str, unprivileged: bool = False) -> tuple[int, object]:
    argv = [sys.executable, "-m", "netladder", "port", *args, "--json"]
    if unprivileged:
        argv = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", *argv]
    result = lab.exec("client", argv, check=False, timeout=120)
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


CASES = [
    # open, closed, dropped and rejected ports, each with its TTL and round trip
    ("syn", ("20-26,79-83,8080", "--syn"), False, 0),
    # most ports collapsed into "Not shown"
    ("syn-collapsed", ("1-200", "--syn"), False, 0),
    ("connect-banner", ("22,25,80,23", "--banner", "--connect"), False, 0),
    ("udp", ("7,9,10", "--udp"), False, 0),
    # no CAP_NET_RAW: the connect scan the default falls back to, with its note
    ("unprivileged-note", ("22,23",), True, 0),
    ("nothing-open", ("23,81", "--connect"), False, 1),
]


@pytest.mark.parametrize(("case", "args", "unprivileged", "code"), CASES, ids=[c[0] for c in CASES])
def test_port_json_keeps_its_shape(
    lab: Lab, case: str, args: tuple[str, ...], unprivileged: bool, code: int
) -> None:
    rc, got = port_doc(lab, lab.addr("server"), *args, unprivileged=unprivileged)
    assert rc == code, got
    check_golden(got, GOLDEN / f"port-{case}.json")


TLS_TOPOLOGY = Topology(
    "schematls",
    (Node("client"), Node("b")),
    (Link("client", "b", "198.51.100.28/30"),),
    services=(
        Service("b", "tls", 443, {"cn": "tls.lab", "days": 30}),
        Service("b", "tcp", 22, {"banner": SSH_BANNER}),
    ),
)


def test_port_json_with_tls_keeps_its_shape(lab_ok: None) -> None:
    # 443: a handshake with its certificate; 22: SSH does not speak TLS (the error's shape).
    with Lab(TLS_TOPOLOGY) as tls_lab:
        rc, got = port_doc(tls_lab, tls_lab.addr("b"), "443,22", "--tls", "--banner", "--connect")
    assert rc == 0, got
    check_golden(got, GOLDEN / "port-tls.json")


@pytest.mark.parametrize(
    ("case", "args", "code"),
    [("listening", ("22",), 0), ("nothing", ("9",), 1), ("all", (), 0)],
)
def test_sockets_json_keeps_its_shape(
    lab: Lab, case: str, args: tuple[str, ...], code: int
) -> None:
    result = lab.netladder("server", "sockets", *args, "--json")
    assert result.returncode == code, result.stderr
    check_golden(json.loads(result.stdout), GOLDEN / f"sockets-{case}.json")
