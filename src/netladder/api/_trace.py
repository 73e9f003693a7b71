"""`api.trace`: the path to a target, traceroute's hops or mtr's per-hop statistics, with the
verdict (TraceOptions → TraceResult)."""

from __future__ import annotations

from netladder.path.model import (
    Hop,
    HopStats,
    PathVerdict,
    ProbeResult,
    TraceCycle,
    TraceOptions,
    TraceResult,
)
from netladder.path.trace import OnCycle, send_failure
from netladder.path.trace import trace as _trace

__all__ = [
    "Hop",
    "HopStats",
    "PathVerdict",
    "ProbeResult",
    "TraceCycle",
    "TraceOptions",
    "TraceResult",
    "send_failure",
    "trace",
]


async def trace(options: TraceOptions, *, on_event: OnCycle | None = None) -> TraceResult:
    """Trace the path to `options.target` (UDP, ICMP or TCP probes; one-shot as traceroute, or
    `cycles` of mtr's report) and judge it: the hop where added latency or loss starts and
    persists, a routing loop, where silence begins.

    `on_event` hears a `TraceCycle` (the trace as it stands) after each report cycle.  Bad
    options, a target that is not a unicast address or does not resolve raise UsageError
    (ResolveError); a missing privilege or kernel feature EnvError.  A probe that could not be
    sent (no route, a local firewall) ends the trace with `send_error` set — `send_failure`
    says it as the error the CLI prints; Ctrl-C (or cancellation under the CLI's selector)
    ends it with what it gathered, `interrupted` set."""
    return await _trace(options, on_event=on_event)
