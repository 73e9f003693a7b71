"""`netladder sweep TARGET|CIDR|A-B...`: many targets from one socket, fping's output and exit
codes, faster than fping, with a totals block and JSON.

Human output follows fping's: by default `HOST is alive` / `HOST is unreachable` on stdout
(fping's default, verbose mode); with --count, fping -c's per-target summary; --alive and
--unreachable the bare lists of -a and -u.  ICMP errors and names that do not resolve are
reported on stderr as fping reports them, and the totals block (fping -s) goes to stderr too,
except after --count's summary.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
from typing import TYPE_CHECKING, Any

from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from netladder.l3.sweep import SweepResult
    from netladder.net.targets import ResolveError

# fping's words for ICMP errors about a probe (fping.c: icmp_type_str, icmp_unreach_str;
# RFC 792 types and codes).  fping mislabels ICMPv6, so IPv6 errors use netladder's names.
FPING_UNREACHABLE = (
    "ICMP Network Unreachable",
    "ICMP Host Unreachable",
    "ICMP Protocol Unreachable",
    "ICMP Port Unreachable",
    "ICMP Unreachable (Fragmentation Needed)",
    "ICMP Unreachable (Source Route Failed)",
    "ICMP Unreachable (Destination Network Unknown)",
    "ICMP Unreachable (Destination Host Unknown)",
    "ICMP Unreachable (Source Host Isolated)",
    "ICMP Unreachable (Communication with Network Prohibited)",
    "ICMP Unreachable (Communication with Host Prohibited)",
    "ICMP Unreachable (Network Unreachable For Type Of Service)",
    "ICMP Unreachable (Host Unreachable For Type Of Service)",
    "ICMP Unreachable (Communication Administratively Prohibited)",
    "ICMP Unreachable (Host Precedence Violation)",
    "ICMP Unreachable (Precedence cutoff in effect)",
)
FPING_TYPES = {
    4: "ICMP Source Quench",
    5: "ICMP Redirect",
    11: "ICMP Time Exceeded",
    12: "ICMP Parameter Problem",
}


def _number(low: float, what: str, integer: bool = False) -> Any:
    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}") from None
        if not math.isfinite(value) or value < low:
            raise argparse.ArgumentTypeError(f"{what} must be at least {low:g}: {text!r}")
        return value

    return parse


def register(parser: argparse.ArgumentParser) -> None:
    from netladder.args import add_json

    parser.add_argument(
        "targets",
        nargs="+",
        metavar="TARGET|CIDR|A-B",
        help="addresses, names, CIDR blocks (network and broadcast skipped except /31 and "
        "/32, like fping -g CIDR) or ranges A-B (both included, like fping -g A B)",
    )
    parser.add_argument(
        "--count",
        type=_number(1, "count", True),
        default=None,
        help="probes per target (fping -c); default: until the first reply",
    )
    parser.add_argument(
        "--timeout",
        type=_number(1, "timeout"),
        default=500.0,
        metavar="MS",
        help="first timeout in ms (fping -t; default 500)",
    )
    parser.add_argument(
        "--retries",
        type=_number(0, "retries", True),
        default=3,
        help="retries for a silent target, each timeout ×--backoff (fping -r; default 3)",
    )
    parser.add_argument(
        "--backoff",
        type=_number(1, "backoff"),
        default=1.5,
        help="timeout factor per retry (fping -B; default 1.5)",
    )
    parser.add_argument(
        "--period",
        type=_number(1, "period"),
        default=1000.0,
        metavar="MS",
        help="ms between probes to one target with --count (fping -p)",
    )
    parser.add_argument(
        "--rate",
        type=_number(0, "rate"),
        default=None,
        metavar="PPS",
        help="probes per second over all targets, never in bursts (default 1000; with "
        "--count 100, fping's 10 ms spacing; 0: no limit)",
    )
    parser.add_argument(
        "--size",
        type=_number(0, "size", True),
        default=56,
        help="echo data bytes (default 56; at least 22 are sent)",
    )
    listing = parser.add_mutually_exclusive_group()
    listing.add_argument(
        "--alive", action="store_true", help="print only the targets that answered (fping -a)"
    )
    listing.add_argument(
        "--unreachable", action="store_true", help="print only the targets that did not (fping -u)"
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4)
    family.add_argument("-6", dest="version", action="store_const", const=6)
    parser.add_argument(
        "--socket",
        choices=("dgram", "raw"),
        default=None,
        help="force the datagram (unprivileged) or the raw ICMP socket",
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from netladder.l3.sweep import SweepOptions, build_targets, run_sweep
    from netladder.output import progress

    # Everything imported so far lives until exit: keep it out of every garbage collection,
    # including the one at interpreter exit (≈10 ms of a one-shot command's start-up budget).
    gc.freeze()

    if args.size > 65507:
        raise UsageError(f"netladder sweep: size {args.size} is above the maximum 65507")
    unresolved: list[ResolveError] = []
    lists = build_targets(args.targets, args.version, unresolved)
    if not args.json:
        # fping names each one as it reads its targets, then probes the others (exit 2).
        for exc in unresolved:
            print(f"{exc.name}: {exc.reason}", file=sys.stderr)
        sys.stderr.flush()
    if not lists:  # nothing left to probe
        if args.json:
            from netladder.output import emit_json

            emit_json(to_json([], unresolved))
        return EXIT_USAGE
    options = SweepOptions(
        probes=args.count,
        timeout_ms=args.timeout,
        retries=args.retries,
        backoff=args.backoff,
        rate=args.rate,
        period_ms=args.period,
        size=args.size,
        prefer=args.socket,
    )
    total = sum(len(tl) for tl in lists)
    results: list[SweepResult] = []
    with progress("sweep", total, enabled=not args.json) as bar:
        for tl in lists:
            results.append(run_sweep(tl, options, bar.advance))
            if results[-1].interrupted:
                break
    interrupted = any(r.interrupted for r in results)
    if args.json:
        from netladder.output import emit_json

        emit_json(to_json(results, unresolved))
    else:
        icmp_errors(results, sys.stderr)
        render(results, args.alive, args.unreachable, count_mode=args.count is not None)
    if interrupted:
        return EXIT_INTERRUPTED
    if unresolved:
        return EXIT_USAGE  # fping: 2 when a name was not found, whatever the others did
    all_alive = all(r.alive_count == len(r.targets) for r in results)
    return EXIT_OK if all_alive else EXIT_FAIL


def target_line(r: SweepResult, i: int, width: int) -> str:
    """fping's per-target summary: `host : xmt/rcv/%loss = 3/3/0%, min/avg/max = a/b/c`."""
    from netladder.l3.stats import fping_loss
    from netladder.output import fmt_ms

    sent, rcvd = r.sent[i], r.received[i]
    line = (
        f"{r.targets.label(i):<{width}} : xmt/rcv/%loss = {sent}/{rcvd}/{fping_loss(sent, rcvd)}%"
    )
    rtt = r.rtt_ms(i)
    if rtt is not None:
        line += ", min/avg/max = " + "/".join(fmt_ms(v) for v in rtt)
    return line


def icmp_errors(results: list[SweepResult], stream: Any) -> None:
    """One line per probe the kernel refused to send and per ICMP error about a probe, in
    order, as fping prints them: `H: error while sending ping: Permission denied`, `ICMP
    Network Unreachable from 203.0.113.1 for ICMP Echo sent to 198.51.100.200`."""
    import os

    from netladder.proto.icmp import error_text

    lines = []
    for r in results:
        label = r.targets.label
        for i, err in zip(r.send_error_index, r.send_error_errno, strict=True):
            lines.append(f"{label(i)}: error while sending ping: {os.strerror(err)}\n")
    for r in results:
        label = r.targets.label
        v4 = r.targets.version == 4
        for i, icmp_type, code, sender in r.error_events():
            if not v4:
                text = error_text(6, icmp_type, code)
            elif icmp_type == 3:
                text = (
                    FPING_UNREACHABLE[code]
                    if code < len(FPING_UNREACHABLE)
                    else "ICMP Unreachable (Invalid Code)"
                )
            else:
                text = FPING_TYPES.get(icmp_type, f"ICMP {icmp_type}")
            lines.append(f"{text} from {sender} for ICMP Echo sent to {label(i)}\n")
    if lines:
        stream.write("".join(lines))
        stream.flush()


def render(
    results: list[SweepResult], alive: bool, unreachable: bool, count_mode: bool = False
) -> None:
    out = sys.stdout
    write = out.write
    if alive or unreachable:
        for r in results:
            wanted = r.alive_indices() if alive else r.unreachable_indices()
            label = r.targets.label
            write("".join(label(i) + "\n" for i in wanted))
        out.flush()
        totals(results, sys.stderr)
        return
    if not count_mode:
        # fping's default output: the alive first (it prints each at its first reply, so in
        # target order when replies come in order), the unreachable at the end.
        for r in results:
            label = r.targets.label
            write("".join(label(i) + " is alive\n" for i in r.alive_indices()))
        for r in results:
            label = r.targets.label
            write("".join(label(i) + " is unreachable\n" for i in r.unreachable_indices()))
        out.flush()
        totals(results, sys.stderr)
        return
    for r in results:
        width = max((len(r.targets.label(i)) for i in range(min(len(r.targets), 4096))), default=0)
        write("".join(target_line(r, i, width) + "\n" for i in range(len(r.targets))))
    write("\n")
    totals(results, out)


def totals(results: list[SweepResult], stream: Any) -> None:
    """A totals block like fping -s."""
    targets = sum(len(r.targets) for r in results)
    alive = sum(r.alive_count for r in results)
    lines = [
        f"{targets:>9} targets",
        f"{alive:>9} alive",
        f"{targets - alive:>9} unreachable",
        f"{sum(r.packets_sent for r in results):>9} ICMP Echos sent",
        f"{sum(r.packets_received for r in results):>9} ICMP Echo Replies received",
        f"{sum(r.duplicates for r in results):>9} duplicate replies",
        f"{sum(r.corrupted for r in results):>9} corrupted replies",
        f"{sum(sum(1 for e in r.errors if e) for r in results):>9} targets with ICMP errors",
        f"{sum(r.elapsed_ms for r in results) / 1000:>9.2f} sec (elapsed real time)",
    ]
    stream.write("\n".join(lines) + "\n")
    stream.flush()


def to_json(
    results: list[SweepResult], unresolved: list[ResolveError] | None = None
) -> dict[str, Any]:
    import os

    from netladder.l3.stats import loss_percent
    from netladder.proto.icmp import error_text

    targets = []
    for r in results:
        t = r.targets
        senders = r.last_error_senders()
        refused = r.send_errors()
        for i in range(len(t)):
            rtt = r.rtt_ms(i)
            err = r.last_error[i]
            targets.append(
                {
                    "target": t.label(i),
                    "address": t.address(i),
                    "alive": bool(r.received[i]),
                    "sent": r.sent[i],
                    "received": r.received[i],
                    "loss_percent": loss_percent(r.sent[i], r.received[i]),
                    "min_ms": rtt[0] if rtt else None,
                    "avg_ms": rtt[1] if rtt else None,
                    "max_ms": rtt[2] if rtt else None,
                    "errors": r.errors[i],
                    "last_error": None
                    if err == 0xFFFF
                    else error_text(t.version, err >> 8, err & 0xFF),
                    "last_error_from": senders.get(i),
                    # Sends the kernel refused (EACCES: a broadcast address), and why.
                    "send_errors": refused[i][0] if i in refused else 0,
                    "last_send_error": os.strerror(refused[i][1]) if i in refused else None,
                }
            )
    count = sum(len(r.targets) for r in results)
    alive = sum(r.alive_count for r in results)
    return {
        "command": "sweep",
        "targets": targets,
        # Names that did not resolve: not probed (fping: exit 2).
        "unresolved": [{"target": e.name, "reason": e.reason} for e in unresolved or ()],
        "totals": {
            "targets": count,
            "alive": alive,
            "unreachable": count - alive,
            "sent": sum(r.packets_sent for r in results),
            "received": sum(r.packets_received for r in results),
            "duplicates": sum(r.duplicates for r in results),
            "corrupted": sum(r.corrupted for r in results),
            "elapsed_ms": sum(r.elapsed_ms for r in results),
            "interrupted": any(r.interrupted for r in results),
        },
    }
