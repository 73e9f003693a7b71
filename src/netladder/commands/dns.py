"""`netladder dns NAME`: resolution with its timing, the CNAME chain, TTLs, rcode and the server
that answered; `--compare` puts the system resolver (getaddrinfo) beside the direct query."""

from __future__ import annotations

import argparse

from netladder.args import add_explain, add_json, positive_float, positive_int
from netladder.errors import EXIT_ENV, EXIT_FAIL, EXIT_OK, EnvError, UsageError
from netladder.i18n import _
from netladder.names.model import RECORD_TYPES, CompareOptions, ResolveOptions, Status
from netladder.names.resolve import check_name, is_address, parse_server, reverse_name

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name",
        metavar="NAME",
        help=_("the name to resolve (an IP address means its PTR record, like dig -x)"),
    )
    parser.add_argument(
        "--type",
        "-t",
        dest="rdtype",
        metavar="TYPE",
        default=None,
        help=_("record type: {types} (default A)").format(types=", ".join(RECORD_TYPES)),
    )
    parser.add_argument(
        "--server",
        "-s",
        action="append",
        default=[],
        metavar="IP[:PORT]",
        help=_("ask this server (repeatable; default: the servers of /etc/resolv.conf)"),
    )
    parser.add_argument(
        "--tcp",
        action="store_true",
        help=_("query over TCP (default UDP, TCP only when the answer is truncated)"),
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=2.0,
        metavar="S",
        help=_("seconds to wait for each answer (default 2)"),
    )
    parser.add_argument(
        "--tries",
        type=positive_int,
        default=2,
        metavar="N",
        help=_("UDP queries per server before the next one (default 2)"),
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help=_(
            "also ask the system resolver "
            "(getaddrinfo: /etc/hosts, nsswitch, DNS) and explain any difference"
        ),
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument(
        "-4", dest="family", action="store_const", const=4, help=_("--compare: IPv4 only")
    )
    family.add_argument(
        "-6", dest="family", action="store_const", const=6, help=_("--compare: IPv6 only")
    )
    add_json(parser)
    add_explain(parser)


def _query(args: argparse.Namespace) -> tuple[str, str]:
    name: str = args.name
    rdtype = (args.rdtype or "").upper()
    if rdtype and rdtype not in RECORD_TYPES:
        raise UsageError(
            "netladder dns: unknown record type {type!r} (known: {types})",
            type=args.rdtype,
            types=", ".join(RECORD_TYPES),
        )
    if is_address(name) and rdtype in ("", "PTR"):
        return reverse_name(name), "PTR"
    check_name(name)
    return name, rdtype or "A"


def run(args: argparse.Namespace) -> int:
    from netladder import api
    from netladder.net.driver import blocking
    from netladder.output import emit_json
    from netladder.render import dns as render
    from netladder.render.report import report

    name, rdtype = _query(args)
    servers = tuple(parse_server(s) for s in args.server)
    if args.compare:
        if rdtype not in ("A", "AAAA"):
            raise UsageError("netladder dns: --compare works on addresses (--type A or AAAA)")
        families = (args.family,) if args.family else ((6,) if args.rdtype else (4, 6))
        if args.rdtype and rdtype == "A" and not args.family:
            families = (4,)
        options = CompareOptions(name, servers, args.tcp, args.timeout, args.tries, families)
        comparison = blocking(api.resolve(options))
        report(
            comparison,
            lambda: render.comparison_lines(comparison),
            as_json=args.json,
            sentence=render.sentence,
            explain=(lambda c: c.keys_comparison(comparison)) if args.explain else None,
        )
        return EXIT_OK if comparison.agree and comparison.system.ok else EXIT_FAIL
    query = ResolveOptions(name, rdtype, servers, args.tcp, args.timeout, args.tries)
    result = blocking(api.resolve(query))
    if result.status is Status.NO_RESOLVER:
        if args.json:
            emit_json(result, sentence=render.sentence)
            return EXIT_ENV
        raise EnvError(
            "netladder dns: {what}",
            "add a nameserver line to /etc/resolv.conf, or ask one with --server IP",
            what=render.sentence(result),
        )
    report(
        result,
        lambda: render.lines(result),
        as_json=args.json,
        sentence=render.sentence,
        explain=(lambda c: c.keys_resolution(result)) if args.explain else None,
    )
    return EXIT_OK if result.ok else EXIT_FAIL
