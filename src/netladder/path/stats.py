"""Per-hop statistics as pure functions over the RTTs of one TTL's probes (mtr's columns)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from netladder.path.model import HopStats

__all__ = ["hop_stats", "median"]


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def hop_stats(rtts: Sequence[float | None]) -> HopStats:
    """`rtts` (seconds) in the order the probes were sent; None for a probe that got no answer.

    Loss% = 100 − 100·received/sent (every probe here is answered or timed out, so none is
    "in flight").  StDev is the sample standard deviation (n − 1), as mtr prints it; jitter is
    |rtt_n − rtt_n−1| between consecutive answers, its mean and maximum (mtr's Javg, Jmax).
    """
    sent = len(rtts)
    got = [r for r in rtts if r is not None]
    received = len(got)
    loss = 100.0 * (sent - received) / sent if sent else 0.0
    if not got:
        return HopStats(sent, 0, loss, None, None, None, None, None, None, None, None)
    avg = sum(got) / received
    stdev = math.sqrt(sum((r - avg) ** 2 for r in got) / (received - 1)) if received > 1 else 0.0
    jitters = [abs(b - a) for a, b in zip(got, got[1:], strict=False)]
    javg = sum(jitters) / len(jitters) if jitters else 0.0
    jmax = max(jitters) if jitters else 0.0
    return HopStats(
        sent, received, loss, got[-1], avg, min(got), max(got), stdev, median(got), javg, jmax
    )
