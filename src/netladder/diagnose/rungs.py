"""The route and L2 rungs of `netladder diagnose`: the L2 package's checks as `Rung`s.

`route_rung(address)` passes when the kernel has a usable route; `l2_rung(address)` passes when
the next hop's table MAC is the MAC that answers it live.  Without CAP_NET_RAW the live half is
impossible, so the L2 rung reports what the table says and warns instead of failing.
"""

from __future__ import annotations

import time

from netladder.diagnose.model import Rung, Status
from netladder.errors import EnvError
from netladder.l2.neigh import Verdict, check_next_hop, neighbour_table
from netladder.l2.route import lookup_route
from netladder.output import to_jsonable

__all__ = ["l2_rung", "route_rung"]


async def route_rung(address: str) -> Rung:
    started = time.monotonic()
    d = await lookup_route(address)
    elapsed = (time.monotonic() - started) * 1000
    evidence = to_jsonable(d)
    if not d.reachable:
        return Rung(
            "route",
            Status.FAIL,
            f"no route to {address}: {d.error or d.type}",
            elapsed,
            f"netladder route {address}",
            evidence,
        )
    if d.type == "local":
        summary = f"{address} is this host's own address"
    elif d.gateway:
        summary = f"via gateway {d.gateway} on {d.iface} (route {d.prefix or '?'})"
    else:
        summary = f"on-link on {d.iface} (route {d.prefix or '?'})"
    return Rung("route", Status.PASS, summary, elapsed, None, evidence)


async def l2_rung(address: str) -> Rung:
    started = time.monotonic()
    try:
        c = await check_next_hop(address)
    except EnvError as exc:
        decision = await lookup_route(address)
        hop = decision.next_hop
        table = await neighbour_table(decision.iface) if decision.iface else None
        entry = next((e for e in table.entries if e.address == hop), None) if table else None
        seen = (
            f"the table has {entry.mac} ({entry.state}) for {hop}"
            if entry
            else f"the table has no entry for {hop}"
        )
        return Rung(
            "l2",
            Status.WARN,
            f"not checked live ({exc.problem}); {seen}",
            (time.monotonic() - started) * 1000,
            f"sudo netladder neigh --check {address}",
            {"next_hop": hop, "table": to_jsonable(entry), "not_checked": exc.problem},
        )
    elapsed = (time.monotonic() - started) * 1000
    status = (
        Status.PASS
        if c.verdict == Verdict.OK
        else Status.SKIP
        if c.verdict == Verdict.NOT_APPLICABLE
        else Status.FAIL
    )
    evidence = to_jsonable(c)
    evidence["ok"] = c.ok
    return Rung(
        "l2",
        status,
        c.summary,
        elapsed,
        c.fix or (None if c.ok else f"netladder neigh --check {address}"),
        evidence,
    )
