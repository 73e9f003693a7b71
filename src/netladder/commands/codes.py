"""`netladder codes [CODE|CLASS]`: what a status code means, when to use it rather than its
neighbours, and which well-known APIs use it (REFERENCE.md)."""

from __future__ import annotations

import argparse

from netladder.args import add_explain, add_json
from netladder.errors import EXIT_OK, UsageError
from netladder.i18n import _

__all__ = ["register", "run"]


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
    from netladder.render import codes as render
    from netladder.render.report import report

    text = (args.code or "").strip().lower()
    result: codes.CodeTable | codes.CodeClass | codes.CodeDetail
    explained: int | None = None  # the code whose class --explain explains (none: the table)
    if not text:
        result = codes.table()
    elif len(text) == 3 and text[0] in "12345" and text[1:] == "xx":
        result = codes.in_class(int(text[0]))
        explained = result.digit * 100
    # ASCII digits: str.isdigit() also takes '٤٠٤', which int() reads as 404.
    elif not (text.isascii() and text.isdigit() and len(text) == 3 and 100 <= int(text) <= 599):
        raise UsageError(
            "netladder codes: {code!r} is not a status code (100..599) or a class (1xx..5xx)",
            code=args.code,
        )
    else:
        result = codes.detail(int(text))
        explained = result.code
    report(
        result,
        lambda: render.lines(result),
        as_json=args.json,
        # --json --explain always adds the `explain` field, as every command's does: the
        # class's entry for a code or a class, none for the whole table.
        explain=(lambda c: c.keys_code(explained) if explained else []) if args.explain else None,
    )
    return EXIT_OK
