"""The one sentence about a certificate's validity that every command prints (`http`, `port
--tls`): "expires 2026-07-01 (in 29 days)", "EXPIRED 2026-05-01 (36 days ago)", "NOT YET
VALID: valid from 2026-07-01 (in 3 days), expires 2026-08-01", "expiry unknown"."""

from __future__ import annotations

import time

from netladder.i18n import _, ngettext
from netladder.proto.certtime import iso_seconds, validity_state

__all__ = ["describe_validity"]


def _days(seconds: float) -> str:
    days = int(abs(seconds) // 86400)  # whole days, as certificate tools count them
    if days == 0:
        return _("less than a day")
    return ngettext("{days} day", "{days} days", days).format(days=days)


def describe_validity(
    not_before: str, not_after: str, now: float | None = None
) -> tuple[str, bool]:
    """The validity of a certificate in the words every command uses, and whether it is a
    problem.  `not_before` may be "" when a caller does not have it."""
    now = time.time() if now is None else now
    state = validity_state(not_before, not_after, now)
    end = iso_seconds(not_after)
    if state == "not_yet_valid":
        start = iso_seconds(not_before)
        assert start is not None
        if end is not None:
            text = _("NOT YET VALID: valid from {start} (in {days}), expires {end}")
        else:
            text = _("NOT YET VALID: valid from {start} (in {days})")
        return text.format(start=not_before[:10], days=_days(start - now), end=not_after[:10]), True
    if end is None:
        return _("expiry unknown"), False
    if state == "expired":
        return _("EXPIRED {end} ({days} ago)").format(
            end=not_after[:10], days=_days(now - end)
        ), True
    return _("expires {end} (in {days})").format(end=not_after[:10], days=_days(end - now)), False
