"""`api.scan`: a port check of one host (ScanOptions) — nmap's port states with their reasons,
each port's RTT and TTL, banners and TLS details — as a ScanResult."""

from __future__ import annotations

from netladder.l4.model import (
    Banner,
    Note,
    PortResult,
    PortState,
    ScanOptions,
    ScanProgress,
    ScanResult,
    ScanStarted,
    StateGroup,
)
from netladder.l4.scan import OnProgress
from netladder.l4.scan import scan as _scan

__all__ = [
    "Banner",
    "Note",
    "OnProgress",
    "PortResult",
    "PortState",
    "ScanOptions",
    "ScanProgress",
    "ScanResult",
    "ScanStarted",
    "StateGroup",
    "scan",
]


async def scan(options: ScanOptions, *, on_progress: OnProgress | None = None) -> ScanResult:
    """Check `options.ports` on `options.target` (l4/model.py documents the options).  Bad
    input raises UsageError (a name that does not resolve: ResolveError), a SYN scan without
    CAP_NET_RAW EnvError, a scan this host cannot run at all (no route, no sockets)
    NetladderError; every port's answer, or its silence, is the result.  `on_progress` hears
    ScanStarted, then ScanProgress as ports are decided.  Ctrl-C (or cancellation under the
    CLI's selector) ends it with what it gathered, `interrupted` set; under asyncio a
    cancellation propagates once every socket is closed.  Under the CLI a scan of 4096 ports
    or more forks one worker per core; under asyncio it runs in this process."""
    return await _scan(options, on_progress=on_progress)
