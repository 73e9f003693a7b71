"""A certificate's validity period as times (RFC 5280 §4.1.2.5), pure: the ISO 8601 form
net/tls.py reads notBefore/notAfter into, back to Unix seconds, and the state at a moment.
The driver's TLS details (net/tls.py) and the sentence about them (render/tls.py) share it."""

from __future__ import annotations

import time

__all__ = ["iso_seconds", "validity_state"]


def iso_seconds(iso: str) -> float | None:
    """An ISO 8601 time ("…Z" or "…+00:00") as a Unix time; None when empty or unreadable."""
    if not iso:
        return None
    import datetime

    try:
        moment = datetime.datetime.fromisoformat(iso)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def validity_state(not_before: str, not_after: str, now: float | None = None) -> str:
    """ "not_yet_valid" before notBefore, "expired" after notAfter (both ends are inside the
    period), "valid" between, "unknown" without a readable notAfter."""
    now = time.time() if now is None else now
    start, end = iso_seconds(not_before), iso_seconds(not_after)
    if start is not None and now < start:
        return "not_yet_valid"
    if end is None:
        return "unknown"
    return "expired" if now > end else "valid"
