"""Every line of `netladder route`: the decision in `ip route get`'s words and what it means,
and the default routes in `ip route show default`'s."""

from __future__ import annotations

from collections.abc import Iterator

from netladder.i18n import N_, _
from netladder.l2.route import DefaultRoute, RouteDecision, RouteReport
from netladder.output import paint

__all__ = ["default_line", "describe", "explain", "lines"]

TEMPLATES: dict[str, str] = {
    "no-route": N_("the kernel has no usable route: packets to it fail before they leave"),
    "local": N_("this host's own address: delivered locally, never leaves the host"),
    "off-link": N_(
        "off-link: handed to gateway {gateway} on {iface}; the gateway's MAC "
        "decides delivery (check it with: netladder neigh --check {destination})"
    ),
    "on-link": N_("on-link: delivered directly on {iface} to the MAC that answers ARP/NDP"),
    "other": N_("{type} route on {iface}"),
    "defaults": N_("default routes:"),
    "no-default": N_(
        "no default route: only on-link and explicitly routed destinations are reachable"
    ),
}


def lines(report: RouteReport) -> Iterator[str]:
    t = TEMPLATES
    d = report.decision
    if d is not None:
        yield describe(d)
        yield paint(f"  {explain(d)}", "dim")
    if report.defaults:
        yield paint(_(t["defaults"]), "bold")
        for route in report.defaults:
            yield f"  {default_line(route)}"
    else:
        yield paint(_(t["no-default"]), "yellow")


def describe(d: RouteDecision) -> str:
    """One line in `ip route get`'s words (not translated: iproute2's own)."""
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
    """What the decision means for a packet to the destination."""
    t = TEMPLATES
    if d.error is not None:
        return _(t["no-route"])
    if d.type == "local":
        return _(t["local"])
    if d.gateway:
        return _(t["off-link"]).format(gateway=d.gateway, iface=d.iface, destination=d.destination)
    if d.type == "unicast":
        return _(t["on-link"]).format(iface=d.iface)
    return _(t["other"]).format(type=d.type, iface=d.iface)


def default_line(d: DefaultRoute) -> str:
    """A default route in `ip route show default`'s words."""
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
