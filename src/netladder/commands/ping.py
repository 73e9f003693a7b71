"""`netladder ping TARGET...`: ICMP echo with iputils ping's output, statistics and exit codes,
several targets at once, and a JSON document with what iputils lacks (every sample, median,
p95, jitter, sample SD, reply TTLs)."""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
from typing import TYPE_CHECKING, Any

from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from netladder.l3.ping import Event, PingResult, PingSession
    from netladder.net.targets import Target

MIN_USER_INTERVAL = 0.002  # iputils: "minimal interval allowed for user is 2ms"


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}") from None
    if not 1 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"count must be at least 1: {text!r}")
    return value


def _seconds(allow_zero: bool) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"invalid time {text!r}")
        return value

    return parse


def _int_range(low: int, high: int, what: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} {value} out of range {low}-{high}")
        return value

    return parse


def register(parser: argparse.ArgumentParser) -> None:
    from netladder.args import add_json

    parser.add_argument("targets", nargs="+", metavar="TARGET", help="host names or addresses")
    parser.add_argument("-c", dest="count", type=_count, help="stop after COUNT probes")
    parser.add_argument(
        "-i",
        dest="interval",
        type=_seconds(True),
        default=1.0,
        help="seconds between probes (default 1; under 0.002 needs root)",
    )
    parser.add_argument(
        "-W",
        dest="wait",
        type=_seconds(False),
        default=None,
        help="seconds to wait for a reply after the last probe when nothing "
        "came back (default 10; else twice the longest RTT)",
    )
    parser.add_argument(
        "-w",
        dest="deadline",
        type=_seconds(False),
        help="stop after this many seconds, whatever happens",
    )
    parser.add_argument(
        "-s",
        dest="size",
        type=_int_range(0, 65527, "size"),
        default=56,
        help="data bytes per probe (default 56)",
    )
    parser.add_argument("-t", dest="ttl", type=_int_range(1, 255, "TTL"), help="IP TTL")
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4, help="IPv4 only")
    family.add_argument("-6", dest="version", action="store_const", const=6, help="IPv6 only")
    parser.add_argument(
        "-I",
        dest="interface",
        metavar="IFACE|ADDR",
        help="send from this interface or source address",
    )
    parser.add_argument(
        "-b",
        dest="broadcast",
        action="store_true",
        help="allow pinging a broadcast address (every host that answers is counted)",
    )
    parser.add_argument(
        "-q", dest="quiet", action="store_true", help="quiet: only the header and the summary"
    )
    parser.add_argument(
        "-n",
        dest="numeric",
        action="store_true",
        help="numeric output (always: netladder never looks up PTR names)",
    )
    parser.add_argument(
        "--socket",
        choices=("dgram", "raw"),
        default=None,
        help="force the datagram (unprivileged) or the raw ICMP socket",
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from netladder.l3.ping import MAX_PAYLOAD, PingOptions, open_sessions, run_sessions
    from netladder.net.targets import resolve

    # Everything imported so far lives until exit: keep it out of every garbage collection,
    # including the one at interpreter exit (≈10 ms of a one-shot command's start-up budget).
    gc.freeze()

    if args.interval < MIN_USER_INTERVAL and os.geteuid() != 0:
        raise UsageError(
            "netladder ping: cannot flood; the smallest interval allowed for a user is 0.002 s (-i)"
        )
    targets = [resolve(t, args.version) for t in args.targets]
    for t in targets:
        if args.size > MAX_PAYLOAD[t.version]:
            raise UsageError(
                f"netladder ping: size {args.size} is above the IPv{t.version} "
                f"maximum {MAX_PAYLOAD[t.version]} (-s)"
            )
    device = source = None
    if args.interface:
        import ipaddress

        try:
            source = str(ipaddress.ip_address(args.interface))
        except ValueError:
            device = args.interface
    options = PingOptions(
        probes=args.count,
        interval=args.interval,
        wait=args.wait if args.wait is not None else 10.0,
        deadline=args.deadline,
        size=args.size,
        ttl=args.ttl,
        device=device,
        source=source,
        prefer=args.socket,
        broadcast=args.broadcast,
    )
    printer = None if args.json or args.quiet else _print_event
    sessions = open_sessions(targets, options, printer)
    if not args.json:
        for s in sessions:
            if s.is_broadcast:
                print("WARNING: pinging broadcast address", file=sys.stderr, flush=True)
            print(_header(s, args.size, args.interface is not None), flush=True)
    interrupted = False
    try:
        run_sessions(sessions)
    except KeyboardInterrupt:
        interrupted = True
    results = [s.result() for s in sessions]
    if args.json:
        from netladder.output import emit_json

        emit_json({"command": "ping", "targets": [to_json(r) for r in results]})
    else:
        for r in results:
            print()
            print(summary(r))
        sys.stdout.flush()
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if all(r.success for r in results) else EXIT_FAIL


# -- rendering ------------------------------------------------------------------------------


def label(target: Target) -> str:
    """The target as typed, with the scope it was typed with (iputils' hostname)."""
    return f"{target.name}%{target.scope}" if target.scope else target.name


def _header(session: PingSession, size: int, interface: bool) -> str:
    """iputils' first line (ping.c ping4_run/ping6_run): with -I, the source address the
    probes leave from and the interface — empty when -I named an address."""
    target = session.target
    frm = ""
    if interface:
        source = session.source or ("0.0.0.0" if target.version == 4 else "::")
        frm = f"from {source} {session.options.device or ''}: "
    # The address with its interface only when the target was typed with one: -I alone does
    # not put a scope into iputils' destination (replies do carry it).
    address = session.display(target.address) if target.scope else target.address
    if target.version == 6:
        return f"PING {label(target)}({address}) {frm}{size} data bytes"
    return f"PING {label(target)} ({address}) {frm}{size}({size + 28}) bytes of data."


def _who(session: PingSession, source: str | None = None) -> str:
    target = session.target
    if source is not None or target.is_literal:
        return session.display(source or target.address)
    return f"{target.name} ({target.address})"


def _print_event(session: PingSession, event: Event) -> None:
    print(event_line(session, event), flush=True)


def event_line(session: PingSession, event: Event) -> str:
    from netladder.l3.ping import TIMING_MIN_SIZE, Corrupted, Sample
    from netladder.l3.stats import fmt_reply_us
    from netladder.output import paint

    if isinstance(event, Sample):
        line = f"{event.size} bytes from {_who(session, event.source)}: icmp_seq={event.seq}"
        if event.ttl is not None:
            line += f" ttl={event.ttl}"
        if event.truncated:
            return line + " (truncated)"  # iputils prints nothing after it
        if session.options.size >= TIMING_MIN_SIZE:
            line += f" time={fmt_reply_us(event.rtt_us)} ms"
        # iputils marks a duplicate only where one reply per probe is expected.
        if event.duplicate and not session.options.broadcast:
            line += paint(" (DUP!)", "yellow")
        return line
    if isinstance(event, Corrupted):
        return f"{event.size} bytes from {_who(session)}: icmp_seq={event.seq}" + paint(
            " (BAD CHECKSUM!)", "red"
        )
    return paint(f"From {session.display(event.source)} icmp_seq={event.seq} {event.text}", "red")


def summary(r: PingResult) -> str:
    """iputils' statistics block (ping_common.c: finish())."""
    from netladder.l3.stats import fmt_loss

    line = f"{r.transmitted} packets transmitted, {r.received} received"
    if r.duplicates:
        line += f", +{r.duplicates} duplicates"
    if r.corrupted:
        line += f", +{r.corrupted} corrupted"
    if r.errors:
        line += f", +{r.errors} errors"
    if r.transmitted:
        # Rounded half up, as iputils: (ns + 500000) / 1000000.
        line += f", {fmt_loss(r.loss_percent)}% packet loss, time {int(r.time_ms + 0.5)}ms"
    lines = [f"--- {label(r.target)} ping statistics ---", line]
    rtt = r.iputils if r.timed else None
    parts = []
    if r.received and rtt is not None:
        parts.append(rtt.line())
    if r.pipe > 1:
        parts.append(f"pipe {r.pipe}")
    if r.interval == 0 and r.received and r.transmitted > 1:
        # iputils adds the inter-packet gap and its smoothed RTT when flooding (-i 0).
        from netladder.l3.stats import ewma_us

        ipg = int(r.time_ms * 1000) // (r.transmitted - 1)
        ewma = ewma_us([s.rtt_us for s in r.samples]) if r.timed else 0
        parts.append(f"ipg/ewma {ipg // 1000}.{ipg % 1000:03d}/{ewma // 1000}.{ewma % 1000:03d} ms")
    # iputils ends the block with a newline of its own, even when it is empty.
    lines.append(", ".join(parts))
    return "\n".join(lines)


def to_json(r: PingResult) -> dict[str, Any]:
    rtt = r.rtt
    exact = r.iputils
    return {
        "target": r.target.name,
        "address": r.target.address,
        "version": r.target.version,
        "socket": r.socket_kind,
        "identifier": r.identifier,
        "size": r.size,
        "transmitted": r.transmitted,
        "received": r.received,
        "duplicates": r.duplicates,
        "corrupted": r.corrupted,
        "errors": r.errors,
        "loss_percent": r.loss_percent,
        "time_ms": r.time_ms,
        "pipe": r.pipe,
        "verdict": r.verdict,
        "interrupted": r.interrupted,
        "rtt": None
        if rtt is None or exact is None
        else {
            "min_ms": rtt.min_ms,
            "avg_ms": rtt.avg_ms,
            "max_ms": rtt.max_ms,
            "mdev_ms": rtt.mdev_ms,
            "sd_ms": rtt.sd_ms,
            "median_ms": rtt.median_ms,
            "p95_ms": rtt.p95_ms,
            "jitter_ms": rtt.jitter_ms,
            "iputils": {
                "min_ms": exact.min_us / 1000,
                "avg_ms": exact.avg_us / 1000,
                "max_ms": exact.max_us / 1000,
                "mdev_ms": exact.mdev_us / 1000,
            },
        },
        "reply_ttls": list(r.reply_ttls),
        "samples": [
            {
                "seq": s.seq,
                "rtt_ms": s.rtt_ms,
                "ttl": s.ttl,
                "size": s.size,
                "duplicate": s.duplicate,
                "truncated": s.truncated,
            }
            for s in r.samples
        ],
        "error_events": [
            {
                "seq": e.seq,
                "from": e.source,
                "type": e.icmp_type,
                "code": e.icmp_code,
                "text": e.text,
            }
            for e in r.error_events
        ],
    }
