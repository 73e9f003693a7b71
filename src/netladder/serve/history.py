"""The monitors' history: an embedded SQLite file (stdlib sqlite3), one row per round.

Uptime Kuma kept a row per check and grew an 8 GB file (its issue #4041); SmokePing keeps an
RRD per target whose rows are rounds (every ping of a round in one row, sorted) and whose
archives consolidate them.  This file does the same with SQLite:

    rounds   one row per round: start (ms), pings configured, sent, lost, the SmokePing
             median (µs), the replies' round-trip times, sorted, packed as little-endian
             uint32 microseconds, and the pings that could not be sent (a name that does not
             resolve: the alerts call such a round bad) — kept `raw_days` (14)
    hourly   one row per monitor and hour: rounds, sent, lost, the average median and the
             smoke — each of the `pings` ranks averaged over the hour as an RRD AVERAGE
             consolidation does (a rank unknown in half the rounds or more stays unknown) —
             kept `rollup_days` (400)
    detail   the last HTTP phases or trace hops of each monitor (one row each)

Bounded: old rows are deleted once an hour (of round time) and their pages handed back with
incremental vacuum, so the file holds at most raw_days of rounds and rollup_days of hours.
Durable: WAL, one transaction per round; a process killed at any point loses no committed
round (WAL with synchronous=NORMAL survives a process crash; only a power cut can lose the
last transactions).  One writer: the file is locked (flock) while a server writes it, and a
second server on the same file is refused.
"""

from __future__ import annotations

import json
import math
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from netladder.errors import EnvError
from netladder.serve.config import HistoryConfig
from netladder.serve.monitors import Round

__all__ = [
    "WAL_BYTES",
    "History",
    "Rollup",
    "consolidate",
    "merge",
    "pack",
    "padded",
    "single",
    "unpack",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WAL_PAGES = 256
WAL_BYTES = 1 << 20
UNKNOWN = 0xFFFFFFFF  # a rank with no value (a lost ping's padding) in a packed smoke

_SCHEMA = """
CREATE TABLE IF NOT EXISTS monitors (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS rounds (
    mid INTEGER NOT NULL, t INTEGER NOT NULL, pings INTEGER NOT NULL, sent INTEGER NOT NULL,
    lost INTEGER NOT NULL, median_us INTEGER, rtts BLOB NOT NULL,
    errors INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (mid, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly (
    mid INTEGER NOT NULL, hour INTEGER NOT NULL, rounds INTEGER NOT NULL, sent INTEGER NOT NULL,
    lost INTEGER NOT NULL, median_us INTEGER, smoke BLOB NOT NULL, PRIMARY KEY (mid, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS detail (mid INTEGER PRIMARY KEY, t INTEGER NOT NULL, json TEXT);
"""


def pack(values_s: Sequence[float | None]) -> bytes:
    """Seconds → little-endian uint32 microseconds; None → UNKNOWN."""
    return struct.pack(
        f"<{len(values_s)}I",
        *(UNKNOWN if v is None else min(round(v * 1e6), UNKNOWN - 1) for v in values_s),
    )


def unpack(blob: bytes) -> list[float | None]:
    return [None if v == UNKNOWN else v / 1e6 for v in struct.unpack(f"<{len(blob) // 4}I", blob)]


def _us(value: float | None) -> int | None:
    return None if value is None else round(value * 1e6)


@dataclass(frozen=True, slots=True)
class Rollup:
    """Rounds consolidated: an hour of the history, or a column of a graph."""

    start: float  # seconds
    rounds: int
    sent: int
    lost: int
    median: float | None  # the average of the rounds' medians
    smoke: tuple[float | None, ...]  # `pings` ranks, SmokePing's padded and sorted order

    @property
    def loss(self) -> float | None:
        return self.lost / self.sent if self.sent else None


def padded(rnd: Round, pings: int) -> list[float | None]:
    """A round's replies in SmokePing's ranks (probes/base.pm): the missing ones as unknown,
    half of them before the sorted replies and the other half after."""
    missing = max(pings - len(rnd.rtts), 0)
    lower = missing // 2
    return [None] * lower + list(rnd.rtts[:pings]) + [None] * (missing - lower)


def single(rnd: Round, pings: int) -> Rollup:
    """One round as a Rollup of itself."""
    return Rollup(rnd.start, 1, rnd.sent, rnd.lost, rnd.median, tuple(padded(rnd, pings)))


def merge(start: float, items: Sequence[Rollup], pings: int) -> Rollup:
    """Rollups → one, as RRDtool's AVERAGE consolidation with SmokePing's xff of 0.5 treats
    each rank: the mean of the known values, unknown when half or more are unknown."""
    sums = [0.0] * pings
    counts = [0] * pings
    medians = [r.median for r in items if r.median is not None]
    for r in items:
        for i, v in enumerate(r.smoke[:pings]):
            if v is not None:
                sums[i] += v
                counts[i] += 1
    n = len(items)
    smoke = tuple(
        sums[i] / counts[i] if counts[i] and counts[i] * 2 > n else None for i in range(pings)
    )
    return Rollup(
        start,
        sum(r.rounds for r in items),
        sum(r.sent for r in items),
        sum(r.lost for r in items),
        sum(medians) / len(medians) if medians else None,
        smoke,
    )


def consolidate(start: float, rounds: Sequence[Round], pings: int) -> Rollup:
    """Rounds → one Rollup (an hour of the history)."""
    return merge(start, [single(r, pings) for r in rounds], pings)


class History:
    """The history file (or, with no path, the same tables in memory)."""

    def __init__(self, path: str | None, config: HistoryConfig | None = None) -> None:
        self.path = path
        self.config = config or HistoryConfig()
        self._lock: Any = None
        if path is not None:
            self._lock = _lock(path)
        try:
            self.db = sqlite3.connect(path or ":memory:", isolation_level=None)
            db = self.db
            # auto_vacuum must be chosen before the first table exists; on an older file it
            # stays as it was (freed pages are then reused rather than returned).
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            if path is not None:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
                # The WAL is checkpointed every WAL_PAGES pages and cut back to WAL_BYTES after
                # (by default it would keep its largest size: 4 MB here, forever).
                db.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")
                db.execute(f"PRAGMA journal_size_limit = {WAL_BYTES}")
            db.executescript(_SCHEMA)
            # A file written before `errors` was kept: its rounds read as having none.
            if "errors" not in {row[1] for row in db.execute("PRAGMA table_info(rounds)")}:
                db.execute("ALTER TABLE rounds ADD COLUMN errors INTEGER NOT NULL DEFAULT 0")
        except sqlite3.Error as exc:
            self.close()
            raise EnvError(
                "history {path}: cannot open it: {error}", path=path, error=exc
            ) from None
        self._ids: dict[str, int] = {}
        self._rolled: dict[int, int] = {}  # mid → the last hour rolled up
        self._pruned_hour = -1

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- writing -----------------------------------------------------------------------------

    def _mid(self, name: str) -> int:
        mid = self._ids.get(name)
        if mid is None:
            self.db.execute("INSERT OR IGNORE INTO monitors (name) VALUES (?)", (name,))
            row = self.db.execute("SELECT id FROM monitors WHERE name = ?", (name,)).fetchone()
            mid = self._ids[name] = int(row[0])
        return mid

    def add(self, name: str, rnd: Round, detail: dict[str, Any] | None = None) -> None:
        """Write one round (and roll up the hours it closes) in one transaction."""
        t = round(rnd.start * 1000)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            mid = self._mid(name)
            db.execute(
                "INSERT OR REPLACE INTO rounds (mid, t, pings, sent, lost, median_us, rtts, errors)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    mid,
                    t,
                    rnd.pings,
                    rnd.sent,
                    rnd.lost,
                    _us(rnd.median),
                    pack(rnd.rtts),
                    rnd.errors,
                ),
            )
            if detail:
                db.execute(
                    "INSERT OR REPLACE INTO detail VALUES (?, ?, ?)", (mid, t, json.dumps(detail))
                )
            self._rollup(mid, t // HOUR_MS)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        hour = t // HOUR_MS
        if hour > self._pruned_hour:
            self._pruned_hour = hour
            self.prune(t)

    def _rollup(self, mid: int, hour: int) -> None:
        """Consolidate every hour of this monitor before `hour` not yet rolled up."""
        last = self._rolled.get(mid)
        if last is None:
            row = self.db.execute("SELECT max(hour) FROM hourly WHERE mid = ?", (mid,)).fetchone()
            last = -1 if row[0] is None else int(row[0])
        if last >= hour - 1:
            self._rolled[mid] = last
            return
        rows = self.db.execute(
            "SELECT t, pings, sent, lost, rtts FROM rounds WHERE mid = ? AND t >= ? AND t < ?"
            " ORDER BY t",
            (mid, (last + 1) * HOUR_MS, hour * HOUR_MS),
        ).fetchall()
        by_hour: dict[int, list[Round]] = {}
        pings_of: dict[int, int] = {}
        for t, pings, sent, _lost, rtts in rows:
            h = t // HOUR_MS
            by_hour.setdefault(h, []).append(_round(t, pings, sent, rtts))
            pings_of[h] = max(pings_of.get(h, 0), pings)
        for h, rounds in by_hour.items():
            r = consolidate(h * 3600.0, rounds, pings_of[h])
            self.db.execute(
                "INSERT OR REPLACE INTO hourly VALUES (?, ?, ?, ?, ?, ?, ?)",
                (mid, h, r.rounds, r.sent, r.lost, _us(r.median), pack(r.smoke)),
            )
        self._rolled[mid] = hour - 1

    def prune(self, now_ms: int) -> None:
        """Delete what is past its retention and hand the freed pages back to the file."""
        raw_before = now_ms - round(self.config.raw_days * DAY_MS)
        hour_before = (now_ms - round(self.config.rollup_days * DAY_MS)) // HOUR_MS
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM rounds WHERE t < ?", (raw_before,))
            db.execute("DELETE FROM hourly WHERE hour < ?", (hour_before,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("PRAGMA incremental_vacuum")

    # -- reading -----------------------------------------------------------------------------

    def recent(self, name: str, count: int) -> list[Round]:
        """The last `count` rounds of a monitor, oldest first."""
        rows = self.db.execute(
            "SELECT r.t, r.pings, r.sent, r.rtts, r.errors FROM rounds r"
            " JOIN monitors m ON m.id = r.mid WHERE m.name = ? ORDER BY r.t DESC LIMIT ?",
            (name, count),
        ).fetchall()
        return [_round(*row) for row in reversed(rows)]

    def back(self, name: str, page: int = 512) -> Iterator[Round]:
        """The rounds of a monitor newest first, read a page at a time as they are taken."""
        before = 1 << 62
        while True:
            rows = self.db.execute(
                "SELECT r.t, r.pings, r.sent, r.rtts, r.errors FROM rounds r"
                " JOIN monitors m ON m.id = r.mid WHERE m.name = ? AND r.t < ?"
                " ORDER BY r.t DESC LIMIT ?",
                (name, before, page),
            ).fetchall()
            yield from (_round(*row) for row in rows)
            if len(rows) < page:
                return
            before = rows[-1][0]

    def rounds(self, name: str, start: float, end: float) -> list[Round]:
        """The rounds that started in [start, end) (seconds), oldest first."""
        rows = self.db.execute(
            "SELECT r.t, r.pings, r.sent, r.rtts, r.errors FROM rounds r"
            " JOIN monitors m ON m.id = r.mid WHERE m.name = ? AND r.t >= ? AND r.t < ?"
            " ORDER BY r.t",
            (name, _ms(start), _ms(end)),
        ).fetchall()
        return [_round(*row) for row in rows]

    def hourly(self, name: str, start: float, end: float) -> list[Rollup]:
        """The hourly roll-ups whose hour starts in [start, end), oldest first."""
        rows = self.db.execute(
            "SELECT h.hour, h.rounds, h.sent, h.lost, h.median_us, h.smoke FROM hourly h"
            " JOIN monitors m ON m.id = h.mid WHERE m.name = ? AND h.hour >= ? AND h.hour < ?"
            " ORDER BY h.hour",
            (name, math.floor(start / 3600), math.ceil(end / 3600)),
        ).fetchall()
        return [
            Rollup(h * 3600.0, n, sent, lost, None if med is None else med / 1e6, tuple(unpack(b)))
            for h, n, sent, lost, med, b in rows
        ]

    def detail(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT d.json FROM detail d JOIN monitors m ON m.id = d.mid WHERE m.name = ?",
            (name,),
        ).fetchone()
        return None if row is None or not row[0] else dict(json.loads(row[0]))

    def raw_since(self) -> float:
        """Seconds of raw rounds kept."""
        return self.config.raw_days * 86400


def _ms(seconds: float) -> int:
    if not math.isfinite(seconds):
        return (1 << 62) if seconds > 0 else -(1 << 62)
    return round(seconds * 1000)


def _round(t: int, pings: int, sent: int, rtts: bytes, errors: int = 0) -> Round:
    return Round(t / 1000, pings, sent, tuple(v for v in unpack(rtts) if v is not None), errors)


def _lock(path: str) -> Any:
    """An exclusive flock beside the file: one writer per history."""
    import fcntl

    try:
        f = open(path + ".lock", "a+b")  # noqa: SIM115 - held for the server's lifetime
    except OSError as exc:
        raise EnvError("history {path}: cannot open its lock file", path=path).because(
            exc.strerror or str(exc)
        ) from None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise EnvError(
            "history {path}: another netladder serve is writing it",
            "give each server its own --db",
            path=path,
        ) from None
    return f
