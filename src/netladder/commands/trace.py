"""`netladder trace TARGET`: traceroute (one-shot) and mtr's report (--cycles N), with a verdict."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

from netladder.args import add_json, port_number, positive_float, positive_int
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, UsageError
from netladder.output import emit_json, fmt_ms, paint

if TYPE_CHECKING:
    from netladder.path.model import Hop, TraceResult


def _ttl(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 255:
        raise argparse.ArgumentTypeError(f"TTL out of range (1-255): {text}")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="address or name to trace")
    parser.add_argument(
        "--proto",
        choices=("udp", "icmp", "tcp"),
        default="udp",
        help="probe protocol (default udp, as traceroute)",
    )
    parser.add_argument(
        "-p",
        "--port",
        type=port_number,
        help="destination port (udp: 33434, tcp: 80); constant for the trace",
    )
    parser.add_argument(
        "-q", "--queries", type=positive_int, default=3, help="probes per hop (default 3)"
    )
    parser.add_argument("-f", "--first", type=_ttl, default=1, help="first TTL (default 1)")
    parser.add_argument("-m", "--max", type=_ttl, default=30, help="max TTL (default 30)")
    parser.add_argument(
        "-N",
        "--parallel",
        type=positive_int,
        default=16,
        help="probes in flight at once (default 16)",
    )
    parser.add_argument(
        "-w",
        "--wait",
        type=positive_float,
        default=5.0,
        help="longest wait for an answer, seconds (default 5; tcp at most 1)",
    )
    parser.add_argument(
        "--cycles", type=positive_int, help="report mode: N cycles of probes, mtr-style statistics"
    )
    parser.add_argument(
        "-i",
        "--interval",
        type=positive_float,
        default=1.0,
        help="seconds between report cycles (default 1)",
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4, help="IPv4 only")
    family.add_argument("-6", dest="version", action="store_const", const=6, help="IPv6 only")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    if args.max < args.first:
        raise UsageError(f"netladder trace: max TTL {args.max} is below first TTL {args.first}")
    if args.queries > 10:
        raise UsageError("netladder trace: at most 10 queries per hop")
    from netladder.path.engine import trace_sync

    live = _Live(sys.stdout) if args.cycles and not args.json and sys.stdout.isatty() else None

    def on_cycle(result: TraceResult) -> None:
        if live is not None:
            live.show(render_report(result))

    try:
        result = trace_sync(
            args.target,
            protocol=args.proto,
            port=args.port,
            queries=args.queries,
            first_ttl=args.first,
            max_ttl=args.max,
            parallel=args.parallel,
            wait=args.wait,
            cycles=args.cycles,
            interval=args.interval,
            version=args.version,
            on_cycle=on_cycle,
        )
    except KeyboardInterrupt:  # before the first probe: nothing gathered
        return EXIT_INTERRUPTED
    _print(result, args, live)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.reached else EXIT_FAIL


def _print(result: TraceResult, args: argparse.Namespace, live: _Live | None) -> None:
    if args.json:
        emit_json(result)
        return
    if result.cycles:
        text = render_report(result)
        if live is not None:
            live.show(text)
        else:
            print(text)
    else:
        print(render_one_shot(result))
    print(render_verdict(result))


class _Live:
    """A table redrawn in place on a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lines = 0

    def show(self, text: str) -> None:
        if self.lines:
            self.stream.write(f"\x1b[{self.lines}F\x1b[J")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.lines = text.count("\n") + 1


def _header(result: TraceResult) -> str:
    proto = result.protocol
    where = f"{proto} port {result.port}" if result.port else proto
    flow = "constant flow (Paris)" if result.flow_constant else "flow varies per probe"
    name = (
        f"{result.target} ({result.address})" if result.target != result.address else result.address
    )
    return f"trace to {name}, {result.max_ttl} hops max, {where}, {flow}"


def render_one_shot(result: TraceResult) -> str:
    """traceroute's layout: the responder, then each probe's time or `*`."""
    lines = [_header(result)]
    for hop in result.hops:
        parts = [f"{hop.ttl:2d} "]
        shown: str | None = None
        for probe in hop.probes:
            if probe.address is None:
                parts.append(" *")
                continue
            if probe.address != shown:
                parts.append(f" {probe.address}")
                shown = probe.address
            note = f" {probe.annotation}" if probe.annotation else ""
            parts.append(f"  {fmt_ms(probe.rtt_ms or 0.0)} ms{note}")
        lines.append("".join(parts))
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return f"{value:6.1f}" if value is not None else f"{'':>6}"


def render_report(result: TraceResult) -> str:
    """mtr -r's layout; several responders on one TTL are listed under it."""
    import socket

    columns = "".join(
        f"{c:>6}" for c in ("Loss%", "Snt", "Last", "Avg", "Best", "Wrst", "StDev", "Javg", "Jmax")
    )
    lines = [_header(result), f"{'HOST: ' + socket.gethostname():<35}{columns}"]
    for hop in result.hops:
        lines.append(_report_line(hop))
        for other in hop.responders[1:]:
            lines.append(f"    |  `|-- {other}")
    return "\n".join(lines)


def _report_line(hop: Hop) -> str:
    s = hop.stats
    name = hop.address or "???"
    return (
        f"{hop.ttl:3d}.|-- {name:<27}{s.loss_pct:5.1f}%{s.sent:6d}"
        f"{_cell(s.last_ms)}{_cell(s.avg_ms)}{_cell(s.best_ms)}{_cell(s.worst_ms)}"
        f"{_cell(s.stdev_ms)}{_cell(s.javg_ms)}{_cell(s.jmax_ms)}"
    ).rstrip()


def render_verdict(result: TraceResult) -> str:
    v = result.verdict
    colour = {"ok": "green", "latency": "yellow", "loss": "yellow"}.get(v.kind, "red")
    lines = [paint(f"verdict: {v.text}", colour)]
    lines.extend(f"note: {n}" for n in v.notes)
    return "\n".join(lines)
