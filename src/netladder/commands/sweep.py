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
from collections.abc import Iterable, Iterator
from typing import IO, Any

from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from netladder.i18n import N_, _


def _number(low: float, what: str, integer: bool = False) -> Any:
    """An argparse type: a number at least `low`; `what` names it (an N_ message)."""

    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                _("invalid {what} {text!r}").format(what=_(what), text=text)
            ) from None
        if not math.isfinite(value) or value < low:
            raise argparse.ArgumentTypeError(
                _("{what} must be at least {low:g}: {text!r}").format(
                    what=_(what), low=low, text=text
                )
            )
        return value

    return parse


def register(parser: argparse.ArgumentParser) -> None:
    from netladder.args import add_explain, add_json

    parser.add_argument(
        "targets",
        nargs="+",
        metavar="TARGET|CIDR|A-B",
        help=_(
            "addresses, names, CIDR blocks (network and broadcast skipped except /31 and "
            "/32, like fping -g CIDR) or ranges A-B (both included, like fping -g A B)"
        ),
    )
    parser.add_argument(
        "--count",
        type=_number(1, N_("count"), True),
        default=None,
        help=_("probes per target (fping -c); default: until the first reply"),
    )
    parser.add_argument(
        "--timeout",
        type=_number(1, N_("timeout")),
        default=500.0,
        metavar="MS",
        help=_("first timeout in ms (fping -t; default 500)"),
    )
    parser.add_argument(
        "--retries",
        type=_number(0, N_("retries"), True),
        default=3,
        help=_("retries for a silent target, each timeout ×--backoff (fping -r; default 3)"),
    )
    parser.add_argument(
        "--backoff",
        type=_number(1, N_("backoff")),
        default=1.5,
        help=_("timeout factor per retry (fping -B; default 1.5)"),
    )
    parser.add_argument(
        "--period",
        type=_number(1, N_("period")),
        default=1000.0,
        metavar="MS",
        help=_("ms between probes to one target with --count (fping -p)"),
    )
    parser.add_argument(
        "--rate",
        type=_number(0, N_("rate")),
        default=None,
        metavar="PPS",
        help=_(
            "probes per second over all targets, never in bursts (default 1000; with "
            "--count 100, fping's 10 ms spacing; 0: no limit)"
        ),
    )
    parser.add_argument(
        "--size",
        type=_number(0, N_("size"), True),
        default=56,
        help=_("echo data bytes (default 56; at least 22 are sent)"),
    )
    listing = parser.add_mutually_exclusive_group()
    listing.add_argument(
        "--alive", action="store_true", help=_("print only the targets that answered (fping -a)")
    )
    listing.add_argument(
        "--unreachable",
        action="store_true",
        help=_("print only the targets that did not (fping -u)"),
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4, help=_("IPv4 only"))
    family.add_argument("-6", dest="version", action="store_const", const=6, help=_("IPv6 only"))
    parser.add_argument(
        "--socket",
        choices=("dgram", "raw"),
        default=None,
        help=_("force the datagram (unprivileged) or the raw ICMP socket"),
    )
    add_json(parser)
    add_explain(parser)


def run(args: argparse.Namespace) -> int:
    # Everything imported from here lives until exit: no collection while the engine loads
    # (each would walk every object so far), then none of it in any later one, including the
    # one at interpreter exit (≈10 ms of a one-shot command's start-up budget).
    gc.disable()
    from contextlib import ExitStack

    from netladder import api
    from netladder.l3.sweep_model import SweepOptions, SweepProgress, SweepStarted, Unresolved
    from netladder.net.driver import blocking
    from netladder.output import Progress, progress
    from netladder.render import sweep as render

    sweep = api.sweep  # loads the engine
    gc.freeze()
    gc.enable()

    options = SweepOptions(
        targets=tuple(args.targets),
        count=args.count,
        timeout=args.timeout / 1000,
        retries=args.retries,
        backoff=args.backoff,
        rate=args.rate,
        period=args.period / 1000,
        size=args.size,
        version=args.version,
        socket=args.socket,
    )
    bar: list[Progress] = []

    def heard(event: Unresolved | SweepStarted | SweepProgress) -> None:
        if isinstance(event, SweepProgress):
            if bar:
                bar[0].advance(event.targets)
        elif args.json:
            return
        elif isinstance(event, Unresolved):
            # fping names each one as it reads its targets, then probes the others (exit 2).
            _write(sys.stderr, (render.unresolved_line(event),))
        else:
            bar.append(stack.enter_context(progress("sweep", event.targets)))

    with ExitStack() as stack:
        result = blocking(sweep(options, on_event=heard))

    def lines() -> Iterator[str]:
        """fping's lines: the stdout ones yielded (report() prints them), the stderr ones
        written in their place between them."""
        _write(sys.stderr, render.stderr_lines(result))
        if args.alive or args.unreachable:
            yield from render.listing(result, alive=args.alive)
            sys.stdout.flush()
            _write(sys.stderr, render.totals(result))
        elif args.count is None:
            yield from render.alive_lines(result)
            sys.stdout.flush()
            _write(sys.stderr, render.totals(result))
        else:
            yield from render.count_lines(result)
            yield ""
            yield from render.totals(result)

    if args.json or result.results:
        from netladder.render.report import report

        report(
            result,
            lines,
            as_json=args.json,
            explain=(lambda c: c.keys_sweep(result)) if args.explain and result.results else None,
        )
        sys.stdout.flush()
    if not result.results:  # nothing left to probe
        return EXIT_USAGE
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.unresolved:
        return EXIT_USAGE  # fping: 2 when a name was not found, whatever the others did
    return EXIT_OK if result.all_alive else EXIT_FAIL


def _write(stream: IO[str], lines: Iterable[str]) -> None:
    stream.write("".join(line + "\n" for line in lines))
    stream.flush()
