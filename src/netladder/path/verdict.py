"""The verdict: the hop where added latency or loss starts and persists to the destination.

Pure functions over hops, returning a typed finding (`PathVerdict`); `render/trace.py` says
it.  The rules follow what experienced mtr readers do:

* Latency: compare each answering hop's median RTT with the previous answering hop's.  A rise
  counts when it is at least `min_added` and at least half of it is still there at every later
  answering hop (a router that is merely slow to *generate* ICMP shows a rise that the next hops
  do not keep — that is not where the time goes).
* Loss: loss starts at the first hop from which every later hop, the destination included, loses
  at least `min_loss_pct` %.  Loss at a hop that later hops do not share is the router not
  answering or rate-limiting its ICMP, never path loss (REFERENCE.md, mtr).
* Loop: a trace that does not reach the destination and whose hops repeat — the same routers in
  the same order, again and again with increasing TTL, up to the last hop that answered — is a
  routing loop (each router sends the packet on to the next, back to the first, until the TTL
  runs out); the repeating addresses are named.  Each router of the loop must be seen at least
  twice, so a short `-m` never proves one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from netladder.model import replace
from netladder.path.model import (
    Hop,
    HopRef,
    LossStart,
    PathVerdict,
    QuietHop,
    QuietHops,
    Rise,
)

__all__ = ["find_loop", "judge"]

# The longest loop looked for (routers in one cycle).  Real loops are two or three routers.
MAX_LOOP = 8


def _ref(hop: Hop) -> HopRef:
    return HopRef(hop.ttl, hop.address)


def _ms(seconds: float | None) -> float | None:
    # The rules compare in milliseconds, as the thresholds and mtr's columns are given.
    return None if seconds is None else seconds * 1000.0


def judge(
    hops: Sequence[Hop],
    reached: bool,
    *,
    min_added: float = 0.010,
    min_loss_pct: float = 5.0,
    protocol: str = "",
    port: int | None = None,
) -> PathVerdict:
    answered = [h for h in hops if h.stats.received]
    quiet = QuietHops(tuple(QuietHop(t, _loss(hops, t)) for t in _quiet_hops(hops, min_loss_pct)))
    nothing = PathVerdict("no-answer", "nothing", quiet=quiet, protocol=protocol, port=port)
    if not hops:
        return nothing
    last = hops[-1]
    final_error = next((p for p in last.probes if p.kind == "unreachable"), None)
    if final_error is not None:
        where = HopRef(last.ttl, final_error.address)
        return replace(
            nothing,
            kind="unreachable",
            finding="unreachable",
            hop=last.ttl,
            last=where,
            error=final_error,
        )
    if not reached:
        loop = find_loop(hops)
        if loop is not None:
            start, members = loop
            return replace(nothing, finding="loop", hop=start, loop=members, upto=answered[-1].ttl)
        if answered and answered[-1] is last:
            return replace(nothing, finding="max-ttl", hop=last.ttl, last=_ref(last))
        if answered:
            tail = answered[-1]
            return replace(
                nothing, finding="silence", hop=tail.ttl + 1, from_hop=tail.ttl, last=_ref(tail)
            )
        return nothing

    loss = _loss_verdict(hops, min_loss_pct)
    rise = _latency_verdict(answered, min_added)
    if loss is not None or rise is not None:
        # Loss (with the latency, if any, said after it), else latency alone.
        kind = "loss" if loss is not None else "latency"
        return replace(
            nothing,
            kind=kind,
            finding=kind,
            hop=loss.at.ttl if loss is not None else rise.at.ttl if rise is not None else None,
            loss_pct=last.stats.loss_pct if loss is not None else None,
            from_hop=rise.before.ttl if rise is not None else None,
            added=rise.added if rise is not None else None,
            rise=rise,
            loss=loss,
        )
    return replace(nothing, kind="ok", finding="ok", last=_ref(last), rtt=last.stats.median)


def find_loop(hops: Sequence[Hop]) -> tuple[int, tuple[str, ...]] | None:
    """(the TTL where the loop starts, its routers in TTL order), or None.

    A loop of `p` routers: from TTL `s` to the last hop that answered, every hop's responders
    share one with the hop `p` earlier (silent hops are allowed: a router may rate-limit its
    errors), the `p` places of the cycle have disjoint responders, and each place answered at
    two TTLs at least.  The shortest such cycle, starting at the lowest answering TTL, wins."""
    by_ttl = {h.ttl: h for h in hops if h.responders}
    answered = sorted(by_ttl)
    if len(answered) < 4:
        return None
    for period in range(2, MAX_LOOP + 1):
        for start in answered:
            if answered[-1] - start + 1 < 2 * period:
                break
            found = _cycle(by_ttl, start, answered[-1], period)
            if found is not None:
                return start, found
    return None


def _cycle(by_ttl: dict[int, Hop], start: int, last: int, period: int) -> tuple[str, ...] | None:
    places: list[set[str]] = [set() for _ in range(period)]
    answers = [0] * period
    names: list[str] = [""] * period
    for ttl in range(start, last + 1):
        hop = by_ttl.get(ttl)
        if hop is None:
            continue
        here = set(hop.responders)
        earlier = by_ttl.get(ttl - period) if ttl - period >= start else None
        if earlier is not None and not here.intersection(earlier.responders):
            return None  # one cycle earlier, someone else answered
        i = (ttl - start) % period
        places[i] |= here
        answers[i] += 1
        names[i] = names[i] or hop.responders[0]
    if min(answers) < 2:
        return None
    union: set[str] = set()
    for place in places:
        if union & place:
            return None  # one router at two places of the cycle: not this period
        union |= place
    return tuple(names)


def _loss(hops: Sequence[Hop], ttl: int) -> float:
    return next(h.stats.loss_pct for h in hops if h.ttl == ttl)


def _clearly_more_loss(hop: Hop, other: Hop) -> bool:
    """Whether `hop` lost more than `other` beyond sampling noise: the two-proportion z-test
    at z > 3 (pooled).  Two hops behind one lossy link each lose ~p of n probes, and with
    n = 80, p = 0.3 their losses differ by more than 15 points now and then by chance alone."""
    n1, n2 = hop.stats.sent, other.stats.sent
    if n1 <= 0 or n2 <= 0:
        return False
    p1, p2 = hop.stats.lost / n1, other.stats.lost / n2
    pooled = (hop.stats.lost + other.stats.lost) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return p1 - p2 > 3 * spread


def _quiet_hops(hops: Sequence[Hop], min_loss_pct: float) -> tuple[int, ...]:
    """Hops losing much more than some hop after them (which it cannot, were the loss on the
    path): the router is not answering, not losing packets.  "Much": at least `min_loss_pct`
    points, twice the later loss, and more than sampling noise between two lossy hops."""
    out = []
    for i, hop in enumerate(hops):
        later = hops[i + 1 :]
        if not later or hop.stats.loss_pct < min_loss_pct:
            continue
        least = min(later, key=lambda h: h.stats.loss_pct)
        floor = least.stats.loss_pct
        # A later hop that lost nothing cannot sit behind a lossy link (at any sample size,
        # e.g. one-shot traces' three probes); one that lost some must differ beyond noise.
        if (
            hop.stats.loss_pct - floor >= min_loss_pct
            and floor < hop.stats.loss_pct / 2
            and (least.stats.lost == 0 or _clearly_more_loss(hop, least))
        ):
            out.append(hop.ttl)
    return tuple(out)


def _loss_verdict(hops: Sequence[Hop], min_loss_pct: float) -> LossStart | None:
    dest = hops[-1]
    if dest.stats.loss_pct < min_loss_pct or dest.stats.lost == 0:
        return None
    start = len(hops) - 1
    while start > 0 and hops[start - 1].stats.loss_pct >= min_loss_pct:
        start -= 1
    # The hop where it starts must not be a quiet one with much more loss than the rest:
    # skip leading hops whose loss is far above the destination's.
    while start < len(hops) - 1 and hops[start].stats.loss_pct - dest.stats.loss_pct > 2 * max(
        min_loss_pct, dest.stats.loss_pct
    ):
        start += 1
    hop = hops[start]
    before = next((h for h in reversed(hops[:start]) if h.stats.received), None)
    return LossStart(
        None if before is None else _ref(before),
        _ref(hop),
        hop.stats.loss_pct,
        dest.stats.loss_pct,
        hop is dest,
    )


def _latency_verdict(answered: Sequence[Hop], min_added: float) -> Rise | None:
    best: tuple[Hop, Hop, float] | None = None
    floor = min_added * 1000.0
    for i in range(1, len(answered)):
        prev, hop = answered[i - 1], answered[i]
        base, here = _ms(prev.stats.median), _ms(hop.stats.median)
        if base is None or here is None:
            continue
        added = here - base
        if added < floor:
            continue
        later = [_ms(h.stats.median) for h in answered[i + 1 :] if h.stats.median is not None]
        if any(v is not None and v < base + added / 2 for v in later):
            continue  # the rise does not persist: a router slow to answer, not the path
        if best is None or added > best[2]:
            best = (prev, hop, added)
    if best is None:
        return None
    return Rise(_ref(best[0]), _ref(best[1]), best[2] / 1000.0)
