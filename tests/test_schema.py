"""tests/schema.py: the key tree that schema goldens pin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schema import check_golden, same_shape, shape


def test_values_become_their_json_types_and_keys_keep_their_order() -> None:
    doc = json.loads('{"b": 1, "a": 1.5, "c": "x", "d": null, "e": true, "f": {"z": [], "y": 0}}')
    assert shape(doc) == {
        "b": "integer",
        "a": "number",
        "c": "string",
        "d": "null",
        "e": "boolean",
        "f": {"z": [], "y": "integer"},
    }
    reordered = json.loads('{"a": 2.5, "b": 3, "c": "y", "d": null, "e": false, "f": {"y": 1}}')
    assert not same_shape(shape(doc), shape(reordered))


def test_list_items_merge_into_one_shape() -> None:
    doc = [{"seq": 1, "rtt_ms": 0.5}, {"seq": 2, "rtt_ms": None, "error": "timeout"}]
    assert shape(doc) == [{"seq": "integer", "rtt_ms": "null|number", "error": "string"}]
    assert shape([[1], [2.0], []]) == [["integer|number"]]


def test_a_golden_is_written_on_request_and_checked_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    golden = tmp_path / "golden" / "x.json"
    monkeypatch.setenv("NETLADDER_GOLDEN", "write")
    check_golden({"a": 1, "b": [1]}, golden)
    monkeypatch.delenv("NETLADDER_GOLDEN")
    check_golden({"a": 7, "b": [2, 3]}, golden)
    with pytest.raises(AssertionError, match="differs"):
        check_golden({"b": [1], "a": 1}, golden)
    with pytest.raises(AssertionError):
        check_golden({"a": 1.0, "b": [1]}, golden)


def test_null_and_empty_lists_match_what_another_run_fills_in_but_keys_never_do() -> None:
    table = {"mac": "string", "state": "string", "seen": ["string"]}
    empty = {"mac": "null", "state": "null|string", "seen": []}
    assert same_shape(shape({"t": table}), shape({"t": table}))
    assert same_shape({"t": table}, {"t": empty}) and same_shape({"t": empty}, {"t": table})
    assert same_shape({"a": "null|integer"}, {"a": "integer"})
    assert not same_shape({"a": "null|integer"}, {"a": "string"})
    assert not same_shape({"t": table}, {"t": {"mac": "null", "state": "null"}})  # a key gone
    assert not same_shape({"a": "integer"}, {"a": "number"})
    assert not same_shape({"a": {"b": "string"}}, {"a": "string"})
