"""`api.sweep`: ICMP echo to many targets from one socket (SweepOptions) — fping's alive set,
retries and per-target statistics as a Sweep (one SweepResult per IP version)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from netladder.errors import UsageError, from_oserror
from netladder.l3.sweep import SweepSession, build_targets
from netladder.l3.sweep_model import (
    Sweep,
    SweepOptions,
    SweepProgress,
    SweepResult,
    SweepStarted,
    SweepTarget,
    SweepTotals,
    TargetList,
    Unresolved,
)
from netladder.net.driver import run

__all__ = [
    "Sweep",
    "SweepEvent",
    "SweepOptions",
    "SweepProgress",
    "SweepResult",
    "SweepStarted",
    "SweepTarget",
    "SweepTotals",
    "TargetList",
    "Unresolved",
    "sweep",
]

SweepEvent = Unresolved | SweepStarted | SweepProgress
MAX_SIZE = 65507  # the largest echo data an IPv4 datagram carries


def _check(options: SweepOptions) -> None:
    """What argparse cannot say: ranges (the CLI and serve share it)."""

    def at_least(name: str, value: float, low: float) -> None:
        if not (math.isfinite(value) and value >= low):
            raise UsageError(
                "{name} must be at least {low:g}: {value}", name=name, low=low, value=value
            )

    if not options.targets:
        raise UsageError("no target given")
    if options.count is not None:
        at_least("count", options.count, 1)
    at_least("timeout", options.timeout, 0.001)
    at_least("retries", options.retries, 0)
    at_least("backoff", options.backoff, 1)
    at_least("period", options.period, 0.001)
    if options.rate is not None:
        at_least("rate", options.rate, 0)
    at_least("size", options.size, 0)
    if options.size > MAX_SIZE:
        raise UsageError(
            "netladder sweep: size {size} is above the maximum {maximum}",
            size=options.size,
            maximum=MAX_SIZE,
        )


async def sweep(
    options: SweepOptions, *, on_event: Callable[[SweepEvent], None] | None = None
) -> Sweep:
    """Probe every address, name, CIDR block and A-B range of `options`, one IP version after
    the other.  A name that does not resolve is left out and listed in `unresolved` (fping
    probes the others); every other bad input raises UsageError, no ICMP socket permitted
    EnvError.  `on_event` hears each Unresolved name as the targets are read, SweepStarted
    (how many targets) before the first probe, then SweepProgress (how many more targets have
    their verdict).  Ctrl-C (or cancellation under the CLI's selector) ends the sweep with
    what it gathered, `interrupted` set."""
    _check(options)
    lists, unresolved = await build_targets(options.targets, options.version)
    if on_event is not None:
        for name in unresolved:
            on_event(name)
        if lists:
            on_event(SweepStarted(sum(len(t) for t in lists)))

    def heard(_session: object, event: object) -> None:
        if on_event is not None and isinstance(event, SweepProgress):
            on_event(event)

    results: list[SweepResult] = []
    for targets in lists:
        session = SweepSession(targets, options)
        await run([session], heard)
        if session.fatal is not None:
            err, address = session.fatal
            raise from_oserror(
                OSError(err, os.strerror(err)), "cannot send to {address}", address=address
            )
        results.append(session.result())
        if results[-1].interrupted:
            break
    return Sweep(tuple(results), unresolved)
