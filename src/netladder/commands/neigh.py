"""`netladder neigh`: the ARP and NDP table with states, the default gateway's entry marked;
`neigh --check [TARGET]`: the table's MAC for the next hop against a live reply;
`neigh watch`: neighbour changes as they happen, in arpwatch's terms."""

from __future__ import annotations

import argparse
import sys
import time

from netladder.args import add_explain, add_json, positive_float, positive_int
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, UsageError
from netladder.i18n import _

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    # One positional: `watch`, or the TARGET of --check.  (--check's own optional value would
    # stop taking TARGET once another option comes between them: `--check --json TARGET`.)
    parser.add_argument(
        "action",
        nargs="?",
        metavar="watch|TARGET",
        help=_(
            "watch: follow neighbour changes live (arpwatch's events); "
            "TARGET: the destination for --check"
        ),
    )
    parser.add_argument(
        "--check",
        nargs="?",
        const="",
        default=None,
        metavar="TARGET",
        help=_(
            "compare the table's MAC of the next hop towards TARGET (default: "
            "the default gateways) with a live ARP/NDP reply"
        ),
    )
    parser.add_argument("-I", "--iface", metavar="IFACE", help=_("only this interface"))
    parser.add_argument(
        "-c", "--count", type=positive_int, metavar="N", help=_("watch: stop after N events")
    )
    parser.add_argument(
        "--duration", type=positive_float, metavar="SEC", help=_("watch: stop after SEC seconds")
    )
    add_json(parser)
    add_explain(parser)


def run(args: argparse.Namespace) -> int:
    if args.action not in (None, "watch"):
        if args.check is None:
            raise UsageError(
                "netladder neigh: {action!r} is neither 'watch' nor an option; a TARGET goes "
                "with --check",
                action=args.action,
            )
        if args.check:
            raise UsageError(
                "netladder neigh --check: one TARGET ({check!r} or {action!r})",
                check=args.check,
                action=args.action,
            )
        args.check, args.action = args.action, None
    if args.action == "watch":
        if args.check is not None:
            raise UsageError("netladder neigh: --check and watch are separate actions")
        return _watch(args)
    if args.count is not None or args.duration is not None:
        raise UsageError("netladder neigh: --count and --duration belong to 'neigh watch'")
    if args.check is not None:
        return _check(args)
    return _table(args)


# -- the table ---------------------------------------------------------------------------------


def _table(args: argparse.Namespace) -> int:
    from netladder.l2.neigh import neighbour_table

    table = neighbour_table(args.iface)
    if args.json:
        from netladder.output import emit_json

        emit_json(table)
        return EXIT_OK
    from netladder.render.neigh import table_lines

    for line in table_lines(table, args.iface):
        print(line)
    return EXIT_OK


# -- the check ---------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    from netladder.l2.model import NeighReport
    from netladder.l2.neigh import check_gateways, check_next_hop
    from netladder.l2.probe import require_raw
    from netladder.l2.route import ifindex, parse_destination
    from netladder.net.driver import blocking
    from netladder.render import neigh as render
    from netladder.render.report import report as say

    target = parse_destination(args.check) if args.check else None
    if args.iface:
        ifindex(args.iface)
    require_raw()
    if target is None:
        checks = blocking(check_gateways())
    else:
        checks = (blocking(check_next_hop(target, iface=args.iface)),)
    report = NeighReport(checks)
    code = EXIT_INTERRUPTED if report.interrupted else EXIT_OK if report.ok else EXIT_FAIL
    say(
        report,
        lambda: render.check_lines(report),
        as_json=args.json,
        sentence=render.sentence,
        explain=(lambda c: c.keys_neigh(report)) if args.explain else None,
    )
    return code


# -- watch -------------------------------------------------------------------------------------


def _watch(args: argparse.Namespace) -> int:
    import asyncio

    from netladder.l2.watch import Event, watch
    from netladder.output import emit_json, paint
    from netladder.render.neigh import event_line, watching

    events: list[Event] = []
    out = sys.stdout
    started = time.monotonic()

    def on_ready() -> None:
        # On stderr even with --json: whoever drives the watch knows from here it is live.
        print(paint(watching(args.iface), "dim", stream=sys.stderr), file=sys.stderr, flush=True)

    async def follow() -> bool:
        done = asyncio.Event()

        def on_event(event: Event) -> None:
            events.append(event)
            if not args.json:
                print(event_line(event), file=out, flush=True)
            if args.count is not None and len(events) >= args.count:
                done.set()

        task = asyncio.create_task(watch(on_event, args.iface, on_ready))
        stop = asyncio.create_task(done.wait())
        import signal

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        try:
            finished, _ = await asyncio.wait(
                {task, stop}, timeout=args.duration, return_when=asyncio.FIRST_COMPLETED
            )
            if task in finished:
                task.result()  # an error from the watcher: raise it
            return False
        except asyncio.CancelledError:
            return True  # Ctrl-C
        finally:
            task.cancel()
            stop.cancel()

    interrupted = asyncio.run(follow())
    if args.json:
        emit_json(
            {
                "events": events,
                "elapsed_ms": (time.monotonic() - started) * 1000,
                "interrupted": interrupted,
            }
        )
    return EXIT_INTERRUPTED if interrupted else EXIT_OK
