"""The JSON API: the monitors, their rounds, and the agent API (the ladder from here).

    GET /api/v1/monitors                         every monitor, its state and last round
    GET /api/v1/monitors/NAME/rounds?from=&to=   its raw rounds in [from, to) — unix seconds
                                                 or ISO 8601; default the last 3 hours
    GET /api/v1/diagnose?target=T[&port=P…]      `netladder diagnose T --json` run here

Times are unix seconds (floats) with an ISO 8601 copy beside them; round-trip times in
milliseconds, as every netladder JSON document has them.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from netladder import __version__
from netladder.serve.config import Allow
from netladder.serve.monitors import MonitorState, Round

__all__ = ["MAX_ROUNDS", "BadQuery", "diagnose_doc", "monitors_doc", "rounds_doc"]

MAX_ROUNDS = 10_000  # rounds in one answer; past that it says `truncated`
DEFAULT_SPAN = 3 * 3600.0


class BadQuery(ValueError):
    """A query parameter that cannot be read (400)."""


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def round_doc(r: Round, rtts: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "start": r.start,
        "time": _iso(r.start),
        "pings": r.pings,
        "sent": r.sent,
        "received": len(r.rtts),
        "loss_percent": None if r.loss is None else round(r.loss * 100, 3),
        "median_ms": _ms(r.median),
    }
    if rtts:
        doc["rtts_ms"] = [_ms(v) for v in r.rtts]
    return doc


def monitors_doc(states: Iterable[MonitorState]) -> dict[str, Any]:
    out = []
    for st in states:
        m = st.monitor
        alert = st.alert
        out.append(
            {
                "name": m.name,
                "target": m.target,
                "module": m.module,
                "prober": st.module.prober,
                "interval_s": m.interval,
                "pings": m.pings,
                "state": alert.state if alert is not None else "unknown",
                "reason": alert.reason if alert is not None else "",
                "since": alert.since if alert is not None else None,
                "last_round": None if st.last is None else round_doc(st.last, rtts=False),
                "alerts": {
                    "loss_percent": m.alerts.loss_percent,
                    "median_ms": m.alerts.median_ms,
                    "rounds": m.alerts.rounds,
                    "webhook": bool(m.alerts.webhook),
                },
            }
        )
    return {"monitors": out}


def parse_time(text: str, key: str) -> float:
    """Unix seconds, or an ISO 8601 date-time (naive: UTC)."""
    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadQuery(
                f"{key}: expected unix seconds or an ISO 8601 time, got {text!r}"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    if not math.isfinite(value):
        raise BadQuery(f"{key}: expected a finite number of seconds, got {text!r}")
    return value


def rounds_doc(
    history: Any, st: MonitorState, params: Mapping[str, str], now: float
) -> dict[str, Any]:
    end = parse_time(params["to"], "to") if params.get("to") else now
    start = parse_time(params["from"], "from") if params.get("from") else end - DEFAULT_SPAN
    if start > end:
        raise BadQuery("from: must not be after to")
    rounds = history.rounds(st.name, start, end) if history is not None else []
    truncated = len(rounds) > MAX_ROUNDS
    return {
        "monitor": st.name,
        "from": start,
        "to": end,
        "truncated": truncated,
        "rounds": [round_doc(r) for r in rounds[:MAX_ROUNDS]],
    }


async def diagnose_doc(
    target: str,
    ports: Sequence[str],
    allow: Allow | None,
    gate: asyncio.Semaphore,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, document) for /api/v1/diagnose."""
    from netladder.errors import NetladderError
    from netladder.net.targets import port_number
    from netladder.serve.probers import Refused, run_diagnosis

    try:
        numbers = [port_number(p, "port") for p in ports]
    except NetladderError as exc:
        return 400, {"error": str(exc)}
    async with gate:
        try:
            diagnosis = await run_diagnosis(target, numbers, allow)
        except Refused as exc:
            return 403, {"error": f"target {str(exc)!r} is not allowed by the allowlist"}
        except NetladderError as exc:
            return 400, {"error": str(exc)}
    return 200, {"agent": {"netladder": __version__}, "diagnosis": diagnosis}
