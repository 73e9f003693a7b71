"""`netladder myip`: the public address from HTTP echo endpoints and STUN, the local source
address beside it, and a note when the sources disagree.

Endpoints: --http/--stun, else NETLADDER_MYIP_HTTP / NETLADDER_MYIP_STUN, else the config file
(~/.config/netladder/myip.toml: `http = ["http://…"]`, `stun = ["host:3478"]`), else built-in
public services (see netladder.names.myip)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from netladder.args import add_json, positive_float
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK
from netladder.names.myip import MyIp, discover, endpoints
from netladder.output import emit_json, fmt_ms, paint

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http",
        action="append",
        default=[],
        metavar="URL",
        help="an HTTP echo endpoint answering the caller's address as text or "
        'JSON {"ip": …} (repeatable)',
    )
    parser.add_argument(
        "--stun",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="a STUN server (repeatable; port 3478 by default)",
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4, help="IPv4 only")
    family.add_argument("-6", dest="version", action="store_const", const=6, help="IPv6 only")
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=3.0,
        metavar="S",
        help="one deadline for all sources, in seconds (default 3)",
    )
    add_json(parser)
    parser.epilog = (
        "Without --http/--stun: NETLADDER_MYIP_HTTP and NETLADDER_MYIP_STUN, else "
        "~/.config/netladder/myip.toml (http = [...], stun = [...]; "
        "NETLADDER_MYIP_CONFIG names another file), else public services."
    )


def run(args: argparse.Namespace) -> int:
    chosen = endpoints(args.http, args.stun)
    gathered: list[MyIp] = []
    try:
        result = asyncio.run(
            discover(
                chosen.http,
                chosen.stun,
                version=args.version,
                deadline=args.timeout,
                endpoints_from=chosen.source,
                on_interrupt=gathered.append,
            )
        )
    except KeyboardInterrupt:
        if gathered:  # Ctrl-C: print what was gathered, then exit 130
            if args.json:
                emit_json(gathered[0])
            else:
                print(render(gathered[0]))
        return EXIT_INTERRUPTED
    if args.json:
        emit_json(result)
    else:
        print(render(result))
    return EXIT_OK if result.ok else EXIT_FAIL


def render(result: MyIp) -> str:
    out = sys.stdout
    colour = "green" if result.ok and result.agree else ("yellow" if result.ok else "red")
    lines = [paint(result.verdict, colour, "bold", stream=out)]
    width = max((len(s.endpoint) for s in result.sources), default=0)
    for s in result.sources:
        took = f"{fmt_ms(s.time_ms)} ms" if s.time_ms is not None else "-"
        label = f"  {s.kind:<4} {s.endpoint:<{width}}  "
        if s.ok:
            mapped = f":{s.mapped_port}" if s.mapped_port is not None else ""
            local = ""
            if s.local_address:
                port = f":{s.local_port}" if s.mapped_port is not None else ""
                local = f"  (local {s.local_address}{port})"
            lines.append(f"{label}{s.address}{mapped}{local}  {took}")
        else:
            lines.append(label + paint(f"failed: {s.error}", "red", stream=out) + f"  {took}")
    lines += [paint(f"  note: {n}", "dim", stream=out) for n in result.notes]
    lines.append(paint(f"  endpoints from {result.endpoints_from}", "dim", stream=out))
    return "\n".join(lines)
