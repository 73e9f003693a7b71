"""`netladder arp TARGET`: active ARP requests (IPv4) or Neighbor Solicitations (IPv6), with
the RTT of each reply, in arping's manner; two stations answering for one address are reported
as a conflict; `--dad` is RFC 5227 duplicate-address detection (sender 0.0.0.0)."""

from __future__ import annotations

import argparse
import sys

from netladder.args import add_explain, add_json, positive_float, positive_int
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, from_oserror
from netladder.i18n import _

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="TARGET", help=_("an IPv4 or IPv6 address on a local link")
    )
    parser.add_argument(
        "-c",
        "--count",
        type=positive_int,
        default=None,
        help=_("requests to send (default 3; with -w, until the deadline)"),
    )
    parser.add_argument(
        "-w",
        "--deadline",
        type=positive_float,
        metavar="SEC",
        help=_("stop after this many seconds, whatever happened"),
    )
    parser.add_argument(
        "-i",
        "--interval",
        type=positive_float,
        default=1.0,
        metavar="SEC",
        help=_("seconds between requests (default 1)"),
    )
    parser.add_argument(
        "-W",
        "--wait",
        type=positive_float,
        default=1.0,
        metavar="SEC",
        help=_("seconds to wait for replies after the last request (default 1)"),
    )
    parser.add_argument(
        "-I",
        "--iface",
        metavar="IFACE",
        help=_("the interface (default: the one the route to TARGET uses)"),
    )
    parser.add_argument(
        "--dad",
        action="store_true",
        help=_(
            "duplicate address detection (RFC 5227): probe from 0.0.0.0; "
            "exit 0 when the address is free"
        ),
    )
    add_json(parser)
    add_explain(parser)


def run(args: argparse.Namespace) -> int:
    import os

    from netladder import api
    from netladder.l2.model import ArpOptions, ProbeSetup, Reply
    from netladder.net.driver import blocking
    from netladder.render import arp as render
    from netladder.render.report import report

    count = args.count if args.count is not None else (None if args.deadline else 3)
    options = ArpOptions(
        args.target, args.iface, args.dad, count, args.interval, args.wait, args.deadline
    )
    out = sys.stdout

    def show(event: ProbeSetup | Reply) -> None:
        if not args.json:
            print(render.event_line(event), file=out, flush=True)

    result = blocking(api.arp(options, on_event=show))
    if result.send_error is not None:
        error = OSError(result.send_error, os.strerror(result.send_error))
        raise from_oserror(error, "sending on {iface}", iface=result.setup.iface)
    report(
        result,
        lambda: render.summary(result),
        as_json=args.json,
        explain=(lambda c: c.keys_arp(result)) if args.explain else None,
    )
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAIL
