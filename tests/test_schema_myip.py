"""`netladder myip --json`: the key tree of its documents, pinned by goldens captured before
issue 14's rewrite (tests/schema.py; NETLADDER_GOLDEN=write): every source answering, some
failing, none answering, and the partial document of Ctrl-C."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netladder.lab import Lab
from netladder.lab.topologies import nat
from schema import check_golden
from test_schema_http import interrupted_document

pytestmark = pytest.mark.lab

GOLDEN = Path(__file__).parent / "golden"
PUB = "203.0.113.6"


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(nat(), name="schemam") as built:
        yield built


def document(lab: Lab, *args: str) -> dict[str, Any]:
    result = lab.netladder("client", "myip", "--json", *args, timeout=30)
    assert "Traceback" not in result.stderr, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_every_source_answers(lab: Lab) -> None:
    doc = document(lab, "--http", f"http://{PUB}/", "--stun", PUB)
    assert doc["agree"] is True and doc["notes"]
    check_golden(doc, GOLDEN / "myip-ok.json")


def test_some_sources_fail(lab: Lab) -> None:
    doc = document(
        lab,
        "--http",
        f"http://{PUB}/garbage",
        "--http",
        f"http://{lab.addr('nat')}:8080/",
        "--stun",
        PUB,
        "--stun",
        f"{PUB}:3480",
        "--timeout",
        "1",
    )
    assert doc["agree"] is False and not all(s["ok"] for s in doc["sources"])
    check_golden(doc, GOLDEN / "myip-mixed.json")


def test_no_source_answers(lab: Lab) -> None:
    doc = document(lab, "--stun", f"{PUB}:3480", "--timeout", "0.5")
    assert doc["public"] == [] and doc["behind_nat"] is None
    check_golden(doc, GOLDEN / "myip-none.json")


def test_the_partial_document_of_ctrl_c(lab: Lab) -> None:
    # The slow echo's connection is up (it answers after 30 s); the STUN server is silent.
    argv = ["myip", "--json", "--http", f"http://{PUB}/slow", "--stun", f"{PUB}:3480"]
    doc = interrupted_document(lab, [*argv, "--timeout", "20"], 80)
    assert doc["public"] == [] and "interrupted after" in doc["sources"][0]["error"]
    check_golden(doc, GOLDEN / "myip-interrupted.json")
