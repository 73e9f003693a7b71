"""The neighbour (ARP/NDP) table, and the check that the table's MAC for a next hop is the MAC
that actually answers for it — the seed's `arp -s GATEWAY OTHER_MAC` fault, named as the cause.

The table and the route come from netlink, synchronously; the live answer is an `ArpSession`
per next hop, all of them run together on the driver.  A check's verdict and finding are data
(`l2/model.py`); `render/neigh.py` says them.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from netladder.l2.model import ArpResult, NeighCheck, NeighEntry, NeighTable, ProbeSetup, Verdict
from netladder.l2.netlink import Neigh, Netlink
from netladder.l2.route import (
    DefaultRoute,
    RouteDecision,
    default_routes,
    ifindex,
    ifname,
    lookup_route,
)
from netladder.proto.record import replace

__all__ = ["check_gateways", "check_next_hop", "neighbour_table"]


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


def neighbour_table(iface: str | None = None) -> NeighTable:
    """The kernel's ARP and NDP entries (every state), the default gateways' marked."""
    with Netlink() as nl:
        index = ifindex(iface) if iface is not None else None
        defaults = default_routes(nl)
        raw = nl.neighbours()
    marks = {(d.gateway, d.iface) for d in defaults if d.gateway}
    entries = [
        _entry(n, marks)
        for n in raw
        if n.family in (socket.AF_INET, socket.AF_INET6) and (index is None or n.ifindex == index)
    ]
    entries.sort(key=lambda e: (e.version, e.iface, ipaddress.ip_address(e.address)))
    return NeighTable(tuple(entries), defaults)


class _Pending:
    """A check whose live probe is still to run: what the table said, and where to probe."""

    __slots__ = ("base", "setup")

    def __init__(self, base: NeighCheck, setup: ProbeSetup) -> None:
        self.base = base
        self.setup = setup


def _prepare(
    target: str, decision: RouteDecision, defaults: tuple[DefaultRoute, ...], nl: Netlink
) -> NeighCheck | _Pending:
    """The check as far as the table goes: final when there is nothing to probe."""
    from netladder.l2.probe import prepare  # raw sockets: only for the live check

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
    )
    if not decision.reachable:
        return replace(base, verdict=Verdict.NO_ROUTE, finding="no-route")
    if decision.type == "local":
        return replace(base, finding="own-address")
    hop = decision.next_hop
    if hop is None or decision.iface is None:
        return replace(base, finding="no-single-neighbour")
    links = nl.links()
    index = socket.if_nametoindex(decision.iface)
    info = links.get(index)
    if info is None or not info.is_ethernet:
        return replace(base, finding="not-ethernet")
    is_default = any(d.gateway == hop and d.iface == decision.iface for d in defaults)
    family = socket.AF_INET if decision.version == 4 else socket.AF_INET6
    # Read the table before probing: a live reply may itself correct a stale entry.
    entry = next(
        (n for n in nl.neighbours(family) if n.address == hop and n.ifindex == index), None
    )
    base = replace(
        base,
        neighbour=hop,
        default_gateway=is_default,
        table_mac=entry.mac if entry else None,
        table_state="|".join(entry.states) if entry else None,
    )
    return _Pending(base, prepare(hop, decision.iface, nl=nl))


def _judge(base: NeighCheck, live: ArpResult) -> NeighCheck:
    """The verdict once the live probe has answered (or not)."""
    macs = live.macs
    # Stations claiming the address in frames that did not answer us (gratuitous ARP, replies
    # to others): a second holder of the address, or a spoofer poisoning caches.
    claims = live.unsolicited
    common: dict[str, Any] = {"live_macs": macs, "probe": live}
    if not macs:
        if claims:
            verdict, finding = Verdict.CONFLICT, "silent-but-claimed"
        elif base.via_gateway or base.default_gateway:
            verdict, finding = Verdict.NO_ANSWER, "gateway-silent"
        else:
            verdict, finding = Verdict.NO_ANSWER, "silent"
    elif len(macs) > 1:
        verdict, finding = Verdict.CONFLICT, "several-stations"
    elif base.table_mac is not None and base.table_mac != macs[0]:
        verdict, finding = Verdict.MISMATCH, "mismatch"
        common["fix"] = f"ip neigh del {base.neighbour} dev {base.iface}"
    elif claims:
        verdict, finding = Verdict.CONFLICT, "claimed"
    elif base.table_mac is not None:
        verdict, finding = Verdict.OK, "ok"
    elif base.table_state is not None:
        verdict, finding = Verdict.OK, "ok-no-mac"
    else:
        verdict, finding = Verdict.OK, "ok-no-entry"
    if live.dropped:
        common["fix"] = None  # the station that answered may be the flood's, not the hop
        if verdict == Verdict.OK:
            verdict = Verdict.INCOMPLETE
    return replace(base, verdict=verdict, finding=finding, **common)


async def _probe_all(
    pending: list[_Pending], count: int, interval: float, wait: float
) -> list[NeighCheck]:
    from netladder.l2.probe import ArpSession
    from netladder.net.driver import run

    sessions = [
        ArpSession(p.setup, count=count, interval=interval, wait=wait, until_reply=True)
        for p in pending
    ]
    if sessions:
        await run(sessions)
    return [_judge(p.base, s.result()) for p, s in zip(pending, sessions, strict=True)]


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
    with Netlink() as nl:
        decision = lookup_route(destination, iface, nl=nl)
        defaults = default_routes(nl)
        planned = _prepare(decision.destination, decision, defaults, nl)
    if isinstance(planned, NeighCheck):
        return planned
    (check,) = await _probe_all([planned], count, interval, wait)
    return check


async def check_gateways(
    *, count: int = 3, interval: float = 0.5, wait: float = 1.0
) -> tuple[NeighCheck, ...]:
    """The check for every default gateway (v4 and v6), their probes run together."""
    with Netlink() as nl:
        defaults = default_routes(nl)
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
                    "no-default-route",
                ),
            )
        planned = [
            _prepare("default", lookup_route(g, i, nl=nl), defaults, nl)
            for g, i in gateways
            if g is not None
        ]
    pending = [p for p in planned if isinstance(p, _Pending)]
    probed = iter(await _probe_all(pending, count, interval, wait))
    return tuple(next(probed) if isinstance(p, _Pending) else p for p in planned)
