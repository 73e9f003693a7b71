"""`netladder diagnose` in the demo lab: each classic failure names its layer and cause."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from netladder.diagnose.model import LAYERS
from netladder.diagnose.scenarios import SCENARIOS, Scenario, diagnose_in_lab
from netladder.lab import Lab
from netladder.lab.topologies import demo

BY_NAME = {s.name: s for s in SCENARIOS}


@pytest.fixture(scope="module")
def demo_lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(demo(), name="diag") as lab:
        yield lab


def run(lab: Lab, scenario: Scenario) -> dict[str, object]:
    code, out, err = diagnose_in_lab(lab, scenario, "--json")
    doc: dict[str, object] = json.loads(out.split("\n$ netladder")[0])
    assert code == (0 if scenario.layer is None else 1), (out, err)
    verdict = doc["verdict"]
    assert isinstance(verdict, dict)
    assert verdict["layer"] == scenario.layer, verdict
    for word in scenario.words:
        assert word in json.dumps(doc), (word, verdict)
    return doc


def layer(doc: dict[str, object], name: str) -> dict[str, object]:
    layers = doc["layers"]
    assert isinstance(layers, list)
    found: dict[str, object] = next(r for r in layers if r["layer"] == name)
    return found


def test_wrong_gateway_mac_is_named_as_the_cause(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["wrong_gateway_mac"])
    verdict = doc["verdict"]
    assert isinstance(verdict, dict)
    assert "02:00:5e:00:53:01" in verdict["text"]
    assert demo_lab.mac("r1", "client") in verdict["text"]  # the MAC that really answers
    assert "ip neigh del 203.0.113.1" in str(verdict["next_command"])


def test_icmp_blocked_but_service_fine_passes_with_a_warning(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["icmp_blocked_service_fine"])
    assert layer(doc, "l3")["status"] == "warn"
    assert layer(doc, "l4")["status"] == "pass"
    assert layer(doc, "l7")["status"] == "pass"


def test_port_closed_says_nothing_listens(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["port_closed"])
    assert "198.51.100.10:81 is closed" in json.dumps(doc["verdict"])
    assert layer(doc, "l3")["status"] == "pass"


def test_port_filtered_blames_a_firewall_since_echo_works(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["port_filtered"])
    assert "no response to SYN" in json.dumps(doc["verdict"])


def test_broken_port_forward_shows_as_a_filtered_port(demo_lab: Lab) -> None:
    code, out, _ = diagnose_in_lab(demo_lab, BY_NAME["broken_port_forward"])
    assert code == 1
    assert "203.0.113.6:8022 is filtered" in out
    # The follow-up on r2 names the cause.
    assert "forwarding" in out.split("forward verify")[1]


def test_slow_hop_names_the_link_and_the_added_delay(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["slow_hop"])
    evidence = layer(doc, "path")["evidence"]
    assert isinstance(evidence, dict)
    added = evidence["verdict"]["added_ms"]
    assert 70 <= added <= 160, evidence["verdict"]
    assert evidence["verdict"]["hop"] == 2  # r2, behind the slow r1 - r2 link


def test_lossy_link_names_where_the_loss_starts(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["lossy_link"])
    evidence = layer(doc, "path")["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["verdict"]["kind"] == "loss" and evidence["verdict"]["hop"] == 2


def test_http_503_without_retry_after_is_an_l7_failure(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["http_503_without_retry_after"])
    assert layer(doc, "l4")["status"] == "pass"


def test_unknown_name_stops_at_names(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["unknown_name"])
    assert all(layer(doc, name)["status"] == "skip" for name in LAYERS[1:])


def test_healthy_target_passes_every_layer_in_under_two_seconds(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["healthy"])
    statuses = {name: layer(doc, name)["status"] for name in LAYERS}
    assert statuses == {
        "names": "pass",
        "route": "pass",
        "l2": "pass",
        "l3": "pass",
        "path": "skip",
        "l4": "pass",
        "l7": "pass",
    }
    assert float(doc["elapsed_ms"]) < 2000  # type: ignore[arg-type]


def test_json_schema_is_pinned(demo_lab: Lab) -> None:
    doc = run(demo_lab, BY_NAME["healthy"])
    assert set(doc) == {"target", "address", "ok", "elapsed_ms", "verdict", "layers"}
    verdict = doc["verdict"]
    assert isinstance(verdict, dict)
    assert set(verdict) == {"layer", "text", "next_command"}
    layers = doc["layers"]
    assert isinstance(layers, list)
    assert [r["layer"] for r in layers] == list(LAYERS)
    for rung in layers:
        assert set(rung) == {"layer", "status", "summary", "elapsed_ms", "next_command", "evidence"}
        assert rung["status"] in {"pass", "fail", "warn", "skip"}
        assert isinstance(rung["elapsed_ms"], float)


def test_text_output_names_the_verdict(demo_lab: Lab) -> None:
    result = demo_lab.netladder("client", "diagnose", "www.lab:81")
    assert result.returncode == 1
    assert "verdict: L4: 198.51.100.10:81 is closed" in result.stdout
    assert "next: netladder port 198.51.100.10 81" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["diagnose"],
        ["diagnose", "ftp://x/"],
        ["diagnose", "host:0"],
        ["diagnose", "h", "--port", "x"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(demo_lab: Lab, argv: list[str]) -> None:
    result = demo_lab.netladder("client", *argv)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_unprivileged_diagnose_warns_where_it_cannot_look(demo_lab: Lab) -> None:
    # No CAP_NET_RAW and ping_group_range "1 0": no live ARP, no ICMP; TCP and HTTP still work.
    import sys

    result = demo_lab.exec(
        "client",
        [
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-all",
            sys.executable,
            "-m",
            "netladder",
            "diagnose",
            "http://www.lab/",
            "--json",
        ],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert layer(doc, "l2")["status"] == "warn" and layer(doc, "l3")["status"] == "warn"
    assert layer(doc, "path")["status"] == "skip"  # nothing to trace without a probe socket
    assert layer(doc, "l4")["status"] == "pass" and layer(doc, "l7")["status"] == "pass"
    assert "CAP_NET_RAW" in json.dumps(doc)


def test_ctrl_c_prints_what_was_gathered_and_exits_130(demo_lab: Lab) -> None:
    import signal
    import subprocess
    import sys

    from netladder.lab.faults import DropPort
    from waiting import Counters, restore_sigint, wait_idle, wait_until

    with demo_lab.fault(DropPort("server", 22)):
        counters = Counters(demo_lab, "client")
        proc = demo_lab.popen(
            "client",
            [sys.executable, "-m", "netladder", "diagnose", "www.lab:22"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=restore_sigint,
        )
        # Names and route are done once the L3 rung has its first echo reply; the filtered
        # port will still be probed after it.
        wait_until("an echo reply", counters.grown(proc.pid, Icmp__InEchoReps=1))
        wait_idle(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "www.lab is" in out and "interrupted" in out
    assert "Traceback" not in err
