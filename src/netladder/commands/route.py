"""`netladder route [TARGET]`: the kernel's route decision for a destination, and the default
routes (v4 and v6), read from rtnetlink — what `ip route get` and `ip route show default` say."""

from __future__ import annotations

import argparse

from netladder.args import add_explain, add_json
from netladder.errors import EXIT_FAIL, EXIT_OK, UsageError
from netladder.i18n import _

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        metavar="TARGET",
        help=_("an IPv4 or IPv6 address (default: show the default routes only)"),
    )
    parser.add_argument(
        "-I",
        "--iface",
        metavar="IFACE",
        help=_("ask as if the packet had to leave by this interface"),
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="ADDR",
        help=_(
            "ask as if the packet came from this local address (ip route get "
            "... from ADDR: policy rules on the source apply)"
        ),
    )
    add_json(parser)
    add_explain(parser)


def run(args: argparse.Namespace) -> int:
    from netladder.l2.route import parse_destination, route_report
    from netladder.render import route as render
    from netladder.render.report import report

    target = parse_destination(args.target) if args.target else None
    if args.source is not None and target is None:
        raise UsageError("netladder route: --from needs a TARGET")
    result = route_report(target, args.iface, args.source)
    decision = result.decision
    report(
        result,
        lambda: render.lines(result),
        as_json=args.json,
        explain=(lambda c: c.keys_route(decision) if decision else []) if args.explain else None,
    )
    return EXIT_FAIL if decision is not None and not decision.reachable else EXIT_OK
