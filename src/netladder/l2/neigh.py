"""The neighbour (ARP/NDP) table, and the check that the table's MAC for a next hop is the MAC
that actually answers for it — the seed's `arp -s GATEWAY OTHER_MAC` fault, named as the cause.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from netladder.l2.netlink import Neigh, Netlink
from netladder.l2.route import (
    DefaultRoute,
    RouteDecision,
    default_routes,
    ifindex,
    ifname,
    lookup_route,
)

if TYPE_CHECKING:
    from netladder.l2.probe import ProbeResult

__all__ = [
    "NeighCheck",
    "NeighEntry",
    "NeighTable",
    "Verdict",
    "check_gateways",
    "check_next_hop",
    "neighbour_table",
]


@dataclass(frozen=True, slots=True)
class NeighEntry:
    address: str
    version: int
    mac: str | None
    state: str  # "REACHABLE", "STALE", ... several joined by "|" (as `ip neigh` lists them)
    iface: str
    router: bool  # NTF_ROUTER: an IPv6 neighbour that said it is a router
    gateway: bool  # a default route goes through it


@dataclass(frozen=True, slots=True)
class NeighTable:
    entries: tuple[NeighEntry, ...]
    gateways: tuple[DefaultRoute, ...]


def _entry(n: Neigh, gateways: set[tuple[str, str | None]]) -> NeighEntry:
    iface = ifname(n.ifindex) or str(n.ifindex)
    version = 4 if n.family == socket.AF_INET else 6
    return NeighEntry(
        n.address,
        version,
        n.mac,
        "|".join(n.states),
        iface,
        n.is_router,
        (n.address, iface) in gateways or (n.address, None) in gateways,
    )


async def neighbour_table(iface: str | None = None) -> NeighTable:
    """The kernel's ARP and NDP entries (every state), the default gateways' marked."""
    async with Netlink() as nl:
        index = ifindex(iface) if iface is not None else None
        defaults = await default_routes(nl)
        raw = await nl.neighbours()
    marks = {(d.gateway, d.iface) for d in defaults if d.gateway}
    entries = [
        _entry(n, marks)
        for n in raw
        if n.family in (socket.AF_INET, socket.AF_INET6) and (index is None or n.ifindex == index)
    ]
    entries.sort(key=lambda e: (e.version, e.iface, ipaddress.ip_address(e.address)))
    return NeighTable(tuple(entries), defaults)


class Verdict(StrEnum):
    OK = "ok"  # the table agrees with the station that answers (or has no entry yet)
    MISMATCH = "mismatch"  # the table's MAC is not the one that answers: L2 broken
    NO_ANSWER = "no_answer"  # nobody answers for the next hop
    CONFLICT = "conflict"  # two stations answer for one address
    NO_ROUTE = "no_route"  # nothing to check: no route (or no default route)
    NOT_APPLICABLE = "not_applicable"  # a local address, or a link without ARP/NDP
    # The table agreed with what answered, but the kernel dropped frames in a flood: another
    # station may have answered unseen.
    INCOMPLETE = "incomplete"


@dataclass(frozen=True, slots=True)
class NeighCheck:
    """The table's entry for a next hop against a live ARP/NDP reply, and what it means."""

    target: str  # what was asked about ("default" for the default gateways)
    neighbour: str | None  # the next hop checked: the gateway, or the target when on-link
    iface: str | None
    via_gateway: bool
    default_gateway: bool
    route: RouteDecision | None
    table_mac: str | None
    table_state: str | None
    live_macs: tuple[str, ...]
    probe: ProbeResult | None
    verdict: Verdict
    summary: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict in (Verdict.OK, Verdict.NOT_APPLICABLE)


def _blast_radius(neighbour: str, default_gateway: bool, via_gateway: bool) -> str:
    if default_gateway:
        return "every off-link destination is affected"
    if via_gateway:
        return f"every destination routed via {neighbour} is affected"
    return f"traffic to {neighbour} is affected"


async def _check(
    target: str,
    decision: RouteDecision,
    defaults: tuple[DefaultRoute, ...],
    nl: Netlink,
    count: int,
    interval: float,
    wait: float,
) -> NeighCheck:
    base = NeighCheck(
        target,
        decision.next_hop,
        decision.iface,
        decision.gateway is not None,
        False,
        decision,
        None,
        None,
        (),
        None,
        Verdict.NOT_APPLICABLE,
        "",
    )

    def result(verdict: Verdict, summary: str, **evidence: Any) -> NeighCheck:
        probed = evidence.get("probe")
        if probed is not None and probed.dropped:
            summary += (
                f"; the kernel dropped {probed.dropped} frame(s) in a flood: the live "
                "answer may be incomplete"
            )
            evidence["fix"] = None  # the station that answered may be the flood's, not the hop
            if verdict == Verdict.OK:
                verdict = Verdict.INCOMPLETE
        return replace(base, verdict=verdict, summary=summary, **evidence)

    if not decision.reachable:
        return result(
            Verdict.NO_ROUTE,
            f"no route to {decision.destination}: {decision.error or decision.type}",
        )
    if decision.type == "local":
        return result(
            Verdict.NOT_APPLICABLE,
            f"{decision.destination} is this host's own address: no neighbour",
        )
    hop = decision.next_hop
    if hop is None or decision.iface is None:
        return result(
            Verdict.NOT_APPLICABLE,
            f"{decision.destination} is {decision.type}: no single neighbour",
        )
    links = await nl.links()
    index = socket.if_nametoindex(decision.iface)
    info = links.get(index)
    if info is None or not info.is_ethernet:
        return result(
            Verdict.NOT_APPLICABLE,
            f"{decision.iface} has no ARP/NDP (not Ethernet): no MAC to check",
        )
    is_default = any(d.gateway == hop and d.iface == decision.iface for d in defaults)
    family = socket.AF_INET if decision.version == 4 else socket.AF_INET6
    # Read the table before probing: a live reply may itself correct a stale entry.
    entry = next(
        (n for n in await nl.neighbours(family) if n.address == hop and n.ifindex == index), None
    )
    table_mac = entry.mac if entry else None
    table_state = "|".join(entry.states) if entry else None
    from netladder.l2.probe import prepare, probe  # raw sockets: only for the live check

    setup = await prepare(hop, decision.iface, nl=nl)
    live = await probe(setup, count=count, interval=interval, wait=wait, until_reply=True)
    macs = live.macs
    proto = "ARP" if decision.version == 4 else "NDP"
    common: dict[str, Any] = {
        "default_gateway": is_default,
        "table_mac": table_mac,
        "table_state": table_state,
        "live_macs": macs,
        "probe": live,
        "neighbour": hop,
    }
    role = "the default gateway" if is_default else "the gateway" if decision.gateway else ""
    who = f"{role} {hop}".strip()
    entry_text = (
        f"the {proto} entry for {hop} is {table_mac} ({table_state})"
        if table_mac
        else f"the {proto} table has no MAC for {hop}"
        + (f" ({table_state})" if table_state else "")
    )
    # Stations claiming the address in frames that did not answer us (gratuitous ARP, replies
    # to others): a second holder of the address, or a spoofer poisoning caches.
    claims = live.unsolicited
    claimed = "; ".join(
        f"{c.mac} claims {hop} in {c.frames} unsolicited {proto} frame(s)" for c in claims
    )
    if not macs:
        if claims:
            return result(
                Verdict.CONFLICT,
                f"L2 broken: {who} does not answer {proto} on {decision.iface} "
                f"({live.sent} requests, no reply), but {claimed} (a duplicate "
                f"address or spoofing); {entry_text}",
                **common,
            )
        if decision.gateway is not None or is_default:
            return result(
                Verdict.NO_ANSWER,
                f"L2 broken: {who} does not answer {proto} on {decision.iface} "
                f"({live.sent} requests, no reply); {entry_text}; "
                f"{_blast_radius(hop, is_default, decision.gateway is not None)}",
                **common,
            )
        return result(
            Verdict.NO_ANSWER,
            f"{hop} does not answer {proto} on {decision.iface} ({live.sent} "
            f"requests, no reply): it is down, not on this link, or drops {proto}; "
            f"{entry_text}",
            **common,
        )
    if len(macs) > 1:
        return result(
            Verdict.CONFLICT,
            f"L2 broken: {len(macs)} stations answer for {hop} on {decision.iface}: "
            f"{', '.join(macs)} (a duplicate address); {entry_text}",
            **common,
        )
    if table_mac is not None and table_mac != macs[0]:
        poisoned = next((c for c in claims if c.mac == table_mac), None)
        why = (
            f"; {poisoned.mac} claims {hop} in {poisoned.frames} unsolicited {proto} "
            "frame(s): a duplicate address or spoofing, which can write the entry again"
            if poisoned
            else ""
        )
        return result(
            Verdict.MISMATCH,
            f"L2 broken: {entry_text}, but {hop} answers from {macs[0]}; "
            f"{_blast_radius(hop, is_default, decision.gateway is not None)}{why}",
            fix=f"ip neigh del {hop} dev {decision.iface}",
            **common,
        )
    if claims:
        return result(
            Verdict.CONFLICT,
            f"L2 at risk: {who} answers from {macs[0]}, but {claimed} (a duplicate "
            f"address or spoofing); {entry_text}",
            **common,
        )
    rtt = f"{live.replies[0].rtt_ms:.3f} ms"
    if table_mac is not None:
        text = (
            f"{who}: the {proto} entry ({table_state}) matches the MAC that answers, "
            f"{macs[0]} ({rtt})"
        )
    elif table_state is not None:
        text = (
            f"{who} answers from {macs[0]} ({rtt}); its {proto} entry is {table_state}, "
            "without a MAC yet"
        )
    else:
        text = f"{who} answers from {macs[0]} ({rtt}; no {proto} entry yet)"
    return result(Verdict.OK, text, **common)


async def check_next_hop(
    destination: str,
    *,
    iface: str | None = None,
    count: int = 3,
    interval: float = 0.5,
    wait: float = 1.0,
) -> NeighCheck:
    """For the route to destination, compare the table's MAC of the next hop (the gateway, or
    the destination itself when on-link) with the MAC that answers a live ARP/NDP request."""
    async with Netlink() as nl:
        decision = await lookup_route(destination, iface, nl=nl)
        defaults = await default_routes(nl)
        return await _check(decision.destination, decision, defaults, nl, count, interval, wait)


async def check_gateways(
    *, count: int = 3, interval: float = 0.5, wait: float = 1.0
) -> tuple[NeighCheck, ...]:
    """The check for every default gateway (v4 and v6)."""
    import asyncio

    async with Netlink() as nl:
        defaults = await default_routes(nl)
    gateways = list(dict.fromkeys((d.gateway, d.iface) for d in defaults if d.gateway))
    if not gateways:
        return (
            NeighCheck(
                "default",
                None,
                None,
                False,
                False,
                None,
                None,
                None,
                (),
                None,
                Verdict.NO_ROUTE,
                "no default route: nothing off-link is reachable",
            ),
        )

    async def one(gateway: str, iface: str | None) -> NeighCheck:
        async with Netlink() as nl:
            decision = await lookup_route(gateway, iface, nl=nl)
            return await _check("default", decision, defaults, nl, count, interval, wait)

    return tuple(await asyncio.gather(*(one(g, i) for g, i in gateways)))
