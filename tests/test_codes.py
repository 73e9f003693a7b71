"""The status-code guide: the table in REFERENCE.md, neighbours' advice, and the command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from netladder.l7 import codes


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netladder", "codes", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_api_table_matches_reference_md() -> None:
    assert codes.API_CODES["GitHub"] == (200, 301, 302, 304, 307, 400, 401, 403, 422)
    assert len(codes.API_CODES) == 13
    # "Used by every one: 200, 400."
    assert {c for c in codes.CODES if codes.usage_count(c) == 13} == {200, 400}
    # "By five or more" — REFERENCE.md also lists 405, but its own table has 405 only 4 times.
    assert {c for c in codes.CODES if codes.usage_count(c) >= 5} == {
        200,
        201,
        400,
        401,
        403,
        404,
        429,
        500,
        503,
    }
    assert codes.apis_adding(409) == ["Stripe"]
    assert codes.apis_using(420) == ["Twitter", "Telegram"]


def test_every_code_any_api_uses_is_in_the_table() -> None:
    used = {c for api in codes.API_CODES.values() for c in api}
    assert used <= set(codes.CODES)


@pytest.mark.parametrize(
    ("code", "neighbour"),
    [
        (401, "403"),
        (403, "401"),
        (400, "422"),
        (422, "400"),
        (404, "410"),
        (410, "404"),
        (301, "308"),
        (302, "307"),
        (429, "503"),
        (503, "429"),
    ],
)
def test_confusable_codes_say_when_to_use_the_neighbour(code: int, neighbour: str) -> None:
    assert neighbour in codes.CODES[code].choose


def test_a_code_shows_meaning_section_and_users() -> None:
    result = run_cli("429")
    assert result.returncode == 0
    assert "429 Too Many Requests" in result.stdout
    assert "RFC 6585 §4" in result.stdout
    assert "503" in result.stdout  # when to use the neighbour
    assert "used by 7 of 13" in result.stdout and "Dropbox" in result.stdout


def test_json_for_a_code() -> None:
    doc = json.loads(run_cli("401", "--json").stdout)
    assert doc["name"] == "Unauthorized" and doc["section"] == "RFC 9110 §15.5.2"
    assert "GitHub" in doc["used_by"] and "Etsy" not in doc["used_by"]


def test_without_an_argument_every_code_with_its_usage_count() -> None:
    doc = json.loads(run_cli("--json").stdout)
    counts = {c["code"]: c["used_by_count"] for c in doc["codes"]}
    assert len(counts) == len(codes.CODES)
    assert counts[200] == 13 and counts[418] == 0 and counts[201] == 5
    text = run_cli().stdout
    assert "404" in text and "11/13" in text


def test_a_class_lists_its_codes() -> None:
    out = run_cli("3xx").stdout
    assert "Redirection" in out and "308" in out and "404" not in out


def test_an_unregistered_code_is_named_by_its_class() -> None:
    result = run_cli("299")
    assert result.returncode == 0 and "Successful" in result.stdout


@pytest.mark.parametrize("arg", ["99", "600", "abc", "6xx", "٤٠٤", "４０４"])
def test_bad_input_is_one_line_exit_2(arg: str) -> None:
    result = run_cli(arg)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("arg", ["4xx", "404", "418"])
def test_json_explain_carries_the_class_entry_for_a_class_as_for_a_code(arg: str) -> None:
    """`--json --explain` adds `explain` for a class as for one code (the entry its lines say)
    and as every other command does; without --explain there is none."""
    from netladder.render.explain import EXPLAIN

    doc = json.loads(run_cli(arg, "--json", "--explain").stdout)
    assert doc["explain"] == [
        {"topic": "l7.class-4xx", "layer": "l7", "text": EXPLAIN["l7.class-4xx"]}
    ]
    assert list(doc)[-1] == "explain"
    assert "explain" not in json.loads(run_cli(arg, "--json").stdout)
    lines = run_cli(arg, "--explain").stdout
    assert lines.endswith(f"\n\nexplain (L7: HTTP): {EXPLAIN['l7.class-4xx']}\n")


def test_json_explain_for_the_whole_table_is_an_empty_list() -> None:
    """The table explains no class (its lines say none either), but the field is there."""
    doc = json.loads(run_cli("--json", "--explain").stdout)
    assert doc["explain"] == [] and len(doc["codes"]) == len(codes.CODES)
    assert "explain (" not in run_cli("--explain").stdout
