"""`netladder diagnose TARGET [--port P] [--json] [--deep]`: the whole ladder, one verdict."""

from __future__ import annotations

import argparse

from netladder.args import add_explain, add_json, port_number
from netladder.i18n import _

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help=_("a host, host:port, [v6]:port or an http(s) URL"))
    parser.add_argument(
        "-p",
        "--port",
        type=port_number,
        action="append",
        default=[],
        help=_("TCP port(s) to check (repeatable); a URL or host:port names one"),
    )
    parser.add_argument(
        "--deep", action="store_true", help=_("trace the path even when L3 looks healthy")
    )
    parser.add_argument(
        "--via",
        metavar="URL[,URL...]",
        help=_(
            "ask these agents (netladder serve, /api/v1/diagnose) to run the ladder from "
            "where they are, at once, and compare; an agent behind basic auth takes "
            "http://user:password@host:port"
        ),
    )
    add_json(parser)
    add_explain(parser)


def run(args: argparse.Namespace) -> int:
    from netladder import api
    from netladder.api._diagnose import DiagnoseOptions, Progress
    from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK
    from netladder.net.driver import blocking
    from netladder.output import emit_json
    from netladder.render import diagnose as render
    from netladder.render.report import report as show

    options = DiagnoseOptions(args.target, tuple(args.port), deep=args.deep)
    if args.via:
        from netladder.diagnose.target import parse_target
        from netladder.diagnose.via import via

        parse_target(args.target, tuple(args.port))  # a target this host could not read: exit 2
        report = blocking(via(args.target, tuple(args.port), args.via))
        if args.json:
            emit_json(report, sentence=render.sentence)
        else:
            print("\n".join(render.via_lines(report)))
        return EXIT_OK if report.ok else EXIT_FAIL
    progress = Progress()
    try:
        result = blocking(api.diagnose(options, progress=progress))
    except KeyboardInterrupt:
        result = progress.partial()
        code = EXIT_INTERRUPTED
    else:
        code = EXIT_OK if result.ok else EXIT_FAIL
    show(
        result,
        lambda: render.lines(result),
        as_json=args.json,
        sentence=render.sentence,
        explain=(lambda c: c.keys_diagnosis(result)) if args.explain else None,
    )
    return code
