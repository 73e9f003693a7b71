"""`netladder diagnose --explain` in English and Korean, for every classic failure of the demo
lab (lab/scenarios.py): the whole human output, word for word, against goldens in
tests/golden/explain/ (issue 16).  Times, RTTs, counts that depend on chance, MACs and a
passing L2 rung's table state are masked; everything else — the rungs' sentences, the
verdict, the next command and the explanation keyed by the finding — is pinned.
`NETLADDER_GOLDEN=write` rewrites them.

`--json --explain` adds an `explain` field, in English whatever the language, and nothing else
changes: the document without it is the one `--json` prints.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from netladder.lab import Lab
from netladder.lab.scenarios import SCENARIOS, Scenario, diagnose_in_lab
from netladder.lab.topologies import demo
from netladder.render.explain import EXPLAIN

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden" / "explain"
BY_NAME = {s.name: s for s in SCENARIOS}

_MASKS = (
    # A passing L2 rung says what the neighbour table holds at that moment (REACHABLE, STALE, no
    # entry yet): the kernel's timers decide, and tests/test_neigh.py pins those sentences.
    (re.compile(r"^(  L2 +pass  ).*$", re.M), r"\1<the next hop's MAC is the one that answers>"),
    # a rung's own time at the end of its line (printed only from 1 ms on)
    (re.compile(r"  \d+ ms$", re.M), ""),
    # A next hop that does not answer: its entry is INCOMPLETE while the kernel asks, FAILED after.
    (re.compile(r"\((?:INCOMPLETE|FAILED)\)"), "(<unresolved>)"),
    (re.compile(r"(?<![0-9a-fA-F:])[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}(?![0-9a-fA-F:])"), "<mac>"),
    (re.compile(r"(?<![\d.:])\d+\.\d+(?![\d.:])"), "<n>"),  # 0.48 s, 4.8 ms; not 198.51.100.10
    (re.compile(r"(?<![\d.:/])\d+ ms"), "<n> ms"),
    (re.compile(r"(?<![\d./])\d+/\d+(?![\d./])"), "<n>/<n>"),  # 10/10 echo replies
    (re.compile(r"\d+%"), "<n>%"),
    (re.compile(r"(\d+) (probes|requests|echoes)"), r"<n> \2"),
    (re.compile(r"(프로브|요청) \d+개"), r"\1 <n>개"),
    (re.compile(r"\[try \d+\]"), "[try <n>]"),
    (re.compile(r"hit \d+ times|\d+번 적중|hit once|한 번 적중"), "hit <n>"),
)


def masked(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


@pytest.fixture(scope="module")
def demo_lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(demo(), name="explain") as lab:
        yield lab


def check_golden(text: str, path: Path) -> None:
    if os.environ.get("NETLADDER_GOLDEN") == "write":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no golden {path.name}: NETLADDER_GOLDEN=write captures it"
    assert text == path.read_text(), f"{path.name} differs:\n{text}"


def run(lab: Lab, scenario: Scenario, language: str) -> str:
    code, out, err = diagnose_in_lab(lab, scenario, "--explain", "--lang", language)
    assert code == (0 if scenario.layer is None else 1), out + err
    return out + err


# 50 % loss on a link: which rungs see loss, and in how many echoes, is chance (even every echo
# lost, now and then): only the explanations that follow are pinned.
BY_CHANCE = {"lossy_link"}


def explanations(text: str) -> str:
    """The paragraphs --explain adds (after the blank line that ends the result)."""
    return "".join(
        line + "\n" for line in text.splitlines() if line.startswith(("explain (", "설명 ("))
    )


@pytest.mark.parametrize("name", list(BY_NAME))
def test_diagnose_explains_each_classic_failure_in_english_and_korean(
    demo_lab: Lab, name: str
) -> None:
    scenario = BY_NAME[name]
    english = run(demo_lab, scenario, "en")
    korean = run(demo_lab, scenario, "ko")
    # The explanation follows the result, once per finding, and says the concept in words.
    assert "\n\nexplain (" in english
    assert "\n\n설명 (" in korean
    assert "explain (" not in korean and "verdict:" not in korean
    if name in BY_CHANCE:
        english, korean = explanations(english), explanations(korean)
    check_golden(masked(english), GOLDEN / f"diagnose-{name}.en.txt")
    check_golden(masked(korean), GOLDEN / f"diagnose-{name}.ko.txt")


def test_json_carries_the_explanation_in_english_whatever_the_language(demo_lab: Lab) -> None:
    scenario = BY_NAME["port_filtered"]
    docs = {}
    for language in ("en", "ko"):
        _code, out, _err = diagnose_in_lab(
            demo_lab, scenario, "--json", "--explain", "--lang", language
        )
        docs[language] = json.loads(out)
    for doc in docs.values():
        assert doc["explain"] == [
            {"topic": "l4.filtered", "layer": "l4", "text": EXPLAIN["l4.filtered"]}
        ]
        assert doc["verdict"]["layer"] == "l4"
    # The sentences JSON carries are English in both: only timings may differ between runs.
    assert docs["ko"]["verdict"]["text"] == docs["en"]["verdict"]["text"]
    assert (
        list(docs["ko"])
        == list(docs["en"])
        == [
            "target",
            "address",
            "ok",
            "elapsed_ms",
            "verdict",
            "layers",
            "explain",
        ]
    )
    _code, out, _err = diagnose_in_lab(demo_lab, scenario, "--json")
    assert "explain" not in json.loads(out)
