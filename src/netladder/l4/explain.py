"""Sentences about port results that both `port` and `diagnose` say, so they say them alike."""

from __future__ import annotations

from netladder.l4.model import PortResult

__all__ = ["forged_reset", "hops_text"]


def hops_text(n: int) -> str:
    return f"about {n} hop{'s' if n != 1 else ''}"


def forged_reset(row: PortResult, host_ttl: int | None) -> str:
    """What a reset from nearer than the host means: its TTL said it came from before the host
    (a router's `REJECT --reject-with tcp-reset`), so it is no proof that nothing listens."""
    n = row.reset_hops_before or 0
    theirs = f"; the host's own answers: TTL {host_ttl}" if host_ttl else ""
    return (
        f"the reset came from {hops_text(n)} before the host (TTL {row.ttl}{theirs}): "
        "something on the path rejects the connection in the host's name"
    )
