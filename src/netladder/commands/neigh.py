"""`netladder neigh`: the ARP and NDP table with states, the default gateway's entry marked;
`neigh --check [TARGET]`: the table's MAC for the next hop against a live reply;
`neigh watch`: neighbour changes as they happen, in arpwatch's terms."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from netladder.args import add_json, positive_float, positive_int
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, UsageError
from netladder.output import emit_json, paint, to_jsonable

__all__ = ["register", "run"]

_STATE_COLOURS = {
    "REACHABLE": "green",
    "PERMANENT": "cyan",
    "STALE": "yellow",
    "DELAY": "yellow",
    "PROBE": "yellow",
    "FAILED": "red",
    "INCOMPLETE": "red",
}


def register(parser: argparse.ArgumentParser) -> None:
    # One positional: `watch`, or the TARGET of --check.  (--check's own optional value would
    # stop taking TARGET once another option comes between them: `--check --json TARGET`.)
    parser.add_argument(
        "action",
        nargs="?",
        metavar="watch|TARGET",
        help="watch: follow neighbour changes live (arpwatch's events); "
        "TARGET: the destination for --check",
    )
    parser.add_argument(
        "--check",
        nargs="?",
        const="",
        default=None,
        metavar="TARGET",
        help="compare the table's MAC of the next hop towards TARGET (default: "
        "the default gateways) with a live ARP/NDP reply",
    )
    parser.add_argument("-I", "--iface", metavar="IFACE", help="only this interface")
    parser.add_argument(
        "-c", "--count", type=positive_int, metavar="N", help="watch: stop after N events"
    )
    parser.add_argument(
        "--duration", type=positive_float, metavar="SEC", help="watch: stop after SEC seconds"
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    if args.action not in (None, "watch"):
        if args.check is None:
            raise UsageError(
                f"netladder neigh: {args.action!r} is neither 'watch' nor an "
                "option; a TARGET goes with --check"
            )
        if args.check:
            raise UsageError(
                f"netladder neigh --check: one TARGET ({args.check!r} or {args.action!r})"
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

    table = asyncio.run(neighbour_table(args.iface))
    if args.json:
        emit_json(table)
        return EXIT_OK
    out = sys.stdout
    if not table.entries:
        print(
            "the neighbour table is empty" + (f" on {args.iface}" if args.iface else ""), file=out
        )
        return EXIT_OK
    width = max(len(e.address) for e in table.entries)
    ifw = max(len(e.iface) for e in table.entries)
    print(
        paint(
            f"{'ADDRESS':<{width}}  {'MAC':<17}  {'STATE':<10}  {'IFACE':<{ifw}}",
            "bold",
            stream=out,
        ),
        file=out,
    )
    for e in table.entries:
        colour = _STATE_COLOURS.get(e.state.split("|")[0])
        state = f"{e.state:<10}"
        marks = []
        if e.gateway:
            marks.append("default gateway")
        if e.router and not e.gateway:
            marks.append("router")
        note = f"  <- {', '.join(marks)}" if marks else ""
        print(
            f"{e.address:<{width}}  {e.mac or '-':<17}  "
            f"{paint(state, colour, stream=out) if colour else state}  "
            f"{e.iface:<{ifw}}{note}",
            file=out,
        )
    missing = [
        d
        for d in table.gateways
        if d.gateway and not any(e.gateway and e.address == d.gateway for e in table.entries)
    ]
    for d in missing:
        print(
            paint(f"default gateway {d.gateway} ({d.iface}) has no entry yet", "dim", stream=out),
            file=out,
        )
    return EXIT_OK


# -- the check ---------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    from netladder.l2.neigh import check_gateways, check_next_hop
    from netladder.l2.probe import require_raw
    from netladder.l2.route import parse_destination

    target = parse_destination(args.check) if args.check else None
    if args.iface:
        from netladder.l2.route import ifindex

        ifindex(args.iface)
    require_raw()
    if target is None:
        checks = asyncio.run(check_gateways())
    else:
        checks = (asyncio.run(check_next_hop(target, iface=args.iface)),)
    ok = all(c.ok for c in checks)
    interrupted = any(c.probe is not None and c.probe.interrupted for c in checks)
    code = EXIT_INTERRUPTED if interrupted else EXIT_OK if ok else EXIT_FAIL
    if args.json:
        emit_json(
            {"ok": ok, "interrupted": interrupted, "checks": [_check_json(c) for c in checks]}
        )
        return code
    out = sys.stdout
    for c in checks:
        colour = "green" if c.ok else "red"
        print(paint(c.summary, colour, stream=out), file=out)
        if c.probe is not None:
            from netladder.commands.arp import reply_line

            for reply in c.probe.replies:
                print(f"  {reply_line(reply)}", file=out)
        if c.fix:
            print(f"  fix: {c.fix}", file=out)
    if interrupted:
        print("interrupted: the live probe did not finish", file=out)
    return code


def _check_json(c: Any) -> dict[str, Any]:
    doc: dict[str, Any] = to_jsonable(c)
    doc["ok"] = c.ok
    if c.probe is not None:
        from netladder.commands.arp import as_json

        doc["probe"] = as_json(c.probe)
    return doc


# -- watch -------------------------------------------------------------------------------------


def _watch(args: argparse.Namespace) -> int:
    from netladder.l2.watch import Event, watch

    events: list[Event] = []
    out = sys.stdout
    started = time.monotonic()

    def on_ready() -> None:
        # On stderr even with --json: whoever drives the watch knows from here it is live.
        where = f" on {args.iface}" if args.iface else ""
        print(
            paint(f"watching neighbour changes{where} (Ctrl-C to stop)", "dim", stream=sys.stderr),
            file=sys.stderr,
            flush=True,
        )

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


def event_line(event: Any) -> str:
    """arpwatch's wording: `changed ethernet address 203.0.113.1 NEW (OLD) IFACE`."""
    when = time.strftime("%H:%M:%S", time.localtime(event.time))
    old = f" ({event.old_mac})" if event.old_mac else ""
    colour = {
        "new station": "green",
        "changed ethernet address": "red",
        "flip flop": "yellow",
        "reused old ethernet address": "yellow",
    }[str(event.kind)]
    return f"{when} {paint(str(event.kind), colour)} {event.address} {event.mac}{old} {event.iface}"
