"""`netladder codes [CODE|CLASS]`: what a status code means, when to use it rather than its
neighbours, and which well-known APIs use it (REFERENCE.md)."""

from __future__ import annotations

import argparse
from typing import Any

from netladder.args import add_json
from netladder.errors import EXIT_OK, UsageError
from netladder.output import emit_json, paint

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "code",
        nargs="?",
        metavar="CODE|CLASS",
        help="a status code (404) or a class (4xx); none: every code",
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from netladder.l7 import codes

    text = (args.code or "").strip().lower()
    if not text:
        entries = list(codes.CODES.values())
        if args.json:
            emit_json(
                {
                    "codes": [_summary(c.code) for c in entries],
                    "apis": {k: list(v) for k, v in codes.API_CODES.items()},
                }
            )
        else:
            _table(entries, f"{len(codes.API_CODES)} APIs")
        return EXIT_OK
    if len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
        digit = int(text[0])
        entries = codes.codes_in_class(digit)
        name, section = codes.CLASSES[digit]
        if args.json:
            emit_json(
                {
                    "class": text,
                    "name": name,
                    "section": section,
                    "codes": [_summary(c.code) for c in entries],
                }
            )
        else:
            print(paint(f"{text} {name}", "bold") + f"  ({section})")
            _table(entries, f"{len(codes.API_CODES)} APIs")
        return EXIT_OK
    # ASCII digits: str.isdigit() also takes '٤٠٤', which int() reads as 404.
    if not (text.isascii() and text.isdigit() and len(text) == 3 and 100 <= int(text) <= 599):
        raise UsageError(
            f"netladder codes: {args.code!r} is not a status code (100..599) or a class (1xx..5xx)"
        )
    code = int(text)
    doc = _detail(code)
    if args.json:
        emit_json(doc)
        return EXIT_OK
    if doc["name"] is None:
        print(
            f"{code}: not a registered status code; treat it as {doc['class']} "
            f"({doc['class_section']})"
        )
        return EXIT_OK
    print(
        paint(f"{code} {doc['name']}", "bold")
        + f"  {doc['class']}, {doc['section']}"
        + ("" if doc["standard"] else "  (not a standard code to use)")
    )
    print(f"  {doc['meaning']}")
    if doc["choose"]:
        print(f"  when: {doc['choose']}")
    apis = doc["used_by"]
    print(
        f"  used by {len(apis)} of {doc['apis_total']} well-known APIs"
        + (f": {', '.join(apis)}" if apis else "")
    )
    if doc["added_by"]:
        print(f"  (also in the current docs of {', '.join(doc['added_by'])})")
    return EXIT_OK


def _summary(code: int) -> dict[str, Any]:
    from netladder.l7 import codes

    entry = codes.CODES[code]
    return {
        "code": code,
        "name": entry.name,
        "section": entry.section,
        "standard": entry.standard,
        "used_by_count": codes.usage_count(code),
    }


def _detail(code: int) -> dict[str, Any]:
    from netladder.l7 import codes

    entry = codes.lookup(code)
    cls = codes.class_of(code)
    assert cls is not None
    return {
        "code": code,
        "name": entry.name if entry else None,
        "class": cls[0],
        "class_section": cls[1],
        "section": entry.section if entry else None,
        "standard": entry.standard if entry else False,
        "meaning": entry.meaning if entry else None,
        "choose": entry.choose if entry else None,
        "used_by": codes.apis_using(code),
        "added_by": codes.apis_adding(code),
        "apis_total": len(codes.API_CODES),
    }


def _table(entries: list[Any], of: str) -> None:
    from netladder.l7 import codes

    for entry in entries:
        count = codes.usage_count(entry.code)
        bar = "■" * count
        name = entry.name if entry.standard else paint(entry.name, "dim")
        print(
            f"  {entry.code}  {name:<32} {entry.section:<30} {count:>2}/{len(codes.API_CODES)} "
            f"{paint(bar, 'green')}"
        )
    print(paint(f"  (usage: how many of {of} in REFERENCE.md document the code)", "dim"))
