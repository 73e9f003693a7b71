"""`netladder diagnose TARGET --via URL,…`: agents asked at once, their answers compared — the
sentences (from fabricated answers), and in the lab two real agents that see the same target
differently, plus one that cannot be reached and is not counted as a vantage point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from netladder.diagnose.model import AgentProblem, Answer, Reached, Unreached, ViaReport
from netladder.diagnose.via import parse_agents
from netladder.errors import UsageError
from netladder.l7.model import Failure
from netladder.lab import Lab
from netladder.render.diagnose import via_lines, via_summary
from serve_lab import spawn, stop, wait_ready

NETLADDER = str(Path(sys.executable).with_name("netladder"))


def _a(name: str, ok: bool | None, layer: str | None = None) -> Answer:
    if ok is None:
        refused = Failure(
            "connect",
            "connect",
            111,
            (
                ("address", "198.51.100.9"),
                ("port", 80),
                ("reason", "Connection refused"),
                ("name", "ECONNREFUSED"),
            ),
        )
        problem = AgentProblem("failed", failure=refused)  # the HTTP check's, said by render.http
        return Unreached(f"http://{name}/", name, problem)
    return Reached(f"http://{name}/", name, {"ok": ok, "verdict": {"layer": layer, "text": ""}})


@pytest.mark.parametrize(
    ("answers", "sentence"),
    [
        (
            [_a("A", False, "l4"), _a("B", False, "l3"), _a("C", True)],
            "fails from A and B, passes from C: the target answers C, so the fault is on "
            "A's and B's side of the path",
        ),
        (
            [_a("A", False, "l4"), _a("B", False, "l4")],
            "fails from A and B (all at L4): the fault is at the target or on the path they share",
        ),
        ([_a("A", True), _a("B", True)], "passes from A and B"),
        (
            [_a("A", True), _a("B", None)],
            "passes from A; not asked (no answer, not counted as a vantage point): B: connect to "
            "198.51.100.9 port 80 failed: Connection refused (ECONNREFUSED)",
        ),
        (
            [_a("B", None)],
            "no agent could be asked: B: connect to 198.51.100.9 port 80 failed: Connection "
            "refused (ECONNREFUSED)",
        ),
    ],
)
def test_the_comparison_says_only_what_the_answers_show(
    answers: list[Answer], sentence: str
) -> None:
    assert via_summary(answers) == sentence


def test_what_an_agent_says_is_escaped_on_the_terminal() -> None:
    verdict = {"layer": "l4", "text": "L4: closed\x1b[2J\x1b]0;pwned\x07"}
    answers = (
        Reached("http://a/", "a", {"ok": False, "verdict": verdict}),
        Unreached("http://b/", "b", AgentProblem("status", "busy\x1b[31m", 503)),
    )
    out = "\n".join(via_lines(ViaReport("t", answers)))
    assert "\x1b" not in out and "\x07" not in out
    assert "L4: closed\\x1b[2J\\x1b]0;pwned\\x07" in out
    assert "answered 503: busy\\x1b[31m" in out


@pytest.mark.parametrize("bad", ["", "ftp://x/", "http://a/?q=1", "http://a/,http://a/"])
def test_a_bad_agent_list_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_agents(bad)


@pytest.mark.lab
def test_agents_at_two_vantage_points_locate_the_fault(chain_lab: Lab, tmp_path: Path) -> None:
    """127.0.0.1:9300 listens on the server only: from the server's agent the target answers;
    from the client's it is closed. A third agent URL has nothing behind it."""
    procs = [
        spawn(chain_lab, [NETLADDER, "serve", "--listen", "127.0.0.1:9201"], tmp_path / "a.log"),
        spawn(
            chain_lab,
            [NETLADDER, "serve", "--listen", "198.51.100.10:9201"],
            tmp_path / "c.log",
            node="server",
        ),
        spawn(
            chain_lab,
            [NETLADDER, "serve", "--listen", "127.0.0.1:9300"],
            tmp_path / "t.log",
            node="server",
        ),
    ]
    try:
        wait_ready(chain_lab, "http://127.0.0.1:9201/-/healthy", procs[0], "agent A")
        wait_ready(chain_lab, "http://198.51.100.10:9201/-/healthy", procs[1], "agent C")
        via = "http://127.0.0.1:9201,http://198.51.100.10:9201,http://127.0.0.1:9299"
        done = chain_lab.exec(
            "client",
            [NETLADDER, "diagnose", "127.0.0.1:9300", "--via", via, "--json"],
            check=False,
        )
    finally:
        for proc in procs:
            stop(proc)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    agents = {a["name"]: a for a in doc["agents"]}
    a, c, gone = agents["127.0.0.1:9201"], agents["198.51.100.10:9201"], agents["127.0.0.1:9299"]
    assert (a["reached"], a["ok"], a["layer"]) == (True, False, "l4")
    assert (c["reached"], c["ok"]) == (True, True)
    assert gone["reached"] is False and gone["ok"] is None and "refused" in gone["error"].lower()
    assert doc["summary"].startswith(
        "fails from 127.0.0.1:9201, passes from 198.51.100.10:9201: the target answers "
        "198.51.100.10:9201, so the fault is on 127.0.0.1:9201's side of the path; not asked"
    )
