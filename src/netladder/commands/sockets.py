"""`netladder sockets [PORT]`: the listening socket(s) for a port and every connection it holds,
TCP and UDP (a UDP service listens with an unconnected socket: UNCONN, as ss says).

Exit 0 when something listens on PORT (or, without PORT, always), 1 when nothing does.
"""

from __future__ import annotations

import argparse

from netladder.args import add_explain, add_json
from netladder.errors import EXIT_FAIL, EXIT_OK
from netladder.i18n import _

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "port",
        metavar="PORT",
        nargs="?",
        help=_("a TCP/UDP port number or service name (default: every listener)"),
    )
    add_json(parser)
    add_explain(parser)


def run(args: argparse.Namespace) -> int:
    from netladder.errors import UsageError
    from netladder.l4.diag import read_sockets
    from netladder.l4.ports import parse_ports
    from netladder.render import sockets as render
    from netladder.render.report import report

    port = None
    if args.port is not None:
        ports = parse_ports(args.port)
        if len(ports) != 1:
            raise UsageError("netladder sockets: give one port")
        port = ports[0]
    result = read_sockets(port)
    report(
        result,
        lambda: render.lines(result),
        as_json=args.json,
        explain=(lambda c: c.keys_sockets(result)) if args.explain else None,
    )
    if port is not None and not result.listeners:
        return EXIT_FAIL
    return EXIT_OK
