"""`netladder dns NAME`: resolution with its timing, the CNAME chain, TTLs, rcode and the server
that answered; `--compare` puts the system resolver (getaddrinfo) beside the direct query."""

from __future__ import annotations

import argparse
import asyncio
import sys

from netladder.args import add_json, positive_float, positive_int
from netladder.errors import EXIT_ENV, EXIT_FAIL, EXIT_OK, EnvError, UsageError
from netladder.names.resolve import (
    RECORD_TYPES,
    Comparison,
    Resolution,
    Server,
    Status,
    check_name,
    compare,
    is_address,
    parse_server,
    resolve,
    reverse_name,
)
from netladder.output import emit_json, fmt_ms, paint

__all__ = ["register", "run"]

SLOW_MS = 1000.0  # an answer slower than this is flagged: many clients give up around here


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name",
        metavar="NAME",
        help="the name to resolve (an IP address means its PTR record, like dig -x)",
    )
    parser.add_argument(
        "--type",
        "-t",
        dest="rdtype",
        metavar="TYPE",
        default=None,
        help=f"record type: {', '.join(RECORD_TYPES)} (default A)",
    )
    parser.add_argument(
        "--server",
        "-s",
        action="append",
        default=[],
        metavar="IP[:PORT]",
        help="ask this server (repeatable; default: the servers of /etc/resolv.conf)",
    )
    parser.add_argument(
        "--tcp",
        action="store_true",
        help="query over TCP (default UDP, TCP only when the answer is truncated)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=2.0,
        metavar="S",
        help="seconds to wait for each answer (default 2)",
    )
    parser.add_argument(
        "--tries",
        type=positive_int,
        default=2,
        metavar="N",
        help="UDP queries per server before the next one (default 2)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also ask the system resolver "
        "(getaddrinfo: /etc/hosts, nsswitch, DNS) and explain any difference",
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument(
        "-4", dest="family", action="store_const", const=4, help="--compare: IPv4 only"
    )
    family.add_argument(
        "-6", dest="family", action="store_const", const=6, help="--compare: IPv6 only"
    )
    add_json(parser)


def _query(args: argparse.Namespace) -> tuple[str, str]:
    name: str = args.name
    rdtype = (args.rdtype or "").upper()
    if rdtype and rdtype not in RECORD_TYPES:
        raise UsageError(
            f"netladder dns: unknown record type {args.rdtype!r} (known: {', '.join(RECORD_TYPES)})"
        )
    if is_address(name) and rdtype in ("", "PTR"):
        return reverse_name(name), "PTR"
    check_name(name)
    return name, rdtype or "A"


def run(args: argparse.Namespace) -> int:
    name, rdtype = _query(args)
    servers: list[Server] = [parse_server(s) for s in args.server]
    if args.compare:
        if rdtype not in ("A", "AAAA"):
            raise UsageError("netladder dns: --compare works on addresses (--type A or AAAA)")
        families = (args.family,) if args.family else ((6,) if args.rdtype else (4, 6))
        if args.rdtype and rdtype == "A" and not args.family:
            families = (4,)
        comparison = asyncio.run(
            compare(
                name,
                servers or None,
                tcp=args.tcp,
                wait=args.timeout,
                tries=args.tries,
                families=families,
            )
        )
        if args.json:
            emit_json(comparison)
        else:
            print(render_comparison(comparison))
        return EXIT_OK if comparison.agree and comparison.system.ok else EXIT_FAIL
    result = asyncio.run(
        resolve(name, rdtype, servers or None, tcp=args.tcp, wait=args.timeout, tries=args.tries)
    )
    if result.status is Status.NO_RESOLVER:
        if args.json:
            emit_json(result)
            return EXIT_ENV
        raise EnvError(
            f"netladder dns: {result.message}",
            "add a nameserver line to /etc/resolv.conf, or ask one with --server IP",
        )
    if args.json:
        emit_json(result)
    else:
        print(render(result))
    return EXIT_OK if result.ok else EXIT_FAIL


def _rows(result: Resolution) -> list[str]:
    records = list(result.chain) + list(result.answers)
    if not records:
        return []
    name_w = max(len(r.name) for r in records)
    ttl_w = max(len(str(r.ttl)) for r in records)
    type_w = max(len(r.type) for r in records)
    return [
        f"  {r.name:<{name_w}}  {r.ttl:>{ttl_w}}  {r.type:<{type_w}}  {r.value}" for r in records
    ]


def render(result: Resolution) -> str:
    out = sys.stdout
    colour = "green" if result.ok else ("yellow" if result.status is Status.NODATA else "red")
    head = f"{result.name} {result.type}: "
    if result.ok:
        values = ", ".join(r.value for r in result.answers[:4])
        more = f" (+{len(result.answers) - 4} more)" if len(result.answers) > 4 else ""
        head += paint(values + more, "bold", stream=out)
    else:
        head += paint(result.message, colour, stream=out)
    lines = [head]
    if result.server is not None and result.rcode is not None:
        when = f"{fmt_ms(result.time_ms)} ms" if result.time_ms is not None else "?"
        slow = ""
        if result.time_ms is not None and result.time_ms > SLOW_MS:
            slow = paint(f"  slow: over {SLOW_MS / 1000:g} s", "yellow", stream=out)
        aa = ", authoritative" if result.authoritative else ""
        lines.append(
            f"  {result.rcode} from {result.server} over {result.transport} in {when}{aa}{slow}"
        )
    if result.incomplete and result.ok:
        lines.append(paint(f"  {result.message}", "yellow", stream=out))
    for step in result.chased:
        took = f" in {fmt_ms(step.time_ms)} ms" if step.time_ms is not None else ""
        answer = (
            f"{step.rcode} from {step.server} over {step.transport}{took}"
            if step.rcode is not None
            else step.message
        )
        lines.append(f"  asked for {step.name}: {answer}")
    lines += _rows(result)
    attempts = list(result.attempts) + [a for step in result.chased for a in step.attempts]
    if (
        len(attempts) > 1 + len(result.chased)
        or result.rcode is None
        or any(a.ignored for a in attempts)
    ):
        for a in attempts:
            took = f"{fmt_ms(a.time_ms)} ms" if a.time_ms is not None else "-"
            what = (a.rcode or "?") if a.outcome == "answer" else a.outcome
            if a.truncated and a.outcome == "answer":
                what += " (truncated: retried over TCP)"
            detail = f": {a.detail}" if a.detail else ""
            colour = "yellow" if a.ignored else "dim"
            lines.append(
                paint(
                    f"  tried {a.server} {a.transport}: {what} in {took}{detail}",
                    colour,
                    stream=out,
                )
            )
    return "\n".join(lines)


def render_comparison(c: Comparison) -> str:
    out = sys.stdout
    s = c.system
    lines = []
    if s.ok:
        canon = (
            f" (canonical name {s.canonical})"
            if s.canonical and s.canonical != c.name.rstrip(".")
            else ""
        )
        lines.append(
            f"system resolver (getaddrinfo): {', '.join(s.addresses)}{canon} in "
            f"{fmt_ms(s.time_ms)} ms"
        )
    else:
        lines.append(
            f"system resolver (getaddrinfo): {paint('failed', 'red', stream=out)}: "
            f"{s.error} after {fmt_ms(s.time_ms)} ms"
        )
    for r in c.direct:
        took = f" in {fmt_ms(r.time_ms)} ms" if r.time_ms is not None and r.rcode else ""
        what = ", ".join(r.addresses) if r.ok else r.message
        via = f" from {r.server}" if r.server and r.ok else ""
        note = ""
        if r.ok and r.incomplete and r.chased:
            note = (
                f" (that answer ended at the CNAME to {r.chased[0].name}; asked for "
                f"{r.chased[-1].name}, {r.chased[-1].server} gave the records)"
            )
        lines.append(f"direct DNS query {r.type:<4}: {what}{via}{took}{note}")
    if c.agree:
        lines.append(paint("they agree", "green", stream=out))
    else:
        lines.append(paint("they disagree:", "yellow", stream=out))
        lines += [f"  - {e}" for e in c.explanations]
    return "\n".join(lines)
