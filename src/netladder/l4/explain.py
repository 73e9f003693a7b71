"""Sentences about port results that both `port` and `diagnose` say, so they say them alike."""

from __future__ import annotations

from netladder.l4.model import Banner, PortResult

__all__ = ["banner_text", "forged_reset", "hops_text"]

# After what the service said: how its greeting ended, when not with a line end.
_CUT = {
    "limit": "(1 KiB without an end of line: cut there)",
    "timeout": "(no end of line within the wait: what came so far)",
    "closed": "(then the service closed the connection)",
    "reset": "(then the service reset the connection)",
    "error": "(then the connection failed)",
}
# When it said nothing at all.
_NOTHING = {
    "reset": "(the service reset the connection before saying anything)",
    "closed": "(the service closed the connection without a word)",
    "error": "(the connection failed before the service said anything)",
}


def banner_text(banner: Banner) -> str:
    """What a user would have seen in telnet, and how it ended when that matters."""
    if not banner.text:
        return _NOTHING.get(banner.end, "(the service said nothing)")
    cut = _CUT.get(banner.end)
    return f"{banner.text} {cut}" if cut else banner.text


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
