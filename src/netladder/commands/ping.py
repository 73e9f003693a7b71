"""`netladder ping TARGET...`: ICMP echo with iputils ping's output, statistics and exit codes,
several targets at once, and a JSON document with what iputils lacks (every sample, median,
p95, jitter, sample SD, reply TTLs)."""

from __future__ import annotations

import argparse
import gc
import math
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK
from netladder.i18n import N_, _

if TYPE_CHECKING:
    from netladder.l3.model import PingEvent, PingStarted


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("invalid count {text!r}").format(text=text)) from None
    if not 1 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(_("count must be at least 1: {text!r}").format(text=text))
    return value


def _seconds(allow_zero: bool) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                _("not a number of seconds: {text!r}").format(text=text)
            ) from None
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(_("invalid time {text!r}").format(text=text))
        return value

    return parse


def _int_range(low: int, high: int, what: str) -> Any:
    """An argparse type: a whole number in low..high; `what` names it (an N_ message, or a
    name every language says alike: TTL)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                _("invalid {what} {text!r}").format(what=_(what), text=text)
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                _("{what} {value} out of range {low}-{high}").format(
                    what=_(what), value=value, low=low, high=high
                )
            )
        return value

    return parse


def register(parser: argparse.ArgumentParser) -> None:
    from netladder.args import add_explain, add_json

    parser.add_argument("targets", nargs="+", metavar="TARGET", help=_("host names or addresses"))
    parser.add_argument("-c", dest="count", type=_count, help=_("stop after COUNT probes"))
    parser.add_argument(
        "-i",
        dest="interval",
        type=_seconds(True),
        default=1.0,
        help=_("seconds between probes (default 1; under 0.002 needs root)"),
    )
    parser.add_argument(
        "-W",
        dest="wait",
        type=_seconds(False),
        default=None,
        help=_(
            "seconds to wait for a reply after the last probe when nothing "
            "came back (default 10; else twice the longest RTT)"
        ),
    )
    parser.add_argument(
        "-w",
        dest="deadline",
        type=_seconds(False),
        help=_("stop after this many seconds, whatever happens"),
    )
    parser.add_argument(
        "-s",
        dest="size",
        type=_int_range(0, 65527, N_("size")),
        default=56,
        help=_("data bytes per probe (default 56)"),
    )
    parser.add_argument("-t", dest="ttl", type=_int_range(1, 255, "TTL"), help=_("IP TTL"))
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4, help=_("IPv4 only"))
    family.add_argument("-6", dest="version", action="store_const", const=6, help=_("IPv6 only"))
    parser.add_argument(
        "-I",
        dest="interface",
        metavar="IFACE|ADDR",
        help=_("send from this interface or source address"),
    )
    parser.add_argument(
        "-b",
        dest="broadcast",
        action="store_true",
        help=_("allow pinging a broadcast address (every host that answers is counted)"),
    )
    parser.add_argument(
        "-q", dest="quiet", action="store_true", help=_("quiet: only the header and the summary")
    )
    parser.add_argument(
        "-n",
        dest="numeric",
        action="store_true",
        help=_("numeric output (always: netladder never looks up PTR names)"),
    )
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
    from netladder import api
    from netladder.l3.model import PingOptions, PingStarted
    from netladder.net.driver import blocking
    from netladder.render import ping as render

    ping = api.ping  # loads the engine
    gc.freeze()
    gc.enable()

    device = source = None
    if args.interface:
        import ipaddress

        try:
            source = str(ipaddress.ip_address(args.interface))
        except ValueError:
            device = args.interface
    options = PingOptions(
        targets=tuple(args.targets),
        count=args.count,
        interval=args.interval,
        wait=args.wait if args.wait is not None else 10.0,
        deadline=args.deadline,
        size=args.size,
        ttl=args.ttl,
        version=args.version,
        device=device,
        source=source,
        socket=args.socket,
        broadcast=args.broadcast,
    )
    lines = not args.json and not args.quiet

    def show(run: PingStarted, event: PingEvent) -> None:
        if isinstance(event, PingStarted):
            if args.json:
                return
            if event.broadcast:
                print(render.TEMPLATES["broadcast"], file=sys.stderr, flush=True)
        elif not lines:
            return
        print(render.event_line(run, event), flush=True)

    results = blocking(ping(options, on_event=show))
    for r in results:
        if r.send_error is not None:
            import os

            from netladder.errors import from_oserror

            error = OSError(r.send_error, os.strerror(r.send_error))
            raise from_oserror(error, "cannot send to {address}", address=r.target.address)

    def summaries() -> Iterator[str]:
        for r in results:
            yield ""
            yield from render.summary(r)

    from netladder.render.report import report

    report(
        {"command": "ping", "targets": results},
        summaries,
        as_json=args.json,
        explain=(lambda c: c.keys_ping(results)) if args.explain else None,
    )
    sys.stdout.flush()
    if any(r.interrupted for r in results):
        return EXIT_INTERRUPTED
    return EXIT_OK if all(r.success for r in results) else EXIT_FAIL
