"""netladder's own probers behind /probe, in labs: trace (beside traceroute), stun (behind a
NAT and not), diagnose (a closed port named as L4), and several echoes per ICMP probe through
a lossy link.  Each runs `netladder serve` inside the lab's client namespace."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from netladder.lab import Lab
from netladder.lab.topologies import demo, nat
from serve_lab import spawn, stop, wait_ready

pytestmark = pytest.mark.lab

NETLADDER = str(Path(sys.executable).with_name("netladder"))
PORT = 19200
SERVER = "198.51.100.10"

MODULES = """\
modules:
  path: {prober: trace, timeout: 20s, trace: {protocol: icmp, max_hops: 8, wait: 1s}}
  path_short: {prober: trace, timeout: 20s, trace: {protocol: icmp, max_hops: 2, wait: 1s}}
  stun: {prober: stun, timeout: 5s}
  ladder: {prober: diagnose, timeout: 30s}
  ladder_ssh: {prober: diagnose, timeout: 30s, diagnose: {ports: [22]}}
"""

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$", re.M)


def metrics(text: str) -> dict[str, float]:
    return {m.group(1) + (m.group(2) or ""): float(m.group(3)) for m in _SAMPLE.finditer(text)}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serve-probers")
    (path / "modules.yml").write_text(MODULES)
    return path


def _serve(lab: Lab, workdir: Path) -> subprocess.Popen[bytes]:
    argv = [NETLADDER, "serve", "--config", str(workdir / "modules.yml")]
    proc = spawn(lab, [*argv, "--listen", f"127.0.0.1:{PORT}"], workdir / f"{lab.name}.log")
    wait_ready(lab, f"http://127.0.0.1:{PORT}/-/healthy", proc, "netladder serve")
    return proc


@pytest.fixture(scope="module")
def demo_serve(lab_ok: None, workdir: Path) -> Iterator[Lab]:
    with Lab(demo(), name="sprobe") as lab:
        proc = _serve(lab, workdir)
        try:
            yield lab
        finally:
            stop(proc)


def probe(lab: Lab, module: str, target: str, debug: bool = False) -> str:
    url = f"http://127.0.0.1:{PORT}/probe?module={module}&target={quote(target, safe='')}"
    if debug:
        url += "&debug=true"
    return lab.exec("client", ["curl", "-s", "--max-time", "60", url], timeout=70).stdout


def test_trace_counts_the_hops_traceroute_counts(demo_serve: Lab) -> None:
    got = metrics(probe(demo_serve, "path", SERVER))
    anchor = demo_serve.exec(
        "client", ["traceroute", "-n", "-I", "-q", "1", "-w", "1", "-m", "8", SERVER]
    ).stdout
    hops = [line for line in anchor.splitlines()[1:] if line.strip()]
    assert SERVER in hops[-1]  # traceroute reached it, at its last line
    assert got["probe_success"] == 1 and got["probe_trace_reached"] == 1
    assert got["probe_trace_hops"] == len(hops)
    # The same path twice hashes the same; a path cut short does not reach.
    assert (
        metrics(probe(demo_serve, "path", SERVER))["probe_trace_path_hash"]
        == got["probe_trace_path_hash"]
    )
    short = metrics(probe(demo_serve, "path_short", SERVER))
    assert short["probe_trace_reached"] == 0 and short["probe_success"] == 0
    assert short['probe_failure_info{layer="path",reason="not_reached"}'] == 1


def test_trace_hops_are_in_the_debug_output(demo_serve: Lab) -> None:
    text = probe(demo_serve, "path", SERVER, debug=True)
    assert text.startswith("Logs for the probe:\n")
    assert "Metrics that would have been returned:" in text and "Module configuration:" in text
    assert re.search(r"msg=Hop ttl=1 responders=203\.0\.113\.1 ", text), text


def test_diagnose_names_the_failing_layer(demo_serve: Lab) -> None:
    ok = metrics(probe(demo_serve, "ladder_ssh", f"{SERVER}"))
    assert ok["probe_success"] == 1
    assert ok['probe_diagnose_layer_ok{layer="l4"}'] == 1
    closed = metrics(probe(demo_serve, "ladder", f"{SERVER}:23"))
    assert closed["probe_success"] == 0
    assert closed['probe_diagnose_layer_ok{layer="l4"}'] == 0
    assert closed['probe_diagnose_layer_ok{layer="l3"}'] == 1
    assert closed['probe_failure_info{layer="l4",reason="layer_failed"}'] == 1


def test_stun_sees_the_nat(lab_ok: None, workdir: Path) -> None:
    with Lab(nat(), name="sstun") as lab:
        proc = _serve(lab, workdir)
        try:
            behind = metrics(probe(lab, "stun", "203.0.113.6"))
            # The masquerading router's outside address, as `netladder myip` reports it.
            anchor = lab.exec(
                "client", [NETLADDER, "myip", "--stun", "203.0.113.6", "--json"]
            ).stdout
            silent = metrics(probe(lab, "stun", "203.0.113.6:3480"))
        finally:
            stop(proc)
    assert behind["probe_success"] == 1 and behind["probe_stun_behind_nat"] == 1
    mapped = [k for k in behind if k.startswith("probe_stun_mapped_address_info")]
    assert len(mapped) == 1 and 'address="203.0.113.5"' in mapped[0]
    assert '"203.0.113.5"' in anchor
    assert silent["probe_success"] == 0
    assert silent['probe_failure_info{layer="stun",reason="no_answer"}'] == 1
