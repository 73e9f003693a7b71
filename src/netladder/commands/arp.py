"""`netladder arp TARGET`: active ARP requests (IPv4) or Neighbor Solicitations (IPv6), with
the RTT of each reply, in arping's manner; two stations answering for one address are reported
as a conflict; `--dad` is RFC 5227 duplicate-address detection (sender 0.0.0.0)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from netladder.args import add_json, positive_float, positive_int
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK
from netladder.l2.probe import ProbeResult, Reply, prepare, probe
from netladder.output import emit_json, fmt_ms, paint, to_jsonable

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET", help="an IPv4 or IPv6 address on a local link")
    parser.add_argument(
        "-c",
        "--count",
        type=positive_int,
        default=None,
        help="requests to send (default 3; with -w, until the deadline)",
    )
    parser.add_argument(
        "-w",
        "--deadline",
        type=positive_float,
        metavar="SEC",
        help="stop after this many seconds, whatever happened",
    )
    parser.add_argument(
        "-i",
        "--interval",
        type=positive_float,
        default=1.0,
        metavar="SEC",
        help="seconds between requests (default 1)",
    )
    parser.add_argument(
        "-W",
        "--wait",
        type=positive_float,
        default=1.0,
        metavar="SEC",
        help="seconds to wait for replies after the last request (default 1)",
    )
    parser.add_argument(
        "-I",
        "--iface",
        metavar="IFACE",
        help="the interface (default: the one the route to TARGET uses)",
    )
    parser.add_argument(
        "--dad",
        action="store_true",
        help="duplicate address detection (RFC 5227): probe from 0.0.0.0; "
        "exit 0 when the address is free",
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    count = args.count if args.count is not None else (None if args.deadline else 3)
    return asyncio.run(_run(args, count))


async def _run(args: argparse.Namespace, count: int | None) -> int:
    setup = await prepare(args.target, args.iface, dad=args.dad)
    out = sys.stdout
    live = not args.json

    def show(reply: Reply) -> None:
        if live:
            print(reply_line(reply), file=out, flush=True)

    if live:
        source = setup.source
        print(
            f"{'ARPING' if setup.version == 4 else 'NDPING'} {setup.target} from {source} "
            f"{setup.iface}",
            file=out,
            flush=True,
        )
    result = await probe(
        setup,
        count=count,
        interval=args.interval,
        wait=args.wait,
        deadline=args.deadline,
        on_reply=show,
    )
    if args.json:
        emit_json(as_json(result))
    else:
        for line in summary(result):
            print(line, file=out)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAIL


def reply_line(reply: Reply) -> str:
    """arping's line: `Unicast reply from 203.0.113.1 [02:AA:BB:CC:DD:EE]  0.688ms`."""
    how = "Broadcast" if reply.broadcast else "Unicast"
    what = {"reply": "reply", "advert": "reply", "request": "request", "probe": "probe"}[reply.kind]
    line = f"{how} {what} from {reply.address} [{reply.mac.upper()}]  {fmt_ms(reply.rtt_ms)}ms"
    if reply.ethernet_mismatch:
        line += f"  (frame from {reply.frame_src.upper()}: ethernet mismatch)"
    return line


def summary(result: ProbeResult) -> list[str]:
    setup = result.setup
    lines = [
        f"Sent {result.sent} probes ({result.sent} "
        f"{'broadcast' if setup.version == 4 else 'multicast'}(s))",
        f"Received {result.received} response(s)",
    ]
    if result.duplicates:
        lines.append(
            f"  +{result.duplicates} duplicate(s): a station answering one request "
            "again, not counted"
        )
    proto = "ARP" if setup.version == 4 else "NDP"
    if result.dropped:
        lines.append(
            paint(
                f"the kernel dropped {result.dropped} frame(s), the socket's buffer "
                "full (a flood): stations that answered may be missing",
                "yellow",
            )
        )
    for claim in result.unsolicited:
        lines.append(
            paint(
                f"unsolicited: {claim.mac} claims {setup.target} in {claim.frames} "
                f"{proto} frame(s) that do not answer us (gratuitous, or to other "
                "stations): a duplicate address or spoofing",
                "red",
            )
        )
    if result.conflict:
        lines.append(
            paint(
                f"conflict: {len(result.macs)} stations answer for {setup.target}: "
                f"{', '.join(result.macs)} (a duplicate address on {setup.iface})",
                "red",
            )
        )
    if setup.dad:
        if result.replies:
            mine = ", this host's own address," if setup.own else ""
            lines.append(
                paint(
                    f"duplicate: {setup.target}{mine} is in use by {', '.join(result.macs)}", "red"
                )
            )
        elif not result.interrupted:
            lines.append(
                paint(
                    f"{setup.target} is free on {setup.iface} (no station answered "
                    "the duplicate-address probe)",
                    "green",
                )
            )
    elif not result.replies and not result.interrupted:
        lines.append(paint(f"no reply: nothing on {setup.iface} answers for {setup.target}", "red"))
    return lines


def as_json(result: ProbeResult) -> dict[str, object]:
    doc: dict[str, object] = to_jsonable(result.setup)
    doc.update(
        sent=result.sent,
        received=result.received,
        replies=[
            {**to_jsonable(r), "ethernet_mismatch": r.ethernet_mismatch} for r in result.replies
        ],
        macs=list(result.macs),
        conflict=result.conflict,
        duplicates=result.duplicates,
        dropped=result.dropped,
        unsolicited=[to_jsonable(c) for c in result.unsolicited],
        ok=result.ok,
        elapsed_ms=round(result.elapsed_ms, 3),
        interrupted=result.interrupted,
    )
    return doc
