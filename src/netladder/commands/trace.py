"""`netladder trace TARGET`: traceroute (one-shot) and mtr's report (--cycles N), with a verdict."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import IO

from netladder.args import add_explain, add_json, port_number, positive_float, positive_int
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK
from netladder.i18n import _


def _ttl(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("not a whole number: {text!r}").format(text=text)
        ) from None
    if not 1 <= value <= 255:
        raise argparse.ArgumentTypeError(_("TTL out of range (1-255): {text}").format(text=text))
    return value


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help=_("address or name to trace"))
    parser.add_argument(
        "--proto",
        choices=("udp", "icmp", "tcp"),
        default="udp",
        help=_("probe protocol (default udp, as traceroute)"),
    )
    parser.add_argument(
        "-p",
        "--port",
        type=port_number,
        help=_("destination port (udp: 33434, tcp: 80); constant for the trace"),
    )
    parser.add_argument(
        "-q", "--queries", type=positive_int, default=3, help=_("probes per hop (default 3)")
    )
    parser.add_argument("-f", "--first", type=_ttl, default=1, help=_("first TTL (default 1)"))
    parser.add_argument("-m", "--max", type=_ttl, default=30, help=_("max TTL (default 30)"))
    parser.add_argument(
        "-N",
        "--parallel",
        type=positive_int,
        default=16,
        help=_("probes in flight at once (default 16)"),
    )
    parser.add_argument(
        "-w",
        "--wait",
        type=positive_float,
        default=5.0,
        help=_("longest wait for an answer, seconds (default 5; tcp at most 1)"),
    )
    parser.add_argument(
        "--cycles",
        type=positive_int,
        help=_("report mode: N cycles of probes, mtr-style statistics"),
    )
    parser.add_argument(
        "-i",
        "--interval",
        type=positive_float,
        default=1.0,
        help=_("seconds between report cycles (default 1)"),
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4, help=_("IPv4 only"))
    family.add_argument("-6", dest="version", action="store_const", const=6, help=_("IPv6 only"))
    add_json(parser)
    add_explain(parser)


def run(args: argparse.Namespace) -> int:
    from netladder import api
    from netladder.api._trace import TraceCycle, TraceOptions, send_failure
    from netladder.net.driver import blocking
    from netladder.render import trace as render
    from netladder.render.report import report

    options = TraceOptions(
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
    )
    live = _Live(sys.stdout) if args.cycles and not args.json and sys.stdout.isatty() else None
    host = _hostname() if args.cycles and not args.json else ""

    def on_cycle(event: TraceCycle) -> None:
        if live is not None:
            live.show(render.report(event.snapshot, host))

    try:
        result = blocking(api.trace(options, on_event=on_cycle if live is not None else None))
    except KeyboardInterrupt:  # before the first probe: nothing gathered
        return EXIT_INTERRUPTED
    failure = send_failure(result)
    if failure is not None:
        raise failure

    def lines() -> Iterator[str]:
        if result.cycles:
            if live is not None:
                live.show(render.report(result, host))
            else:
                yield from render.report(result, host)
        else:
            yield from render.one_shot(result)
        yield from render.verdict_lines(result)

    report(
        result,
        lines,
        as_json=args.json,
        sentence=render.sentence,
        explain=(lambda c: c.keys_trace(result)) if args.explain else None,
    )
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.reached else EXIT_FAIL


def _hostname() -> str:
    import socket

    return socket.gethostname()


class _Live:
    """A table redrawn in place on a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lines = 0

    def show(self, lines: Iterable[str]) -> None:
        text = "\n".join(lines)
        if self.lines:
            self.stream.write(f"\x1b[{self.lines}F\x1b[J")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.lines = text.count("\n") + 1
