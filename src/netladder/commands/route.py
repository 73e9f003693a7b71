"""`netladder route [TARGET]`: the kernel's route decision for a destination, and the default
routes (v4 and v6), read from rtnetlink — what `ip route get` and `ip route show default` say."""

from __future__ import annotations

import argparse
import sys

from netladder.args import add_explain, add_json
from netladder.errors import EXIT_FAIL, EXIT_OK, UsageError
from netladder.i18n import _
from netladder.l2.route import DefaultRoute, RouteDecision, default_routes, lookup_route
from netladder.output import emit_json, paint

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        metavar="TARGET",
        help=_("an IPv4 or IPv6 address (default: show the default routes only)"),
    )
    parser.add_argument(
        "-I",
        "--iface",
        metavar="IFACE",
        help=_("ask as if the packet had to leave by this interface"),
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="ADDR",
        help=_(
            "ask as if the packet came from this local address (ip route get "
            "... from ADDR: policy rules on the source apply)"
        ),
    )
    add_json(parser)
    add_explain(parser)


def _gather(
    target: str | None, iface: str | None, source: str | None = None
) -> tuple[RouteDecision | None, tuple[DefaultRoute, ...]]:
    from netladder.l2.netlink import Netlink

    with Netlink() as nl:
        decision = lookup_route(target, iface, nl=nl, source=source) if target else None
        return decision, default_routes(nl)


def run(args: argparse.Namespace) -> int:
    from netladder.l2.route import parse_destination

    target = parse_destination(args.target) if args.target else None
    if args.source is not None and target is None:
        raise UsageError("netladder route: --from needs a TARGET")
    decision, defaults = _gather(target, args.iface, args.source)
    code = EXIT_FAIL if decision is not None and not decision.reachable else EXIT_OK
    keys: list[str] = []
    if args.explain and decision is not None:
        from netladder.render import explain as concepts

        keys = concepts.keys_route(decision)
    if args.json:
        doc = {"target": target, "decision": _decision_json(decision), "defaults": defaults}
        if args.explain:
            from netladder.render import explain as concepts

            concepts.emit_json(doc, keys)
        else:
            emit_json(doc)
        return code
    out = sys.stdout
    if decision is not None:
        print(describe(decision), file=out)
        print(paint(f"  {explain(decision)}", "dim", stream=out), file=out)
    if defaults:
        print(paint(_("default routes:"), "bold", stream=out), file=out)
        for d in defaults:
            print(f"  {_default_line(d)}", file=out)
    else:
        print(
            paint(
                _(
                    "no default route: only on-link and explicitly routed destinations are "
                    "reachable"
                ),
                "yellow",
                stream=out,
            ),
            file=out,
        )
    if keys:
        from netladder.render import explain as concepts

        concepts.say(keys)
    return code


def _decision_json(d: RouteDecision | None) -> dict[str, object] | None:
    if d is None:
        return None
    from netladder.output import to_jsonable

    doc: dict[str, object] = to_jsonable(d)
    doc.update(reachable=d.reachable, on_link=d.on_link, next_hop=d.next_hop)
    return doc


def describe(d: RouteDecision) -> str:
    """One line in `ip route get`'s words."""
    if d.error is not None:
        return paint(f"{d.destination}: {d.type} ({d.error})", "red")
    parts = [d.destination] if d.type == "unicast" else [d.type, d.destination]
    if d.source:
        parts += ["from", d.source]
    if d.gateway:
        parts += ["via", d.gateway]
    if d.iface:
        parts += ["dev", d.iface]
    if d.prefsrc:
        parts += ["src", d.prefsrc]
    if d.table:
        parts += ["table", d.table]
    if d.metric is not None:
        parts += ["metric", str(d.metric)]
    if d.prefix:
        parts += ["route", d.prefix]
    return " ".join(parts)


def explain(d: RouteDecision) -> str:
    if d.error is not None:
        return _("the kernel has no usable route: packets to it fail before they leave")
    if d.type == "local":
        return _("this host's own address: delivered locally, never leaves the host")
    if d.gateway:
        return _(
            "off-link: handed to gateway {gateway} on {iface}; the gateway's MAC "
            "decides delivery (check it with: netladder neigh --check {destination})"
        ).format(gateway=d.gateway, iface=d.iface, destination=d.destination)
    if d.type == "unicast":
        return _("on-link: delivered directly on {iface} to the MAC that answers ARP/NDP").format(
            iface=d.iface
        )
    return _("{type} route on {iface}").format(type=d.type, iface=d.iface)


def _default_line(d: DefaultRoute) -> str:
    parts = ["default"] if d.type == "unicast" else [d.type, "default"]
    if d.gateway:
        parts += ["via", d.gateway]
    if d.iface:
        parts += ["dev", d.iface]
    if d.table != "main":
        parts += ["table", d.table]
    if d.metric:
        parts += ["metric", str(d.metric)]
    return " ".join(parts) + f"  (IPv{d.version})"
