"""`netladder http --json`: the key tree of every kind of document the command writes, pinned
by goldens captured before issue 14's rewrite (tests/schema.py; NETLADDER_GOLDEN=write).

The cases cover each optional part: a plain HEAD, a GET over TLS with its content and lint
findings, a redirect chain, HTTP/2, a failure with its phase, an SLO violation, a lint
comparison that could not be made, and the partial document of Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netladder.lab import Lab, Link, Node, Service, Topology
from schema import check_golden
from test_http import NAME, ROUTES, SERVER, make_certs, tls_service

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
RESOLVE = f"--resolve={NAME}:443:{SERVER}"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    make_certs(directory)
    return directory


@pytest.fixture(scope="module")
def lab(lab_ok: None, certs: Path) -> Iterator[Lab]:
    topo = Topology(
        "schemah",
        (Node("client"), Node("server")),
        (Link("client", "server", "198.51.100.16/30", "2001:db8:77::/64", relay=True),),
        services=(
            Service("server", "http", 80, {"routes": ROUTES}),
            Service("server", "http-hostile", 81),
            tls_service(443, "valid", certs),
        ),
    )
    with Lab(topo, name="schemah") as up:
        yield up


def document(lab: Lab, *args: str) -> dict[str, Any]:
    result = lab.netladder("client", "http", "--json", *args, timeout=30)
    assert "Traceback" not in result.stderr, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_a_plain_head(lab: Lab) -> None:
    doc = document(lab, f"http://{SERVER}/ok")
    assert doc["ok"] is True and doc["hops"][0]["tls"] is None
    check_golden(doc, GOLDEN / "http-head.json")


def test_a_get_over_tls_with_content_and_findings(lab: Lab, certs: Path) -> None:
    doc = document(
        lab, "--get", "--body", "--cacert", str(certs / "ca.pem"), RESOLVE, f"https://{NAME}/r405"
    )
    assert doc["hops"][0]["tls"]["verified"] is True and doc["findings"]
    check_golden(doc, GOLDEN / "http-tls-get-lint.json")


def test_a_redirect_chain(lab: Lab) -> None:
    doc = document(lab, "-L", f"http://{SERVER}/loop/a")
    assert doc["error"]["phase"] == "redirect" and len(doc["hops"]) == 2
    check_golden(doc, GOLDEN / "http-redirect-loop.json")


def test_http2(lab: Lab, certs: Path) -> None:
    doc = document(
        lab, "--http2", "--get", "--cacert", str(certs / "ca.pem"), RESOLVE, f"https://{NAME}/ok"
    )
    assert doc["hops"][0]["http_version"] == "HTTP/2"
    check_golden(doc, GOLDEN / "http-h2.json")


def test_a_failure(lab: Lab) -> None:
    doc = document(lab, "--timeout", "1", f"http://{SERVER}:81/silent")
    assert doc["error"]["phase"] == "timeout" and doc["status"] is None
    check_golden(doc, GOLDEN / "http-failure.json")


def test_an_slo_violation(lab: Lab) -> None:
    doc = document(lab, "--slo", "server=1,total=5000", f"http://{SERVER}/delay/50")
    assert doc["slo_violations"]
    check_golden(doc, GOLDEN / "http-slo.json")


def test_a_lint_comparison_that_could_not_be_made(lab: Lab) -> None:
    doc = document(lab, "--lint", "--timeout", "1", f"http://{SERVER}/slow-get")
    assert doc["lint_unchecked"] is not None
    check_golden(doc, GOLDEN / "http-lint-unchecked.json")


def interrupted_document(lab: Lab, argv: list[str], port: int) -> dict[str, Any]:
    """Run `netladder ARGV` in the client, Ctrl-C it once its connection to `port` is up (a
    server that never answers), and return the document it printed (exit 130)."""
    proc = lab.popen(
        "client",
        [sys.executable, "-m", "netladder", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ss = lab.exec("client", ["ss", "-Htn", "state", "established", "dport", f"= :{port}"])
            if ss.stdout.strip():
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # `ip netns exec` execs the command: this is netladder
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_the_partial_document_of_ctrl_c(lab: Lab) -> None:
    # The second hop's connection to the silent server: the first hop is done.
    doc = interrupted_document(
        lab, ["http", "--json", "-L", f"http://{SERVER}/redirect-to-silence"], 81
    )
    assert doc["interrupted"] is True and len(doc["hops"]) == 1
    check_golden(doc, GOLDEN / "http-interrupted.json")
