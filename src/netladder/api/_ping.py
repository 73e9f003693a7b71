"""`api.ping`: ICMP echo to one or more targets at once (PingOptions) — iputils ping's
statistics, exit rule and ICMP errors as one PingResult per target."""

from __future__ import annotations

import os
from collections.abc import Callable

from netladder.errors import UsageError
from netladder.l3.model import (
    MAX_PAYLOAD,
    Corrupted,
    PingEvent,
    PingOptions,
    PingResult,
    PingStarted,
    ProbeError,
    Sample,
)
from netladder.l3.ping import sessions
from netladder.net.driver import lookup, run

__all__ = [
    "Corrupted",
    "PingEvent",
    "PingOptions",
    "PingResult",
    "PingStarted",
    "ProbeError",
    "Sample",
    "ping",
]

MIN_USER_INTERVAL = 0.002  # iputils: "minimal interval allowed for user is 2ms"

# on_event(run, event): `run` is the target's PingStarted (what every line about it needs),
# `event` what happened — the PingStarted itself first, then each reply and error.
OnEvent = Callable[[PingStarted, PingEvent], None]


def _check(options: PingOptions) -> None:
    """What argparse cannot say: ranges and combinations (the CLI and serve share it)."""
    if not options.targets:
        raise UsageError("no target given")
    if options.count is not None and options.count < 1:
        raise UsageError("count must be at least 1: {count}", count=options.count)
    for name in ("interval", "wait", "deadline"):
        value = getattr(options, name)
        if value is not None and not (value >= 0 and value < float("inf")):
            raise UsageError("invalid time {value!r} ({name})", value=value, name=name)
    if not 0 <= options.size <= MAX_PAYLOAD[6]:
        raise UsageError("size {size} out of range 0-65527", size=options.size)
    if options.ttl is not None and not 1 <= options.ttl <= 255:
        raise UsageError("TTL {ttl} out of range 1-255", ttl=options.ttl)
    if options.interval < MIN_USER_INTERVAL and os.geteuid() != 0:
        raise UsageError(
            "netladder ping: cannot flood; the smallest interval allowed for a user is 0.002 s (-i)"
        )


async def ping(options: PingOptions, *, on_event: OnEvent | None = None) -> tuple[PingResult, ...]:
    """Ping every target of `options` at once; a result per target, in order.  On a raw
    socket, every ping running on the same loop with the same socket options shares one
    (net/driver.py's shared echo socket), each with its own identifier and TTL.

    Bad input — a target that does not resolve (ResolveError), a size above the family's
    maximum, a broadcast address without `broadcast` — raises UsageError before anything is
    sent; no ICMP socket permitted raises EnvError.  Ctrl-C (or cancellation under the CLI's
    selector) ends every run with what it gathered, `interrupted` set on the unfinished."""
    _check(options)
    targets = [await lookup(t, options.version) for t in options.targets]
    for t in targets:
        if options.size > MAX_PAYLOAD[t.version]:
            raise UsageError(
                "netladder ping: size {size} is above the IPv{version} maximum {maximum} (-s)",
                size=options.size,
                version=t.version,
                maximum=MAX_PAYLOAD[t.version],
            )
    runs = sessions(targets, options)
    heard = None
    if on_event is not None:
        tell = on_event
        started: dict[int, PingStarted] = {}

        def heard(session: object, event: object) -> None:
            if isinstance(event, PingStarted):
                started[id(session)] = event
            tell(started[id(session)], event)  # type: ignore[arg-type]

    await run(runs, heard)
    return tuple(s.result() for s in runs)
