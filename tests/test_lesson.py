"""`netladder lab lesson`: every topic breaks something in the demo lab and its own answer finds
it (--yes fails when the check does not pass); a wrong answer is turned away, in both
languages (issue 16)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from netladder.lab.lesson import TOPICS

pytestmark = pytest.mark.lab


def lesson(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netladder", "lab", "lesson", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("topic", [t.name for t in TOPICS])
def test_each_lesson_finds_what_it_broke(lab_ok: None, topic: str) -> None:
    result = lesson(topic, "--yes")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert result.stdout.count("found it: ") == 1
    assert "not yet" not in result.stdout
    assert "lesson done" in result.stdout


def test_a_wrong_answer_is_turned_away(lab_ok: None) -> None:
    """`route` does not look at L2, and `port` of an open port shows nothing wrong: both are
    turned away with the hint; the right command is then accepted."""
    result = lesson(
        "port", stdin="route 198.51.100.10\nport 198.51.100.10 80\nport 198.51.100.10 22\n"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    out = result.stdout
    assert out.count("not yet: ") == 2
    assert out.index("not yet: ") < out.index("found it: ")
    assert "22/tcp   filtered" in out.split("found it: ")[0]


def test_an_answer_never_found_fails_the_lesson(lab_ok: None) -> None:
    result = lesson("codes", stdin="codes 420\ncodes 503\n")
    assert result.returncode == 1
    assert result.stdout.count("not yet: ") == 2
    assert "the answer: netladder codes 429" in result.stdout
    assert "not found: codes" in result.stdout


def test_the_lesson_speaks_korean(lab_ok: None) -> None:
    result = lesson("codes", "--lang", "ko", stdin="codes 420\ncodes 429\n")
    assert result.returncode == 0, result.stdout[-3000:]
    out = result.stdout
    assert "찾았습니다: " in out and "아직 아닙니다: " in out
    assert "found it" not in out and "not yet" not in out
