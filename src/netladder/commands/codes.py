"""`netladder codes [CODE|CLASS]`: what a status code means, when to use it rather than its
neighbours, and which well-known APIs use it (REFERENCE.md)."""

from __future__ import annotations

import argparse
from typing import Any

from netladder.args import add_explain, add_json
from netladder.errors import EXIT_OK, UsageError
from netladder.i18n import N_, _
from netladder.output import emit_json, paint

__all__ = ["register", "run"]

# The classes' names (RFC 9110 §15; l7/codes.py CLASSES), said in the chosen language.
CLASS_NAMES = (
    N_("Informational"),
    N_("Successful"),
    N_("Redirection"),
    N_("Client Error"),
    N_("Server Error"),
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "code",
        nargs="?",
        metavar="CODE|CLASS",
        help=_("a status code (404) or a class (4xx); none: every code"),
    )
    add_json(parser)
    add_explain(parser)


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
            _table(entries, len(codes.API_CODES))
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
            print(paint(f"{text} {_(name)}", "bold") + f"  ({section})")
            _table(entries, len(codes.API_CODES))
            _explain(args, digit * 100)
        return EXIT_OK
    # ASCII digits: str.isdigit() also takes '٤٠٤', which int() reads as 404.
    if not (text.isascii() and text.isdigit() and len(text) == 3 and 100 <= int(text) <= 599):
        raise UsageError(
            "netladder codes: {code!r} is not a status code (100..599) or a class (1xx..5xx)",
            code=args.code,
        )
    code = int(text)
    doc = _detail(code)
    if args.json:
        if args.explain:
            from netladder.render import explain

            explain.emit_json(doc, explain.keys_code(code))
        else:
            emit_json(doc)
        return EXIT_OK
    if doc["name"] is None:
        print(
            _("{code}: not a registered status code; treat it as {cls} ({section})").format(
                code=code, cls=_(doc["class"]), section=doc["class_section"]
            )
        )
        _explain(args, code)
        return EXIT_OK
    print(
        paint(f"{code} {doc['name']}", "bold")
        + f"  {_(doc['class'])}, {doc['section']}"
        + ("" if doc["standard"] else _("  (not a standard code to use)"))
    )
    print(f"  {_(doc['meaning'])}")
    if doc["choose"]:
        print(_("  when: {choose}").format(choose=_(doc["choose"])))
    apis = doc["used_by"]
    if apis:
        print(
            _("  used by {count} of {total} well-known APIs: {apis}").format(
                count=len(apis), total=doc["apis_total"], apis=", ".join(apis)
            )
        )
    else:
        print(
            _("  used by {count} of {total} well-known APIs").format(
                count=0, total=doc["apis_total"]
            )
        )
    if doc["added_by"]:
        print(_("  (also in the current docs of {apis})").format(apis=", ".join(doc["added_by"])))
    _explain(args, code)
    return EXIT_OK


def _explain(args: argparse.Namespace, code: int) -> None:
    if args.explain:
        from netladder.render import explain

        explain.say(explain.keys_code(code))


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


def _table(entries: list[Any], apis: int) -> None:
    from netladder.l7 import codes

    for entry in entries:
        count = codes.usage_count(entry.code)
        bar = "■" * count
        name = entry.name if entry.standard else paint(entry.name, "dim")
        print(
            f"  {entry.code}  {name:<32} {entry.section:<30} {count:>2}/{len(codes.API_CODES)} "
            f"{paint(bar, 'green')}"
        )
    note = _("  (usage: how many of {count} APIs in REFERENCE.md document the code)")
    print(paint(note.format(count=apis), "dim"))
