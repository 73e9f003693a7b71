"""`netladder route`, `codes`, `forward` and `lab status` with --json keep their key trees
(issue 14 §1.11): goldens captured from the code before these commands' JSON documents, built
by hand in commands/, became records through `output.to_jsonable`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netladder.lab import Lab
from schema import check_golden
from waiting import restore_sigint

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
SERVER = "198.51.100.10"


def doc(lab: Lab, node: str, *args: str, code: int = 0) -> Any:
    result = lab.netladder(node, *args, "--json", timeout=30)
    assert result.returncode == code, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("case", "args"),
    [
        ("all", ()),
        ("all-explain", ("--explain",)),
        ("class", ("4xx",)),
        ("class-explain", ("2xx", "--explain")),
        ("one", ("404",)),
        ("one-explain", ("429", "--explain")),
        ("unregistered", ("299",)),
    ],
)
def test_codes_json_keeps_its_shape(chain_lab: Lab, case: str, args: tuple[str, ...]) -> None:
    check_golden(doc(chain_lab, "client", "codes", *args), GOLDEN / f"codes-{case}.json")


@pytest.mark.parametrize(
    ("case", "node", "args", "code"),
    [
        ("defaults", "client", (), 0),
        ("no-default", "server", (), 0),
        ("via-gateway", "client", ("198.51.100.10",), 0),
        ("local", "client", ("203.0.113.2",), 0),
        ("unreachable", "r2", ("198.51.100.200",), 1),
        ("from", "r1", ("198.51.100.10", "--from", "203.0.113.1"), 0),
        ("explain", "client", ("203.0.113.1", "--explain"), 0),
    ],
)
def test_route_json_keeps_its_shape(
    chain_lab: Lab, case: str, node: str, args: tuple[str, ...], code: int
) -> None:
    got = doc(chain_lab, node, "route", *args, code=code)
    check_golden(got, GOLDEN / f"route-{case}.json")


@pytest.fixture()
def lab(chain_lab: Lab) -> Iterator[Lab]:
    yield chain_lab
    for node in ("server", "r2"):
        chain_lab.netladder(node, "forward", "delete", "--all")
        chain_lab.exec(node, ["iptables", "-t", "nat", "-F"], check=False)
    chain_lab.exec("r2", ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])


def test_forward_add_list_delete_json_keep_their_shapes(lab: Lab) -> None:
    dry = doc(lab, "r2", "forward", "add", "--port", "8022", "--to", "22", "--dest", SERVER)
    check_golden(dry, GOLDEN / "forward-add-dnat.json")
    dry = doc(lab, "server", "forward", "add", "--port", "80", "--to", "8080", "--dry-run")
    check_golden(dry, GOLDEN / "forward-add-dry-run.json")
    added = doc(lab, "server", "forward", "add", "--port", "80", "--to", "8080", "--local")
    check_golden(added, GOLDEN / "forward-add-redirect.json")
    lab.exec(
        "server",
        ["iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport"]
        + ["80", "-j", "REDIRECT", "--to-port", "25"],
    )
    check_golden(doc(lab, "server", "forward", "list"), GOLDEN / "forward-list.json")
    check_golden(doc(lab, "r2", "forward", "list"), GOLDEN / "forward-list-dnat.json")
    deleted = doc(lab, "server", "forward", "delete", "--all")
    check_golden(deleted, GOLDEN / "forward-delete.json")
    check_golden(doc(lab, "server", "forward", "list"), GOLDEN / "forward-list-others.json")


def test_forward_verify_json_keeps_its_shape(lab: Lab) -> None:
    none = doc(lab, "server", "forward", "verify", "--port", "9999", code=1)
    check_golden(none, GOLDEN / "forward-verify-no-rule.json")
    doc(lab, "r2", "forward", "add", "--port", "8022", "--to", "22", "--dest", SERVER)
    args = ("forward", "verify", "--port", "8022", "--from", "client")
    check_golden(doc(lab, "r2", *args), GOLDEN / "forward-verify-ok.json")
    explained = doc(lab, "r2", *args, "--explain")
    check_golden(explained, GOLDEN / "forward-verify-explain.json")
    # iptables' `ip nat` table made after netladder's runs first at equal priority (an earlier
    # test may have left one: the fixture flushes its rules, not the table).
    lab.exec("server", ["nft", "delete", "table", "ip", "nat"], check=False)
    doc(lab, "server", "forward", "add", "--port", "80", "--to", "8080")
    lab.exec(
        "server",
        ["iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport"]
        + ["80", "-j", "REDIRECT", "--to-port", "25"],
    )
    shadowed = doc(lab, "server", "forward", "verify", "--port", "80", "--from", "client", code=1)
    check_golden(shadowed, GOLDEN / "forward-verify-shadowed.json")


@pytest.mark.parametrize("udp", [False, True])
def test_forward_proxy_json_keeps_its_shape(lab: Lab, udp: bool) -> None:
    target = f"{SERVER}:7" if udp else f"{SERVER}:22"
    proc = lab.popen(
        "r2",
        [sys.executable, "-m", "netladder", "forward", "proxy", "127.0.0.1:9100", target]
        + (["--udp"] if udp else [])
        + ["--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=restore_sigint,
    )
    assert proc.stderr is not None and "listening on" in proc.stderr.readline()
    proc.terminate()
    out, _err = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    check_golden(json.loads(out), GOLDEN / f"forward-proxy-{'udp' if udp else 'tcp'}.json")


def test_lab_status_json_keeps_its_shape(chain_lab: Lab) -> None:
    argv = [sys.executable, "-m", "netladder", "lab", "status", "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, env=os.environ, check=True)
    check_golden(json.loads(result.stdout), GOLDEN / "lab-status.json")
    result = subprocess.run([*argv, "nosuch"], capture_output=True, text=True, check=True)
    check_golden(json.loads(result.stdout), GOLDEN / "lab-status-none.json")
