"""`netladder myip`: the public address from HTTP echo endpoints and STUN, the local source
address beside it, and a note when the sources disagree.

Endpoints: --http/--stun, else NETLADDER_MYIP_HTTP / NETLADDER_MYIP_STUN, else the config file
(~/.config/netladder/myip.toml: `http = ["http://…"]`, `stun = ["host:3478"]`), else built-in
public services (see netladder.names.myip)."""

from __future__ import annotations

import argparse

from netladder.args import add_explain, add_json, positive_float
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK
from netladder.i18n import _
from netladder.names.myip import discover, endpoints

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http",
        action="append",
        default=[],
        metavar="URL",
        help=_(
            "an HTTP echo endpoint answering the caller's address as text or "
            'JSON {"ip": …} (repeatable)'
        ),
    )
    parser.add_argument(
        "--stun",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help=_("a STUN server (repeatable; port 3478 by default)"),
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4, help=_("IPv4 only"))
    family.add_argument("-6", dest="version", action="store_const", const=6, help=_("IPv6 only"))
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=3.0,
        metavar="S",
        help=_("one deadline for all sources, in seconds (default 3)"),
    )
    add_json(parser)
    add_explain(parser)
    parser.epilog = _(
        "Without --http/--stun: NETLADDER_MYIP_HTTP and NETLADDER_MYIP_STUN, else "
        "~/.config/netladder/myip.toml (http = [...], stun = [...]; "
        "NETLADDER_MYIP_CONFIG names another file), else public services."
    )


def run(args: argparse.Namespace) -> int:
    from netladder.net.driver import blocking
    from netladder.render import myip as render
    from netladder.render.report import report

    chosen = endpoints(args.http, args.stun)
    result = blocking(
        discover(
            chosen.http,
            chosen.stun,
            version=args.version,
            deadline=args.timeout,
            endpoints_from=chosen.source,
        )
    )
    # Ctrl-C: what was gathered is printed all the same, then exit 130.
    report(
        result,
        lambda: render.lines(result),
        as_json=args.json,
        sentence=render.sentence,
        explain=(lambda c: c.keys_myip(result)) if args.explain else None,
    )
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAIL
