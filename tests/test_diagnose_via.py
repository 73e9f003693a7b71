"""`netladder diagnose TARGET --via URL,…`: agents asked at once, their answers compared — the
sentences (from fabricated answers), and in the lab two real agents that see the same target
differently, plus one that cannot be reached and is not counted as a vantage point."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
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


def test_credentials_in_an_agent_url_are_read_as_curl_reads_them_and_never_shown() -> None:
    (agent, bare) = parse_agents("http://ops%40dc1:p%3Ass%2Cw@127.0.0.1:9115/x/, http://[::1]:9115")
    assert agent.url == "http://127.0.0.1:9115/x/"  # what is asked: no credentials in it
    assert agent.shown == "http://ops%40dc1@127.0.0.1:9115/x/"  # what is printed: no password
    assert agent.name == "127.0.0.1:9115/x"
    assert agent.credentials == ("ops@dc1", "p:ss,w")
    assert agent.authorization() == "Basic " + base64.b64encode(b"ops@dc1:p:ss,w").decode()
    assert (bare.url, bare.name, bare.credentials) == ("http://[::1]:9115", "[::1]:9115", None)
    # A username alone is sent with an empty password, as curl sends it.
    (user_only,) = parse_agents("http://ops@127.0.0.1:9115")
    assert user_only.credentials == ("ops", "")
    # A URL refused as bad input is named without anything before its last '@' (a password
    # with an unencoded '/', '?' or '#' cannot be told from the host).
    for bad, shown in (
        ("ftp://ops:hunter2@x/", "ftp://…@x/"),
        ("http://ops:hunter2@x/?q", "http://…@x/?q"),
        ("http://ops:hunter2@[::1/", "http://…@[::1/"),
        ("http://ops:99/hunter2@x", "http://…@x"),  # "/" in the password: port 99, then "@"
        ("http://ops:hunt?er2@x", "http://…@x"),
        ("http://ops:huntx/er2@x", "http://…@x"),  # its port cannot be read
    ):
        with pytest.raises(UsageError) as caught:
            parse_agents(bad)
        assert "hunt" not in str(caught.value) and repr(shown) in str(caught.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(argv: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [NETLADDER, "serve", *argv, "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            assert time.monotonic() < deadline, f"serve did not listen: {log.read_text()}"
            time.sleep(0.05)


def test_an_agent_behind_basic_auth_is_asked_with_the_urls_credentials(tmp_path: Path) -> None:
    """Two agents on loopback, one behind basic auth: with the right credentials both compare
    as usual; with none or wrong ones the guarded agent is not asked, and says why, exactly as
    an agent that cannot be reached is treated (the exit code the same), the password never
    printed."""
    (tmp_path / "pw").write_text("s3cret\n")
    config = tmp_path / "serve.yml"
    config.write_text(f"basic_auth: {{username: prom, password_file: {tmp_path / 'pw'}}}\n")
    guarded, open_, closed = _free_port(), _free_port(), _free_port()
    procs = [
        _serve(["--config", str(config)], guarded, tmp_path / "guarded.log"),
        _serve([], open_, tmp_path / "open.log"),
    ]
    target = f"127.0.0.1:{open_}"  # a port that answers, from either agent

    def diagnose(via: str, *more: str) -> tuple[int, str]:
        done = subprocess.run(
            [NETLADDER, "diagnose", target, "--via", via, *more],
            capture_output=True,
            text=True,
            timeout=120,
        )
        out = done.stdout + done.stderr
        assert "s3cret" not in out and "guess" not in out, out
        return done.returncode, done.stdout

    try:
        code, out = diagnose(f"http://prom:s3cret@127.0.0.1:{guarded},http://127.0.0.1:{open_}")
        assert code == 0, out
        assert out.splitlines()[-1] == (
            f"verdict: passes from 127.0.0.1:{guarded} and 127.0.0.1:{open_}"
        )
        code, out = diagnose(f"http://prom:s3cret@127.0.0.1:{guarded}", "--json")
        doc = json.loads(out)
        (agent,) = doc["agents"]
        assert code == 0 and (agent["reached"], agent["ok"]) == (True, True)
        assert agent["url"] == f"http://prom@127.0.0.1:{guarded}"

        answers = {}
        for how, via in (
            ("none", f"http://127.0.0.1:{guarded}"),
            ("wrong", f"http://prom:guess@127.0.0.1:{guarded}"),
            ("unreachable", f"http://127.0.0.1:{closed}"),
        ):
            code, out = diagnose(via, "--json")
            doc = json.loads(out)
            (agent,) = doc["agents"]
            assert (agent["reached"], agent["ok"]) == (False, None)
            answers[how] = (code, agent["error"], doc["summary"])
        assert answers["none"][0] == answers["wrong"][0] == answers["unreachable"][0] == 1
        assert answers["none"][1] == (
            "the agent asks for credentials (give them in the URL: http://user:password@host:port)"
        )
        assert answers["wrong"][1] == "credentials refused (the agent answered 401)"
        assert answers["wrong"][2] == (
            f"no agent could be asked: 127.0.0.1:{guarded}: credentials refused (the agent "
            "answered 401)"
        )
        # Beside an agent that answers, the refused one is named and not counted, as an
        # unreachable one is.
        code, out = diagnose(f"http://prom:guess@127.0.0.1:{guarded},http://127.0.0.1:{open_}")
        assert code == 0, out
        assert out.splitlines()[-1] == (
            f"verdict: passes from 127.0.0.1:{open_}; not asked (no answer, not counted as a "
            f"vantage point): 127.0.0.1:{guarded}: credentials refused (the agent answered 401)"
        )
        assert f"127.0.0.1:{guarded}  not asked  credentials refused" in out
    finally:
        for proc in procs:
            stop(proc)
