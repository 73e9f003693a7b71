"""`netladder port TARGET PORTS`: nmap's port states with reasons, banners and TLS details.

Exit 0 when at least one port is open (for UDP also open|filtered), 1 when none is.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING

from netladder.args import add_explain, add_json, positive_float
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, UsageError
from netladder.i18n import _

if TYPE_CHECKING:
    from netladder.l4.model import ScanProgress, ScanStarted

__all__ = ["register", "run"]

PROGRESS_OVER = 1000  # ports; smaller scans finish before a bar would help


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET", help=_("host name or address"))
    parser.add_argument(
        "ports",
        metavar="PORTS",
        help=_("22 | 20-25 | 22,80,443 | 1-65535 | top | service names (ssh,http)"),
    )
    method = parser.add_mutually_exclusive_group()
    method.add_argument(
        "--syn",
        action="store_const",
        const="syn",
        dest="method",
        help=_("SYN (half-open) scan with raw sockets (default when privileged)"),
    )
    method.add_argument(
        "--connect",
        action="store_const",
        const="connect",
        dest="method",
        help=_("TCP connect scan (default when unprivileged)"),
    )
    method.add_argument(
        "--udp", action="store_const", const="udp", dest="method", help=_("UDP scan")
    )
    parser.add_argument(
        "--banner",
        action="store_true",
        help=_("show what open services say first (HEAD status line on HTTP ports)"),
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help=_("TLS handshake on open ports: version, certificate subject, expiry"),
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="MS",
        help=_("fixed probe timeout in ms (default: adapts to the measured RTT)"),
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        metavar="PPS",
        help=_("at most this many SYN probes per second (SYN scan)"),
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4, help=_("IPv4 only"))
    family.add_argument("-6", dest="version", action="store_const", const=6, help=_("IPv6 only"))
    add_json(parser)
    add_explain(parser)
    parser.set_defaults(method=None, version=None)


def run(args: argparse.Namespace) -> int:
    from netladder.api import scan
    from netladder.l4.model import ScanOptions, ScanStarted
    from netladder.l4.ports import parse_ports
    from netladder.model import seconds
    from netladder.net.driver import blocking
    from netladder.output import progress
    from netladder.render import port as render
    from netladder.render.report import report

    proto = "udp" if args.method == "udp" else "tcp"
    ports = parse_ports(args.ports, proto)
    if args.rate is not None and args.method in ("connect", "udp"):
        raise UsageError("netladder port: --rate applies to the SYN scan only")
    options = ScanOptions(
        target=args.target,
        ports=ports,
        proto=proto,
        method=args.method or "auto",
        timeout=seconds(args.timeout),
        rate=args.rate,
        banner=args.banner,
        tls=args.tls,
        version=args.version,
    )
    with contextlib.ExitStack() as stack:
        bar = None

        def heard(event: ScanStarted | ScanProgress) -> None:
            nonlocal bar
            if isinstance(event, ScanStarted):
                show = event.ports >= PROGRESS_OVER and not args.json
                description = _("{proto} scan {address}").format(
                    proto=event.proto, address=event.address
                )
                bar = stack.enter_context(progress(description, event.ports, enabled=show))
            elif bar is not None:
                bar.advance(event.decided)

        result = blocking(scan(options, on_progress=heard))
    report(
        result,
        lambda: render.lines(result),
        as_json=args.json,
        sentence=render.sentence,
        explain=(lambda c: c.keys_scan(result)) if args.explain else None,
    )
    sys.stdout.flush()
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.passed else EXIT_FAIL
