"""Round-trip statistics as pure functions, computed the way iputils ping and fping compute them.

iputils keeps RTTs as whole microseconds and does the summary in integer arithmetic:
avg = Σt / n and mdev = isqrt(Σt²/n − avg²) (a population SD, every division truncating), and
prints each figure as `ms.µs`.  Reproducing that arithmetic is what makes our summary line equal
to iputils' on the same samples.  The extra figures (median, p95, jitter, sample SD) are what
users ask for and iputils does not give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from netladder.model import field, json_pick, json_skip, record

__all__ = [
    "IputilsRtt",
    "RttStats",
    "ewma_us",
    "fmt_loss",
    "fmt_reply_us",
    "fping_loss",
    "iputils_rtt",
    "jitter",
    "loss_percent",
    "percentile",
    "rtt_stats",
]


INT_MAX = 2**31 - 1


@record
class IputilsRtt:
    """min/avg/max/mdev in whole microseconds, exactly as iputils derives them."""

    min_us: int
    avg_us: int
    max_us: int
    mdev_us: int

    # The same figures in ms, for JSON (µs / 1000, as they always were).
    @property
    def min_ms(self) -> float:
        return self.min_us / 1000

    @property
    def avg_ms(self) -> float:
        return self.avg_us / 1000

    @property
    def max_ms(self) -> float:
        return self.max_us / 1000

    @property
    def mdev_ms(self) -> float:
        return self.mdev_us / 1000

    def line(self) -> str:
        """`rtt min/avg/max/mdev = 0.045/0.052/0.060/0.006 ms` (always three decimals)."""
        figures = "/".join(
            f"{v // 1000}.{v % 1000:03d}"
            for v in (self.min_us, self.avg_us, self.max_us, self.mdev_us)
        )
        return f"rtt min/avg/max/mdev = {figures} ms"


def iputils_rtt(samples_us: Sequence[int]) -> IputilsRtt | None:
    """iputils' summary over replies *and* duplicates (ping_common.c: finish())."""
    if not samples_us:
        return None
    n = len(samples_us)
    total = sum(samples_us)
    total2 = sum(t * t for t in samples_us)
    avg = total // n
    if total < INT_MAX:
        # iputils' order of operations, "important to avoid integer rounding errors".
        variance = (total2 - (total * total) // n) // n
    else:
        variance = total2 // n - avg * avg
    mdev = math.isqrt(abs(variance))
    return IputilsRtt(min(samples_us), avg, max(samples_us), mdev)


def fmt_reply_us(t: int) -> str:
    """A reply line's `time=` from whole µs, as iputils prints it (ping_common.c:
    gather_statistics()): rounded to 1 decimal from 9.995 ms and to whole ms from 99.95 ms,
    rounded to 2 decimals from 1 ms, and below 1 ms the µs themselves — so a reply line and the
    statistics over it (`min/avg/max`, also whole µs) agree to the µs."""
    if t >= 100_000 - 50:
        return f"{(t + 500) // 1000}"
    if t >= 10_000 - 5:
        return f"{(t + 50) // 1000}.{(t + 50) % 1000 // 100}"
    if t >= 1000:
        return f"{(t + 5) // 1000}.{(t + 5) % 1000 // 10:02d}"
    return f"{t // 1000}.{t % 1000:03d}"


def ewma_us(samples_us: Sequence[int]) -> int:
    """iputils' smoothed RTT (×8 fixed point: rtt += t − rtt/8), in µs, for `ipg/ewma`."""
    rtt8 = 0
    for t in samples_us:
        rtt8 = t * 8 if not rtt8 else rtt8 + t - rtt8 // 8
    return rtt8 // 8


def loss_percent(transmitted: int, received: int) -> float:
    """(T − R)·100 / T; duplicates are not in R (iputils), 0 when nothing was sent."""
    if transmitted <= 0:
        return 0.0
    return (transmitted - received) * 100.0 / transmitted


def fmt_loss(percent: float) -> str:
    """iputils prints the loss with C's %g (six significant digits): 0, 20, 33.3333."""
    return f"{percent:g}"


def fping_loss(sent: int, received: int) -> int:
    """fping's integer loss percentage (fping.c: print_per_system_stats)."""
    return (sent - received) * 100 // sent if sent > 0 else 0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def jitter(samples: Sequence[float]) -> float:
    """Mean |rtt_n − rtt_(n−1)| over consecutive samples (mtr's Javg)."""
    if len(samples) < 2:
        return 0.0 if samples else math.nan
    return sum(abs(b - a) for a, b in zip(samples, samples[1:], strict=False)) / (len(samples) - 1)


@record
class RttStats:
    """Round-trip figures in ms over every sample (replies and duplicates, as iputils counts),
    computed from ms as ping always did (so JSON keeps its values to the last digit); with
    `iputils`, iputils' own integer figures beside them."""

    n: int = field(metadata=json_skip())
    min_ms: float
    avg_ms: float
    max_ms: float
    mdev_ms: float  # iputils' mdev: the population SD
    sd_ms: float  # the sample SD (n − 1), what mtr's StDev and most users expect
    median_ms: float
    p95_ms: float
    jitter_ms: float
    iputils: IputilsRtt | None = field(
        default=None,
        metadata=json_pick(min_ms="min_ms", avg_ms="avg_ms", max_ms="max_ms", mdev_ms="mdev_ms"),
    )


def rtt_stats(samples_ms: Sequence[float]) -> RttStats | None:
    """Float statistics for JSON; samples in the order they arrived."""
    n = len(samples_ms)
    if n == 0:
        return None
    avg = sum(samples_ms) / n
    squares = sum((x - avg) ** 2 for x in samples_ms)
    ordered = sorted(samples_ms)
    return RttStats(
        n=n,
        min_ms=ordered[0],
        avg_ms=avg,
        max_ms=ordered[-1],
        mdev_ms=math.sqrt(squares / n),
        sd_ms=math.sqrt(squares / (n - 1)) if n > 1 else 0.0,
        median_ms=percentile(ordered, 50),
        p95_ms=percentile(ordered, 95),
        jitter_ms=jitter(samples_ms),
    )
