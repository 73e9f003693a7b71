"""Renderers: every human-facing sentence netladder prints, made from typed results.

One module per command (`render/<command>.py`, owned by the area that owns the command).  A
render module exports `lines(result, …) -> Iterator[str]` (or a per-event `event_line`) and
`sentence(obj) -> str` for every record with `__json_text__` (the JSON sentence, rendered in
English by `output.to_jsonable`).  Templates are tables of `N_("…{name}…")` with named
placeholders, translated with `_()` when rendered.  Nothing here touches a socket or argparse;
engines never import this package (make lint's import contracts).
"""
