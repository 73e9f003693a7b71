"""A command's one output: its JSON document or its lines, and with --explain the concepts
behind what it found (render/explain.py, imported only then: cold start)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["report"]


def report(
    result: Any,
    lines: Callable[[], Iterable[str]],
    *,
    as_json: bool,
    sentence: Callable[[Any], Any] | None = None,
    explain: Callable[[Any], Iterable[str]] | None = None,
) -> None:
    """`--json` prints the document (with an `explain` field when asked), else `lines()` and
    the explanations after them.  `explain(concepts)` names the entries of the catalog module
    it is given (`lambda c: c.keys_resolution(result)`)."""
    from netladder.output import emit_json

    keys: list[str] | None = None
    if explain is not None:
        from netladder.render import explain as concepts

        keys = list(explain(concepts))
    if as_json:
        if keys is None:
            emit_json(result, sentence=sentence)
        else:
            concepts.emit_json(result, keys, sentence)
        return
    for line in lines():
        print(line)
    if keys:
        concepts.say(keys)
