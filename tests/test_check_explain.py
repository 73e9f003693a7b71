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
from netladder.lab.faults import DropPort
from netladder.lab.topologies import demo
from netladder.render.explain import EXPLAIN
from test_diagnose_explain import GOLDEN, check_golden
from test_diagnose_explain import masked as masked_diagnose

pytestmark = pytest.mark.lab

SERVER = "198.51.100.10"
# Port 80: the server's HTTP (open); 81: nothing listens (closed); 22: dropped (filtered).
PORT_ARGS = ("port", SERVER, "22,80,81", "--syn")
# A TCP trace to the dropped port: hops 1 and 2 (r1, r2) answer time exceeded, the server's
# SYNs vanish.  -m 4 keeps the silent tail short; -w 1 is the TCP wait's own upper bound.
TRACE_ARGS = ("trace", SERVER, "--proto", "tcp", "-p", "22", "-m", "4", "-w", "1")


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


def test_port_explains_each_state_in_english_and_korean(demo_lab: Lab) -> None:
    english = run(demo_lab, *PORT_ARGS, "--explain", "--lang", "en", code=0)
    korean = run(demo_lab, *PORT_ARGS, "--explain", "--lang", "ko", code=0)
    # One paragraph per state found, after the result: open, closed, filtered.
    assert english.count("\nexplain (L4: ports): ") == 3
    assert korean.count("\n설명 (L4: 포트): ") == 3
    assert "explain (" not in korean and " scan of " not in korean
    check_golden(masked(english), GOLDEN / "port.en.txt")
    check_golden(masked(korean), GOLDEN / "port.ko.txt")
    # Without the flag the result is the same, and nothing follows it.
    plain = run(demo_lab, *PORT_ARGS, "--lang", "en", code=0)
    assert masked(english).startswith(masked(plain) + "\n")


def test_trace_explains_the_silence_in_english_and_korean(demo_lab: Lab) -> None:
    english = run(demo_lab, *TRACE_ARGS, "--explain", "--lang", "en", code=1)
    korean = run(demo_lab, *TRACE_ARGS, "--explain", "--lang", "ko", code=1)
    assert english.endswith("\n\nexplain (the path): " + EXPLAIN["path.no-answer"] + "\n")
    assert "\n\n설명 (경로): " in korean
    assert "explain (" not in korean and "verdict:" not in korean
    check_golden(masked(english), GOLDEN / "trace.en.txt")
    check_golden(masked(korean), GOLDEN / "trace.ko.txt")
    plain = run(demo_lab, *TRACE_ARGS, "--lang", "en", code=1)
    assert masked(english).startswith(masked(plain) + "\n")


def test_sockets_explain_what_listens_and_what_does_not(demo_lab: Lab) -> None:
    # The server's DNS listens on port 53.
    listening = run(demo_lab, "sockets", "53", "--explain", "--lang", "ko", code=0, node="server")
    assert listening.endswith("\n\n설명 (L4: 포트): " + _ko("l4.listening") + "\n")
    nothing = run(demo_lab, "sockets", "4444", "--explain", code=1, node="server")
    assert "\nnothing listens on port 4444 (" in nothing
    assert nothing.endswith("\n\nexplain (L4: ports): " + EXPLAIN["l4.not-listening"] + "\n")


def _ko(key: str) -> str:
    import gettext
    from pathlib import Path

    import netladder

    locale = Path(netladder.__file__).parent / "locale"
    return gettext.translation("netladder", locale, ["ko"]).gettext(EXPLAIN[key])


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
    ],
    ids=["port", "trace", "sockets"],
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
