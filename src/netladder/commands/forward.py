"""`netladder forward add|list|delete|verify|proxy`: port forwards that are safe, visible and
proven to work, and a userspace forwarder for when NAT is not an option."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from netladder.args import add_explain, add_json, port_number, positive_float
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, UsageError
from netladder.i18n import _

if TYPE_CHECKING:
    from netladder.nat.proxy import ProxyCounters

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = sub.add_parser(
        "add",
        help=_("forward a port (REDIRECT here, or DNAT to --dest)"),
        description=_(
            "Forward a port with one atomic nft transaction in "
            "netladder's own table (inet netladder)."
        ),
    )
    add.add_argument("--port", type=port_number, required=True, help=_("the port to catch"))
    add.add_argument(
        "--to", type=port_number, required=True, dest="to_port", help=_("the port it goes to")
    )
    add.add_argument(
        "--dest",
        metavar="HOST",
        help=_("another host (DNAT with masquerade); default: this machine (REDIRECT)"),
    )
    add.add_argument("--proto", choices=("tcp", "udp"), default="tcp")
    add.add_argument(
        "--local",
        action="store_true",
        help=_("also forward connections made on this machine (the OUTPUT hook)"),
    )
    add.add_argument(
        "--dry-run",
        action="store_true",
        help=_("print the nft script and the equivalent iptables commands only"),
    )
    add_json(add)

    lst = sub.add_parser(
        "list", help=_("netladder's forwards with counters, and others' NAT rules")
    )
    add_json(lst)

    delete = sub.add_parser("delete", help=_("delete a forward by id, or --all"))
    delete.add_argument("id", nargs="?", metavar="ID")
    delete.add_argument("--all", action="store_true", help=_("delete every netladder forward"))
    add_json(delete)

    verify = sub.add_parser("verify", help=_("prove a forward reaches its target, or say why not"))
    verify.add_argument("--port", type=port_number, required=True)
    verify.add_argument("--proto", choices=("tcp", "udp"), default="tcp")
    verify.add_argument(
        "--from",
        dest="source",
        metavar="NAMESPACE|HOST",
        help=_(
            "connect from this network namespace (or lab node), or from this "
            "local address; default: this machine"
        ),
    )
    verify.add_argument(
        "--via",
        metavar="ADDRESS",
        help=_("this machine's address to connect to (default: the one facing --from)"),
    )
    verify.add_argument("--timeout", type=positive_float, default=2.0, metavar="SECONDS")
    add_json(verify)
    add_explain(verify)

    proxy = sub.add_parser("proxy", help=_("a userspace forwarder (zero-copy TCP, UDP sessions)"))
    proxy.add_argument("listen", metavar="LISTEN", help=_("[ADDRESS:]PORT to listen on"))
    proxy.add_argument("target", metavar="TARGET", help=_("HOST:PORT to forward to"))
    proxy.add_argument("--udp", action="store_true", help=_("forward UDP instead of TCP"))
    proxy.add_argument(
        "--idle",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help=_("close a UDP session after this long without traffic (default 60)"),
    )
    proxy.add_argument(
        "--grace",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help=_("on SIGTERM/Ctrl-C, wait this long for open connections (default 2)"),
    )
    proxy.add_argument("--connect-timeout", type=positive_float, default=10.0, metavar="SECONDS")
    proxy.add_argument(
        "--no-splice", action="store_true", help=_("copy through userspace instead of splice(2)")
    )
    add_json(proxy)


def run(args: argparse.Namespace) -> int:
    action: str = args.action
    if action == "add":
        return asyncio.run(_add(args))
    if action == "list":
        return asyncio.run(_list(args))
    if action == "delete":
        return asyncio.run(_delete(args))
    if action == "verify":
        return asyncio.run(_verify(args))
    return asyncio.run(_proxy(args))


async def _dest_address(text: str | None) -> str | None:
    """--dest through the one resolver (net/targets.py): its validation, the first address."""
    if text is None:
        return None
    from netladder.net.driver import lookup
    from netladder.net.targets import ResolveError, check_host

    check_host(text, "--dest")
    try:
        return (await lookup(text)).address
    except ResolveError as exc:
        raise UsageError("--dest {text!r}: {reason}", text=text, reason=exc.reason) from None


async def _add(args: argparse.Namespace) -> int:
    from netladder.nat import forwards
    from netladder.nat.rules import ForwardSpec
    from netladder.output import emit_json
    from netladder.render import forward as render

    spec = ForwardSpec(
        port=args.port,
        to_port=args.to_port,
        proto=args.proto,
        dest=await _dest_address(args.dest),
        local=args.local,
    )
    result = await forwards.add(spec, dry_run=args.dry_run)
    if args.json:
        emit_json(result, sentence=render.sentence)
        return EXIT_OK
    for line in render.added_lines(result):
        print(line)
    for line in render.warning_lines(result):
        print(line, file=sys.stderr)
    return EXIT_OK


async def _list(args: argparse.Namespace) -> int:
    from netladder.nat import forwards
    from netladder.render import forward as render
    from netladder.render.report import report

    result = await forwards.listing()
    report(result, lambda: render.listing_lines(result), as_json=args.json)
    return EXIT_OK


async def _delete(args: argparse.Namespace) -> int:
    from netladder.nat import forwards
    from netladder.render import forward as render
    from netladder.render.report import report

    if args.all == (args.id is not None):
        raise UsageError("forward delete: give one forward ID or --all")
    ids: list[int] | None = None
    if args.id is not None:
        try:
            ids = [int(args.id)]
        except ValueError:
            raise UsageError(
                "forward delete: {id!r} is not a forward id (see netladder forward list)",
                id=args.id,
            ) from None
    result = await forwards.delete(ids)
    report(result, lambda: render.deleted_lines(result), as_json=args.json)
    return EXIT_OK


async def _verify(args: argparse.Namespace) -> int:
    from netladder.nat.verify import verify_forward
    from netladder.render import forward as render
    from netladder.render.report import report

    result = await verify_forward(
        args.port, proto=args.proto, source=args.source, via=args.via, wait_s=args.timeout
    )
    report(
        result,
        lambda: render.verify_lines(result),
        as_json=args.json,
        sentence=render.sentence,
        explain=(lambda c: c.keys_forward(result.cause.value)) if args.explain else None,
    )
    return EXIT_OK if result.ok else EXIT_FAIL


async def _proxy(args: argparse.Namespace) -> int:
    from netladder.nat.proxy import parse_endpoint, run_proxy
    from netladder.render import forward as render
    from netladder.render.report import report

    listen = parse_endpoint(args.listen, listen=True)
    target = parse_endpoint(args.target, listen=False)
    if args.grace < 0:
        raise UsageError("forward proxy: --grace must be 0 or more")

    def ready(bound: str, to: str, zero_copy: bool) -> None:
        line = render.ready_line(bound, to, udp=args.udp, zero_copy=zero_copy)
        print(line, file=sys.stderr, flush=True)

    def counters(c: ProxyCounters) -> None:
        print(render.counters_line(c, udp=args.udp), file=sys.stderr, flush=True)

    stats = await run_proxy(
        listen,
        target,
        udp=args.udp,
        idle_timeout=args.idle,
        grace=args.grace,
        zero_copy=not args.no_splice,
        connect_timeout=args.connect_timeout,
        ready=ready,
        counters=counters,
    )
    report(stats, lambda: render.proxy_lines(stats), as_json=args.json)
    return EXIT_INTERRUPTED if stats.stopped_by == "SIGINT" else EXIT_OK
