"""`netladder forward add|list|delete|verify|proxy`: port forwards that are safe, visible and
proven to work, and a userspace forwarder for when NAT is not an option."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import socket
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from netladder.args import add_explain, add_json, port_number, positive_float
from netladder.errors import (
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EnvError,
    UsageError,
)
from netladder.i18n import N_, _
from netladder.output import emit_json, fmt_ms, paint

if TYPE_CHECKING:
    from netladder.nat.proxy import ProxyCounters, ProxyStats
    from netladder.nat.rules import ForeignRule, Forward, ForwardSpec, Ruleset
    from netladder.nat.verify import VerifyResult

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


# -- add ------------------------------------------------------------------------------------------


def _dest_address(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"--dest {text!r}: {exc.strerror}") from None
    return str(infos[0][4][0])


async def _add(args: argparse.Namespace) -> int:
    from netladder.nat import nft
    from netladder.nat.rules import (
        ForwardSpec,
        Ruleset,
        build_add_script,
        iptables_equivalent,
        next_id,
        shadowing,
    )

    dest = _dest_address(args.dest)
    spec = ForwardSpec(
        port=args.port, to_port=args.to_port, proto=args.proto, dest=dest, local=args.local
    )
    # A DNAT to one of this machine's own addresses is delivered here: no host is forwarded to.
    own = dest is not None and await nft.is_local_address(dest)
    if spec.to_port == spec.port and (dest is None or own):
        here = "" if dest is None else f" at {dest}, this machine's own address,"
        if dest is None or not ipaddress.ip_address(dest).is_loopback:
            raise UsageError(f"forward add: port {spec.port} to itself{here} does nothing")
    warnings: list[str] = []
    try:
        ruleset = await nft.read_ruleset()
    except EnvError:
        if not args.dry_run:
            raise
        ruleset = Ruleset((), (), None)
        warnings.append("could not read the ruleset (no privilege): the id may differ")
    nft.require_port_free(ruleset, spec)
    forward_id = next_id(ruleset)
    script = build_add_script(forward_id, spec)
    warnings.extend(_add_warnings(spec, shadowing(ruleset, spec), to_another_host=not own))
    iptables = iptables_equivalent(forward_id, spec)
    if args.dry_run:
        checked: bool | None = None
        try:
            await nft.check_script(script)
            checked = True
        except EnvError:
            checked = None
        if args.json:
            emit_json(
                {
                    "id": forward_id,
                    "spec": _spec_json(spec),
                    "dry_run": True,
                    "nft": script,
                    "iptables": iptables,
                    "checked_by_nft": checked,
                    "warnings": warnings,
                }
            )
            return EXIT_OK
        print(f"# forward {forward_id}: {_describe(spec)} (dry run: nothing applied)")
        print("# nft, one atomic transaction (nft -f -):")
        print(script, end="")
        print("# the same with iptables:")
        for line in iptables:
            print(line)
        for warning in warnings:
            print(f"# warning: {warning}")
        return EXIT_OK
    forward_id, script = await nft.add_forward(forward_id, spec)
    if args.json:
        emit_json(
            {
                "id": forward_id,
                "spec": _spec_json(spec),
                "dry_run": False,
                "nft": script,
                "iptables": iptables,
                "warnings": warnings,
            }
        )
        return EXIT_OK
    print(f"forward {forward_id}: {_describe(spec)}")
    for warning in warnings:
        print(paint(f"warning: {warning}", "yellow", stream=sys.stderr), file=sys.stderr)
    return EXIT_OK


def _add_warnings(
    spec: ForwardSpec, shadows: tuple[ForeignRule, ...], *, to_another_host: bool
) -> list[str]:
    from netladder.nat import nft

    out = []
    for rule in shadows:
        out.append(
            f"{rule.where} ({rule.text or rule.statement}) may catch {spec.proto} port "
            f"{spec.port} before this forward"
        )
    another = spec.dest is not None and to_another_host
    if another:
        version = spec.dest_version or 4
        if nft.forwarding_enabled(version) is False:
            sysctl = "net.ipv4.ip_forward" if version == 4 else "net.ipv6.conf.all.forwarding"
            out.append(f"{sysctl} is 0: forwarded packets will be dropped (sysctl -w {sysctl}=1)")
    if not spec.local:
        out.append(
            "connections made on this machine itself are not forwarded (add --local to cover them)"
        )
    elif another and spec.dest_version == 4 and nft.route_localnet() is False:
        # Measured in the lab: the translated SYN with source 127.0.0.1 is dropped, and the
        # connection hangs until it times out.
        out.append(
            "connections to 127.0.0.1 cannot be sent to another host: the kernel does "
            "not route loopback addresses out (connect to this machine's own address, or "
            "sysctl -w net.ipv4.conf.all.route_localnet=1)"
        )
    elif another:
        out.append(
            "connections to ::1 cannot be sent to another host (IPv6 never routes "
            "loopback out): connect to this machine's own address"
        )
    return out


def _describe(spec: ForwardSpec) -> str:
    if spec.dest is None:
        what = f"{spec.proto} port {spec.port} -> local port {spec.to_port} (REDIRECT)"
    else:
        what = f"{spec.proto} port {spec.port} -> {spec.target} (DNAT + masquerade)"
    hooks = "from other hosts and from this machine" if spec.local else "from other hosts"
    return f"{what}, {hooks}"


def _spec_json(spec: ForwardSpec) -> dict[str, Any]:
    return {**asdict(spec), "kind": spec.kind, "hooks": list(spec.hooks)}


# -- list -----------------------------------------------------------------------------------------


def _forward_json(forward: Forward, ruleset: Ruleset) -> dict[str, Any]:
    from netladder.nat.rules import shadowing

    return {
        "id": forward.id,
        **_spec_json(forward.spec),
        "packets": forward.packets,
        "bytes": forward.bytes,
        "complete": forward.complete,
        "rules": [asdict(r) for r in forward.rules],
        "shadowed_by": [r.where for r in shadowing(ruleset, forward.spec)],
    }


def _foreign_json(rule: ForeignRule) -> dict[str, Any]:
    data = asdict(rule)
    data["ports"] = None if rule.ports is None else [list(p) for p in rule.ports]
    return data


async def _list(args: argparse.Namespace) -> int:
    from netladder.nat import nft
    from netladder.nat.rules import TABLE, shadowing

    ruleset = await nft.read_ruleset()
    forwarding = {"ipv4": nft.forwarding_enabled(4), "ipv6": nft.forwarding_enabled(6)}
    if args.json:
        emit_json(
            {
                "table": TABLE,
                "table_exists": ruleset.table_handle is not None,
                "forwards": [_forward_json(f, ruleset) for f in ruleset.forwards],
                "others": [_foreign_json(r) for r in ruleset.foreign],
                "forwarding": forwarding,
            }
        )
        return EXIT_OK
    if not ruleset.forwards:
        print(
            f"no netladder forwards (table {TABLE} "
            f"{'is empty' if ruleset.table_handle is not None else 'does not exist'})"
        )
    else:
        header = (
            f"{'ID':<4} {'PROTO':<5} {'PORT':>5}  {'TARGET':<24} {'HOOKS':<19} "
            f"{'HITS':>6} {'BYTES':>8}"
        )
        print(paint(header, "bold"))
        for f in ruleset.forwards:
            hooks = ",".join(f.spec.hooks)
            print(
                f"{f.id:<4} {f.spec.proto:<5} {f.spec.port:>5}  {f.spec.target:<24} "
                f"{hooks:<19} {f.packets:>6} {f.bytes:>8}"
            )
            if not f.complete:
                print(
                    paint(
                        "     incomplete: a rule of this forward was removed by hand "
                        "(delete it and add it again)",
                        "yellow",
                    )
                )
            for rule in shadowing(ruleset, f.spec):
                print(
                    paint(
                        f"     may be shadowed by {rule.where}: {rule.text or rule.statement}",
                        "yellow",
                    )
                )
    if ruleset.foreign:
        print()
        print(paint("NAT rules in other tables (read-only):", "bold"))
        for rule in ruleset.foreign:
            where = f"table {rule.family} {rule.table} chain {rule.chain}"
            hook = f" (hook {rule.hook}, priority {rule.priority})" if rule.hook else ""
            print(f"  {where}{hook} handle {rule.handle}: {rule.text or rule.statement}")
    off = [k for k, v in forwarding.items() if v is False]
    if off and await _forwards_to_other_hosts(ruleset):
        print(
            paint(
                f"forwarding is disabled for {', '.join(off)}: DNAT forwards to other "
                "hosts will not pass",
                "yellow",
            )
        )
    return EXIT_OK


async def _forwards_to_other_hosts(ruleset: Ruleset) -> bool:
    from netladder.nat import nft

    for forward in ruleset.forwards:
        if forward.spec.dest is not None and not await nft.is_local_address(forward.spec.dest):
            return True
    return False


# -- delete ---------------------------------------------------------------------------------------


async def _delete(args: argparse.Namespace) -> int:
    from netladder.nat import nft

    if args.all == (args.id is not None):
        raise UsageError("forward delete: give one forward ID or --all")
    ids: list[int] | None = None
    if args.id is not None:
        try:
            ids = [int(args.id)]
        except ValueError:
            raise UsageError(
                f"forward delete: {args.id!r} is not a forward id (see netladder forward list)"
            ) from None
    deleted = await nft.delete_forwards(ids)
    if ids is not None and not deleted:
        raise UsageError(f"forward delete: forward {ids[0]} was deleted meanwhile by another run")
    if args.json:
        emit_json({"deleted": deleted})
    elif deleted:
        print(
            f"deleted forward{'s' if len(deleted) > 1 else ''} {', '.join(str(i) for i in deleted)}"
        )
    else:
        print("no netladder forwards: nothing to delete")
    return EXIT_OK


# -- verify ---------------------------------------------------------------------------------------


async def _verify(args: argparse.Namespace) -> int:
    from netladder.nat.verify import verify_forward

    result = await verify_forward(
        args.port, proto=args.proto, source=args.source, via=args.via, wait_s=args.timeout
    )
    keys: list[str] = []
    if args.explain:
        from netladder.render import explain

        keys = explain.keys_forward(result.cause.value)
    if args.json and args.explain:
        explain.emit_json(_verify_json(result), keys)
    elif args.json:
        emit_json(_verify_json(result))
    else:
        _render_verify(result)
        if args.explain:
            explain.say(keys)
    return EXIT_OK if result.ok else EXIT_FAIL


def _verify_json(result: VerifyResult) -> dict[str, Any]:
    from netladder.output import to_jsonable

    data: dict[str, Any] = to_jsonable(result)
    data["ok"] = result.ok
    if result.forward is not None:
        data["forward"] = {"id": result.forward.id, **_spec_json(result.forward.spec)}
    data["shadows"] = [_foreign_json(r) for r in result.shadows]
    return data


_VERIFY_LABELS = (N_("through the forward"), N_("direct to the target"))


def _render_verify(result: VerifyResult) -> None:
    f = result.forward
    if f is not None:
        print(f"forward {f.id}: {_describe(f.spec)}")
    for label, attempt in zip(_VERIFY_LABELS, (result.through, result.direct), strict=True):
        if attempt is None:
            continue
        where = f"{attempt.address}:{attempt.port}"
        if attempt.connected:
            if attempt.outcome == "reset":
                said = _("accepted, then reset the connection ({error})").format(
                    error=attempt.error
                )
            elif attempt.first_line:
                said = _("answered {line!r}").format(line=attempt.first_line)
            else:
                said = _("said nothing")
            took = attempt.connect_ms if attempt.connect_ms is not None else attempt.elapsed_ms
            print(
                _("  {label}: {where} {said} (connected in {ms} ms)").format(
                    label=_(label), where=where, said=said, ms=fmt_ms(took)
                )
            )
        else:
            print(
                f"  {_(label)}: {where} {attempt.outcome}"
                f"{f' ({attempt.error})' if attempt.error else ''}"
            )
    if f is not None:
        if result.hits == 1:
            hit = _("  from {vantage}; the rule was hit once during the check ({hook} hook)")
        else:
            hit = _(
                "  from {vantage}; the rule was hit {hits} times during the check ({hook} hook)"
            )
        print(hit.format(vantage=result.vantage, hits=result.hits, hook=result.hook))
    if result.ok:
        print(paint(_("OK: {detail}").format(detail=result.detail), "green"))
    else:
        text = _("FAIL ({cause}): {detail}").format(cause=result.cause.value, detail=result.detail)
        print(paint(text, "red"))


# -- proxy ----------------------------------------------------------------------------------------


async def _proxy(args: argparse.Namespace) -> int:
    from netladder.nat.proxy import parse_endpoint, run_proxy

    listen = parse_endpoint(args.listen, listen=True)
    target = parse_endpoint(args.target, listen=False)
    if args.grace < 0:
        raise UsageError("forward proxy: --grace must be 0 or more")

    def ready(bound: str, to: str, zero_copy: bool) -> None:
        how = (
            "udp sessions"
            if args.udp
            else ("tcp, zero-copy splice" if zero_copy else "tcp, copying")
        )
        print(
            f"netladder forward proxy: listening on {bound} -> {to} ({how}); "
            "Ctrl-C or SIGTERM stops, SIGUSR1 shows the counters",
            file=sys.stderr,
            flush=True,
        )

    def counters(c: ProxyCounters) -> None:
        what = "sessions" if args.udp else "connections"
        print(
            f"netladder forward proxy: {c.connections} {what} ({c.active} open, "
            f"{c.failed} failed), {c.bytes_up} bytes up, {c.bytes_down} bytes down",
            file=sys.stderr,
            flush=True,
        )

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
    if args.json:
        emit_json(stats)
    else:
        _render_proxy(stats)
    return EXIT_INTERRUPTED if stats.stopped_by == "SIGINT" else EXIT_OK


def _render_proxy(stats: ProxyStats) -> None:
    seconds = stats.duration_ms / 1000
    if stats.proto == "tcp":
        print(
            f"{stats.connections} connections ({stats.failed} failed to reach the target, "
            f"{stats.active_at_stop} open at stop) in {seconds:.1f} s"
        )
    else:
        print(
            f"{stats.connections} UDP sessions, {stats.datagrams_up} datagrams to the target, "
            f"{stats.datagrams_down} back, {stats.dropped} dropped, in {seconds:.1f} s"
        )
    print(f"{stats.bytes_up} bytes to {stats.target}, {stats.bytes_down} bytes back")
