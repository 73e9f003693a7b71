"""What "the JSON schema must not change" means, as data: the key tree of a document.

    from schema import shape, check_golden
    check_golden(doc, GOLDEN / "ping-one-reply.json")

`shape(doc)` keeps every object's keys in order and replaces each value by its JSON type
("string", "integer", "number", "boolean", "null"); a list becomes a list of the one shape its
items merge into (the keys of all its objects, in first-seen order; "integer|null" where the
items differ).  `check_golden` compares that with a golden file captured from the code before
a change — order included — and writes the golden instead when NETLADDER_GOLDEN=write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["check_golden", "same_shape", "shape"]


def shape(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {key: shape(value) for key, value in doc.items()}
    if isinstance(doc, list):
        merged: Any = None
        for item in doc:
            merged = _merge(merged, shape(item))
        return [] if merged is None else [merged]
    if doc is None:
        return "null"
    if isinstance(doc, bool):
        return "boolean"
    if isinstance(doc, int):
        return "integer"
    if isinstance(doc, float):
        return "number"
    if isinstance(doc, str):
        return "string"
    raise TypeError(f"not a JSON value: {doc!r}")


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for key, value in b.items():
            out[key] = _merge(out[key], value) if key in out else value
        return out
    if isinstance(a, list) and isinstance(b, list):
        if not a or not b:
            return a or b
        return [_merge(a[0], b[0])]
    if a == b:
        return a
    kinds = set(str(a).split("|")) | set(str(b).split("|"))
    if all(isinstance(x, str) for x in (a, b)):
        return "|".join(sorted(kinds))
    return f"{json.dumps(a)}|{json.dumps(b)}"


def same_shape(a: Any, b: Any) -> bool:
    """Whether two shapes are equal, the order of every object's keys included.  A value that
    is null on one side matches any value on the other (a nullable field: a golden captured on
    one run must not pin whether, say, the neighbour table had an entry at that moment), and an
    empty list matches any list (nothing to say of its items)."""
    if a == "null" or b == "null":
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_shape(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return not a or not b or same_shape(a[0], b[0])
    if isinstance(a, str) and isinstance(b, str):
        kinds_a, kinds_b = set(a.split("|")), set(b.split("|"))
        if "null" in kinds_a or "null" in kinds_b:
            return bool((kinds_a - {"null"}) & (kinds_b - {"null"})) or not (
                kinds_a - {"null"} and kinds_b - {"null"}
            )
        return kinds_a == kinds_b
    return False


def check_golden(doc: Any, golden: Path) -> None:
    got = shape(doc)
    if os.environ.get("NETLADDER_GOLDEN") == "write":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(got, indent=2) + "\n")
        return
    want = json.loads(golden.read_text())
    assert same_shape(got, want), (
        f"the JSON shape differs from {golden.name}:\n"
        f"got:  {json.dumps(got)}\nwant: {json.dumps(want)}"
    )
