"""`--explain` and `--lang ko` on the checks of issue 16's final pass — trace, port, sockets —
in the demo lab: the whole human output in English and in Korean against goldens in
tests/golden/explain/ (times masked, as tests/test_diagnose_explain.py masks them), and
`--lang ko` leaving `--json` as it is.  `NETLADDER_GOLDEN=write` rewrites the goldens.

The faults are ones whose result does not depend on the machine's load: a port that a
firewall drops (port: filtered beside an open and a closed port; trace: silence from the
server's hop on, the last answering hop named).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from netladder.lab import Lab
from netladder.lab.faults import BlockEcho, DropPort
from netladder.lab.topologies import demo
from netladder.render.explain import EXPLAIN, LAYERS
from test_diagnose_explain import GOLDEN, check_golden
from test_diagnose_explain import masked as masked_diagnose

pytestmark = pytest.mark.lab

SERVER = "198.51.100.10"
# Port 80: the server's HTTP (open); 81: nothing listens (closed); 22: dropped (filtered).
PORT_ARGS = ("port", SERVER, "22,80,81", "--syn")
# A TCP trace to the dropped port: hops 1 and 2 (r1, r2) answer time exceeded, the server's
# SYNs vanish.  -m 4 keeps the silent tail short; -w 1 is the TCP wait's own upper bound.
TRACE_ARGS = ("trace", SERVER, "--proto", "tcp", "-p", "22", "-m", "4", "-w", "1")
# ping to the server (r2 is 198.51.100.9, on the server's link): replies, then silence when the
# server drops ICMP echo; a sweep of both while it does: r2 alive, the server silent.
PING_ARGS = ("ping", "-c", "2", "-i", "0.2", "-W", "1", SERVER)
SWEEP_ARGS = ("sweep", "198.51.100.9", SERVER, "--retries", "1", "--timeout", "100")


@pytest.fixture(scope="module")
def demo_lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(demo(), name="explain2") as lab, lab.fault(DropPort("server", 22)):
        yield lab


def masked(text: str) -> str:
    """diagnose's masks, port's try count in Korean ("[2번째 시도]", "[try 2]" in English) and
    its scan time in seconds."""
    text = re.sub(r"\[\d+번째 시도\]", "[<n>번째 시도]", masked_diagnose(text))
    # A scan that took a second or more says it in seconds: a loaded machine, not the result.
    return re.sub(r"(in <n>|<n>) ?(?:s|초)(?= \(| 걸림)", r"\1 ms", text)


def run(lab: Lab, *args: str, code: int, node: str = "client") -> str:
    result = lab.netladder(node, *args, timeout=60)
    assert result.returncode == code, result.stdout + result.stderr
    return result.stdout + result.stderr


# (command, its arguments, exit code, the entries its --explain says, in order)
GOLDENS = (
    # One paragraph per state found, after the result: open, closed, filtered.
    ("port", PORT_ARGS, 0, ("l4.open", "l4.closed", "l4.filtered")),
    ("trace", TRACE_ARGS, 1, ("path.no-answer",)),
)


@pytest.mark.parametrize(("name", "args", "code", "topics"), GOLDENS, ids=[g[0] for g in GOLDENS])
def test_explains_in_english_and_korean(
    demo_lab: Lab, name: str, args: tuple[str, ...], code: int, topics: tuple[str, ...]
) -> None:
    english = run(demo_lab, *args, "--explain", "--lang", "en", code=code)
    korean = run(demo_lab, *args, "--explain", "--lang", "ko", code=code)
    said = "".join(f"explain ({LAYERS[t.split('.')[0]]}): {EXPLAIN[t]}\n" for t in topics)
    assert english.endswith("\n\n" + said)
    assert korean.endswith("\n\n" + "".join(_ko_line(t) for t in topics))
    assert "explain (" not in korean and "verdict:" not in korean and " scan of " not in korean
    check_golden(masked(english), GOLDEN / f"{name}.en.txt")
    check_golden(masked(korean), GOLDEN / f"{name}.ko.txt")
    # Without the flag the result is the same, and nothing follows it.
    plain = run(demo_lab, *args, "--lang", "en", code=code)
    assert masked(english).startswith(masked(plain) + "\n")


def test_sockets_explain_what_listens_and_what_does_not(demo_lab: Lab) -> None:
    # The server's DNS listens on port 53.
    listening = run(demo_lab, "sockets", "53", "--explain", "--lang", "ko", code=0, node="server")
    assert listening.endswith("\n\n" + _ko_line("l4.listening"))
    nothing = run(demo_lab, "sockets", "4444", "--explain", code=1, node="server")
    assert "\nnothing listens on port 4444 (" in nothing
    assert nothing.endswith("\n\nexplain (L4: ports): " + EXPLAIN["l4.not-listening"] + "\n")


def test_ping_and_sweep_explain_their_verdicts(demo_lab: Lab) -> None:
    replies = run(demo_lab, *PING_ARGS, "--explain", "--lang", "ko", code=0)
    assert replies.endswith("\n\n" + _ko_line("l3.replies"))
    with demo_lab.fault(BlockEcho("server")):
        silent = run(demo_lab, *PING_ARGS, "--explain", code=1)
        assert silent.endswith(f"\n\nexplain (L3: ICMP): {EXPLAIN['l3.silent']}\n")
        result = demo_lab.netladder("client", *SWEEP_ARGS, "--explain", "--lang", "ko", timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    # fping's lines stay fping's (not translated); the explanation follows them on stdout.
    assert result.stdout.startswith(f"198.51.100.9 is alive\n{SERVER} is unreachable\n\n")
    assert result.stdout.endswith(_ko_line("l3.sweep-alive") + _ko_line("l3.silent"))


def _ko_line(topic: str) -> str:
    """An entry's line in Korean, read from the compiled catalog with the stdlib's gettext."""
    import gettext
    from pathlib import Path

    import netladder

    locale = Path(netladder.__file__).parent / "locale"
    ko = gettext.translation("netladder", locale, ["ko"]).gettext
    layer = LAYERS[topic.split(".")[0]]
    return ko("explain ({layer}): {text}").format(layer=ko(layer), text=ko(EXPLAIN[topic])) + "\n"


def _numbers_masked(value: Any) -> Any:
    """A document with every number (and every figure inside a sentence) masked: what chance
    and timing decide, not what the language could change."""
    if isinstance(value, dict):
        return {k: _numbers_masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_masked(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return 0
    if isinstance(value, str) and not re.fullmatch(r"[\d.:]+", value):
        return re.sub(r"\d+(?:\.\d+)?", "<n>", value)
    return value


@pytest.mark.parametrize(
    ("node", "args", "code"),
    [
        ("client", PORT_ARGS, 0),
        ("client", TRACE_ARGS, 1),
        ("server", ("sockets", "53"), 0),
        ("client", PING_ARGS, 0),
        ("client", SWEEP_ARGS, 0),
    ],
    ids=["port", "trace", "sockets", "ping", "sweep"],
)
def test_korean_leaves_json_as_it_is(
    demo_lab: Lab, node: str, args: tuple[str, ...], code: int
) -> None:
    docs = {}
    for language in ("en", "ko"):
        result = demo_lab.netladder(node, *args, "--json", "--lang", language, timeout=60)
        assert result.returncode == code, result.stdout + result.stderr
        docs[language] = json.loads(result.stdout)
    assert "explain" not in docs["en"]
    # Keys, enum values and the sentences JSON carries are English in both.
    assert _numbers_masked(docs["ko"]) == _numbers_masked(docs["en"])
    result = demo_lab.netladder(node, *args, "--json", "--explain", "--lang", "ko", timeout=60)
    doc = json.loads(result.stdout)
    assert list(doc)[:-1] == list(docs["en"]) and list(doc)[-1] == "explain"
    for entry in doc["explain"]:
        assert entry["text"] == EXPLAIN[entry["topic"]]
