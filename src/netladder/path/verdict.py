"""The verdict: the hop where added latency or loss starts and persists to the destination.

Pure functions over hops.  The rules follow what experienced mtr readers do:

* Latency: compare each answering hop's median RTT with the previous answering hop's.  A rise
  counts when it is at least `min_added_ms` and at least half of it is still there at every later
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

from netladder.path.model import Hop, Verdict

__all__ = ["find_loop", "judge"]

# The longest loop looked for (routers in one cycle).  Real loops are two or three routers.
MAX_LOOP = 8


def _name(hop: Hop) -> str:
    return f"hop {hop.ttl} ({hop.address})" if hop.address else f"hop {hop.ttl}"


def judge(
    hops: Sequence[Hop],
    reached: bool,
    *,
    min_added_ms: float = 10.0,
    min_loss_pct: float = 5.0,
    protocol: str = "",
    port: int | None = None,
) -> Verdict:
    answered = [h for h in hops if h.stats.received]
    quiet = _quiet_hops(hops, min_loss_pct)
    notes = tuple(
        f"hop {t}: {_loss(hops, t):.0f}% unanswered but later hops answer — the router is not "
        "answering or rate-limiting ICMP, not path loss"
        for t in quiet
    )
    if not hops:
        return Verdict("no-answer", "nothing answered", notes=notes)
    last = hops[-1]
    final_error = next((p for p in last.probes if p.kind == "unreachable"), None)
    if final_error is not None:
        where = f"hop {last.ttl} ({final_error.address})"
        return Verdict(
            "unreachable",
            f"{where} answered {final_error.detail or 'unreachable'}"
            f" {final_error.annotation}".rstrip(),
            hop=last.ttl,
            quiet_hops=quiet,
            notes=notes,
        )
    if not reached:
        loop = find_loop(hops)
        if loop is not None:
            start, members = loop
            names = (
                " and ".join(members)
                if len(members) == 2
                else ", ".join(members[:-1]) + f" and {members[-1]}"
            )
            upto = answered[-1].ttl
            return Verdict(
                "no-answer",
                f"routing loop {'between' if len(members) == 2 else 'through'} "
                f"{names}: hops {start}-{start + len(members) - 1} repeat up to hop "
                f"{upto}, the destination is not reached",
                hop=start,
                quiet_hops=quiet,
                notes=notes,
                loop=members,
            )
        if answered and answered[-1] is last:
            return Verdict(
                "no-answer",
                f"the destination was not reached within {last.ttl} "
                f"hops; the last is {_name(last)}",
                hop=last.ttl,
                quiet_hops=quiet,
                notes=notes,
            )
        if answered:
            tail = answered[-1]
            text = (
                f"the destination did not answer; the last hop that answered is "
                f"{_name(tail)}, silence from hop {tail.ttl + 1} on"
            )
            if protocol == "tcp" and port is not None:
                # Silence alone does not say who drops: a filter on the port, a router that
                # forwards nothing, a host that is down all look the same from here.
                text += (
                    f" (no SYN-ACK or RST for tcp port {port}: the probes are dropped on "
                    "the way or at the host — a firewall on the port, a router that does "
                    "not forward, or the host down; --proto icmp shows whether the host "
                    "answers)"
                )
            return Verdict(
                "no-answer",
                text,
                hop=tail.ttl + 1,
                from_hop=tail.ttl,
                quiet_hops=quiet,
                notes=notes,
            )
        return Verdict("no-answer", "nothing answered", notes=notes)

    loss = _loss_verdict(hops, min_loss_pct)
    latency = _latency_verdict(answered, min_added_ms)
    if loss is not None:
        text = loss[1]
        if protocol == "udp" and loss[0] == last.ttl:
            text += (
                " (only the destination loses: it may be rate-limiting ICMP port "
                "unreachable, 1/s by default on Linux; --proto icmp tells them apart)"
            )
        if latency is not None:
            text += f"; also {latency[1]}"
        return Verdict(
            "loss",
            text,
            hop=loss[0],
            loss_pct=last.stats.loss_pct,
            from_hop=latency[0][0] if latency else None,
            added_ms=latency[0][2] if latency else None,
            quiet_hops=quiet,
            notes=notes,
        )
    if latency is not None:
        (prev, hop, added), text = latency
        return Verdict(
            "latency", text, hop=hop, from_hop=prev, added_ms=added, quiet_hops=quiet, notes=notes
        )
    dest = last
    rtt = dest.stats.median_ms
    figure = f", {rtt:.1f} ms" if rtt is not None else ""
    return Verdict(
        "ok",
        f"no hop adds latency or loss (destination at hop {dest.ttl}{figure})",
        quiet_hops=quiet,
        notes=notes,
    )


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


def _loss_verdict(hops: Sequence[Hop], min_loss_pct: float) -> tuple[int, str] | None:
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
    where = (
        f"between {_name(before)} and {_name(hop)}" if before is not None else f"at {_name(hop)}"
    )
    text = (
        f"loss starts {where} and persists to the destination: "
        f"{hop.stats.loss_pct:.1f}% at hop {hop.ttl}, {dest.stats.loss_pct:.1f}% at the "
        f"destination"
    )
    return hop.ttl, text


def _latency_verdict(
    answered: Sequence[Hop], min_added_ms: float
) -> tuple[tuple[int, int, float], str] | None:
    best: tuple[int, int, float] | None = None
    for i in range(1, len(answered)):
        prev, hop = answered[i - 1], answered[i]
        base, here = prev.stats.median_ms, hop.stats.median_ms
        if base is None or here is None:
            continue
        added = here - base
        if added < min_added_ms:
            continue
        later = [h.stats.median_ms for h in answered[i + 1 :] if h.stats.median_ms is not None]
        if any(v < base + added / 2 for v in later):
            continue  # the rise does not persist: a router slow to answer, not the path
        if best is None or added > best[2]:
            best = (prev.ttl, hop.ttl, added)
    if best is None:
        return None
    prev_hop = next(h for h in answered if h.ttl == best[0])
    hop = next(h for h in answered if h.ttl == best[1])
    return best, f"+{best[2]:.1f} ms between {_name(prev_hop)} and {_name(hop)}"
