"""Every line of `netladder neigh`: the table, the next-hop check's verdict (its JSON
`summary` too) and the watch's events in arpwatch's words."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from netladder.i18n import N_, _
from netladder.l2.model import NeighCheck, NeighReport, NeighTable
from netladder.output import paint
from netladder.render.arp import reply_line

__all__ = ["check_lines", "event_line", "sentence", "summary", "table_lines"]

# A check's summary, by NeighCheck.finding.
TEMPLATES: dict[str, str] = {
    "no-route": N_("no route to {destination}: {reason}"),
    "no-default-route": N_("no default route: nothing off-link is reachable"),
    "own-address": N_("{destination} is this host's own address: no neighbour"),
    "no-single-neighbour": N_("{destination} is {type}: no single neighbour"),
    "not-ethernet": N_("{iface} has no ARP/NDP (not Ethernet): no MAC to check"),
    "silent-but-claimed": N_(
        "L2 broken: {who} does not answer {proto} on {iface} ({sent} requests, no reply), but "
        "{claimed} (a duplicate address or spoofing); {entry}"
    ),
    "gateway-silent": N_(
        "L2 broken: {who} does not answer {proto} on {iface} ({sent} requests, no reply); "
        "{entry}; {blast}"
    ),
    "silent": N_(
        "{hop} does not answer {proto} on {iface} ({sent} requests, no reply): it is down, not "
        "on this link, or drops {proto}; {entry}"
    ),
    "several-stations": N_(
        "L2 broken: {n} stations answer for {hop} on {iface}: {macs} (a duplicate address); {entry}"
    ),
    "mismatch": N_("L2 broken: {entry}, but {hop} answers from {mac}; {blast}{why}"),
    "poisoned": N_(
        "; {mac} claims {hop} in {frames} unsolicited {proto} frame(s): a duplicate address or "
        "spoofing, which can write the entry again"
    ),
    "claimed": N_(
        "L2 at risk: {who} answers from {mac}, but {claimed} (a duplicate address or spoofing); "
        "{entry}"
    ),
    "ok": N_("{who}: the {proto} entry ({state}) matches the MAC that answers, {mac} ({rtt})"),
    "ok-no-mac": N_(
        "{who} answers from {mac} ({rtt}); its {proto} entry is {state}, without a MAC yet"
    ),
    "ok-no-entry": N_("{who} answers from {mac} ({rtt}; no {proto} entry yet)"),
    "claim": N_("{mac} claims {hop} in {frames} unsolicited {proto} frame(s)"),
    "entry": N_("the {proto} entry for {hop} is {mac} ({state})"),
    "no-entry": N_("the {proto} table has no MAC for {hop}"),
    "blast-default": N_("every off-link destination is affected"),
    "blast-gateway": N_("every destination routed via {hop} is affected"),
    "blast-hop": N_("traffic to {hop} is affected"),
    "default-gateway": N_("the default gateway"),
    "gateway": N_("the gateway"),
    "rtt": N_("{ms:.3f} ms"),
    "dropped": N_(
        "; the kernel dropped {n} frame(s) in a flood: the live answer may be incomplete"
    ),
}

LINES: dict[str, str] = {
    "empty": N_("the neighbour table is empty"),
    "empty-on": N_("the neighbour table is empty on {iface}"),
    "heading": "{address:<{aw}}  {mac:<17}  {state:<10}  {iface:<{iw}}",
    "row": "{address:<{aw}}  {mac:<17}  {state}  {iface:<{iw}}{note}",
    "marks": "  <- {marks}",
    "mark-gateway": N_("default gateway"),
    "mark-router": N_("router"),
    "missing": N_("default gateway {gateway} ({iface}) has no entry yet"),
    "reply": "  {line}",
    "fix": N_("  fix: {fix}"),
    "interrupted": N_("interrupted: the live probe did not finish"),
    "watching": N_("watching neighbour changes{where} (Ctrl-C to stop)"),
    "watching-on": N_(" on {iface}"),
}

_STATE_COLOURS = {
    "REACHABLE": "green",
    "PERMANENT": "cyan",
    "STALE": "yellow",
    "DELAY": "yellow",
    "PROBE": "yellow",
    "FAILED": "red",
    "INCOMPLETE": "red",
}
_EVENT_COLOURS = {
    "new station": "green",
    "changed ethernet address": "red",
    "flip flop": "yellow",
    "reused old ethernet address": "yellow",
}


def sentence(obj: object) -> str:
    """The JSON sentence of a record: a NeighCheck's `summary`."""
    if isinstance(obj, NeighCheck):
        return summary(obj)
    raise TypeError(f"no sentence for {type(obj).__name__}")


def summary(c: NeighCheck) -> str:
    """What the check found, said as the evidence allows."""
    t = TEMPLATES
    kind = c.finding
    route = c.route
    if kind == "no-default-route":
        return _(t[kind])
    assert route is not None
    if kind == "no-route":
        return _(t[kind]).format(destination=route.destination, reason=route.error or route.type)
    if kind in ("own-address", "no-single-neighbour"):
        return _(t[kind]).format(destination=route.destination, type=route.type)
    if kind == "not-ethernet":
        return _(t[kind]).format(iface=route.iface)
    live = c.probe
    assert live is not None and c.neighbour is not None
    hop = c.neighbour
    proto = "ARP" if route.version == 4 else "NDP"
    role = (
        _(t["default-gateway"]) if c.default_gateway else _(t["gateway"]) if c.via_gateway else ""
    )
    who = f"{role} {hop}".strip()
    if c.table_mac:
        entry = _(t["entry"]).format(proto=proto, hop=hop, mac=c.table_mac, state=c.table_state)
    else:
        entry = _(t["no-entry"]).format(proto=proto, hop=hop) + (
            f" ({c.table_state})" if c.table_state else ""
        )
    claims = live.unsolicited
    claimed = "; ".join(
        _(t["claim"]).format(mac=cl.mac, hop=hop, frames=cl.frames, proto=proto) for cl in claims
    )
    if c.default_gateway:
        blast = _(t["blast-default"])
    elif c.via_gateway:
        blast = _(t["blast-gateway"]).format(hop=hop)
    else:
        blast = _(t["blast-hop"]).format(hop=hop)
    macs = c.live_macs
    params: dict[str, Any] = {
        "who": who,
        "hop": hop,
        "proto": proto,
        "iface": c.iface,
        "sent": live.sent,
        "entry": entry,
        "claimed": claimed,
        "blast": blast,
        "n": len(macs),
        "macs": ", ".join(macs),
        "mac": macs[0] if macs else None,
        "state": c.table_state,
        "why": "",
    }
    if kind == "mismatch":
        poisoned = next((cl for cl in claims if cl.mac == c.table_mac), None)
        if poisoned is not None:
            params["why"] = _(t["poisoned"]).format(
                mac=poisoned.mac, hop=hop, frames=poisoned.frames, proto=proto
            )
    if kind.startswith("ok"):
        params["rtt"] = _(t["rtt"]).format(ms=live.replies[0].rtt * 1000)
    text = _(t[kind]).format(**params)
    if live.dropped:
        text += _(t["dropped"]).format(n=live.dropped)
    return text


# -- the human output --------------------------------------------------------------------------


def table_lines(table: NeighTable, iface: str | None = None) -> Iterator[str]:
    """`netladder neigh`: `ip neigh`'s table, the default gateways marked."""
    lt = LINES
    if not table.entries:
        yield _(lt["empty-on"]).format(iface=iface) if iface else _(lt["empty"])
        return
    aw = max(len(e.address) for e in table.entries)
    iw = max(len(e.iface) for e in table.entries)
    heading = lt["heading"].format(
        address="ADDRESS", mac="MAC", state="STATE", iface="IFACE", aw=aw, iw=iw
    )
    yield paint(heading, "bold")
    for e in table.entries:
        colour = _STATE_COLOURS.get(e.state.split("|")[0])
        state = f"{e.state:<10}"
        marks = []
        if e.gateway:
            marks.append(_(lt["mark-gateway"]))
        if e.router and not e.gateway:
            marks.append(_(lt["mark-router"]))
        note = lt["marks"].format(marks=", ".join(marks)) if marks else ""
        yield lt["row"].format(
            address=e.address,
            mac=e.mac or "-",
            state=paint(state, colour) if colour else state,
            iface=e.iface,
            note=note,
            aw=aw,
            iw=iw,
        )
    missing = [
        d
        for d in table.gateways
        if d.gateway and not any(e.gateway and e.address == d.gateway for e in table.entries)
    ]
    for d in missing:
        yield paint(_(lt["missing"]).format(gateway=d.gateway, iface=d.iface), "dim")


def check_lines(report: NeighReport) -> Iterator[str]:
    """`netladder neigh --check`: each check's summary, the live replies, the fix."""
    lt = LINES
    for c in report.checks:
        yield paint(summary(c), "green" if c.ok else "red")
        if c.probe is not None:
            for reply in c.probe.replies:
                yield lt["reply"].format(line=reply_line(reply))
        if c.fix:
            yield _(lt["fix"]).format(fix=c.fix)
    if report.interrupted:
        yield _(lt["interrupted"])


def watching(iface: str | None) -> str:
    where = _(LINES["watching-on"]).format(iface=iface) if iface else ""
    return _(LINES["watching"]).format(where=where)


def event_line(event: Any) -> str:
    """arpwatch's wording: `changed ethernet address 203.0.113.1 NEW (OLD) IFACE`."""
    when = time.strftime("%H:%M:%S", time.localtime(event.time))
    old = f" ({event.old_mac})" if event.old_mac else ""
    kind = str(event.kind)
    return (
        f"{when} {paint(kind, _EVENT_COLOURS[kind])} {event.address} {event.mac}{old} {event.iface}"
    )
