"""The monitors' history: a row per round, SmokePing's median and ranks, hourly roll-ups as an
RRD AVERAGE consolidates, a bounded file, a restart that resumes, one writer, and no committed
round lost to a kill -9 at any point."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netladder.errors import EnvError
from netladder.serve.config import HistoryConfig
from netladder.serve.history import WAL_BYTES, History, consolidate, pack, padded, unpack
from netladder.serve.monitors import Round

T0 = 1_800_000_000.0  # a fake clock: rounds are dated, never waited for


@pytest.mark.parametrize(
    ("rtts", "median"),
    [
        ((), None),
        ((0.010,), 0.010),
        ((0.010, 0.020), 0.020),  # times[int(2/2)]: the upper of the middle two
        ((0.010, 0.020, 0.030), 0.020),
        ((0.001, 0.002, 0.003, 0.004), 0.003),
    ],
)
def test_the_median_is_smokepings(rtts: tuple[float, ...], median: float | None) -> None:
    assert Round(T0, 20, 20, rtts).median == median


def test_lost_pings_pad_the_ranks_half_before_half_after() -> None:
    # SmokePing's rrdupdate_string: 5 lost of 8 → 2 unknown, the 3 replies, 3 unknown.
    assert padded(Round(T0, 8, 8, (0.1, 0.2, 0.3)), 8) == [
        None,
        None,
        0.1,
        0.2,
        0.3,
        None,
        None,
        None,
    ]


def test_packing_keeps_microseconds_and_unknowns() -> None:
    values = [0.000001, 0.123456, None, 4000.0]
    assert unpack(pack(values)) == values


def test_an_hour_consolidates_each_rank_as_rrd_average_with_xff_half() -> None:
    rounds = [
        Round(T0, 4, 4, (0.010, 0.020, 0.030, 0.040)),
        Round(T0 + 300, 4, 4, (0.030, 0.040, 0.050, 0.060)),
        Round(T0 + 600, 4, 4, (0.020,)),  # 3 lost: ranks [U, 0.020, U, U]
    ]
    hour = consolidate(T0, rounds, 4)
    # rank 1: 0.010, 0.030, U → 2 of 3 known → mean; rank 2: all known; ranks 3-4: 2 of 3
    assert hour.smoke == pytest.approx((0.020, (0.020 + 0.040 + 0.020) / 3, 0.040, 0.050))
    assert (hour.rounds, hour.sent, hour.lost) == (3, 12, 3)
    assert hour.median == pytest.approx((0.030 + 0.050 + 0.020) / 3)
    # A rank unknown in half the rounds or more stays unknown.
    two = consolidate(T0, rounds[1:], 4)
    assert two.smoke[0] is None and two.smoke[1] is not None


def _round(t: float, rng: random.Random, pings: int = 20) -> Round:
    got = pings - (rng.random() < 0.1) * rng.randint(1, pings)
    return Round(t, pings, pings, tuple(sorted(rng.uniform(0.001, 0.05) for _ in range(got))))


def test_the_file_stays_bounded_while_rounds_keep_coming(tmp_path: Path) -> None:
    """A month of 5-minute rounds with 2 days kept raw and 5 days of roll-ups: once the
    retention is full, the file stops growing, and its WAL stays under its cap."""
    db = tmp_path / "h.db"
    wal = tmp_path / "h.db-wal"
    history = History(str(db), HistoryConfig(raw_days=2, rollup_days=5))
    rng = random.Random(15)
    sizes = {}
    wal_max = 0
    t = T0
    for day in range(1, 31):
        for i in range(288):
            history.add("m", _round(t, rng))
            t += 300
            if i % 16 == 0 and wal.exists():
                wal_max = max(wal_max, wal.stat().st_size)
        sizes[day] = db.stat().st_size
    rows = history.db.execute("SELECT count(*) FROM rounds").fetchone()[0]
    hours = history.db.execute("SELECT count(*) FROM hourly").fetchone()[0]
    history.close()
    assert rows <= 2 * 288 + 12  # pruned once an hour: at most an hour past the retention
    assert hours <= 5 * 24 + 1
    # Steady state from day 6 (past both retentions): no growth beyond page-level noise.
    assert max(sizes[d] for d in range(6, 31)) <= sizes[6] * 1.1, sizes
    # The bound is the retention, not the history: 30 days of rows would take 1 MB and more.
    assert sizes[30] < 400_000, sizes
    assert wal_max <= WAL_BYTES + 300 * 4096, wal_max


def test_a_restart_resumes_the_history(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    first = History(db)
    for i in range(30):
        first.add("m", Round(T0 + 60 * i, 5, 5, (0.001 * (i + 1),) * 5), {"phases": [["x", 1.0]]})
    first.close()
    again = History(db)
    recent = again.recent("m", 10)
    assert [r.start for r in recent] == [T0 + 60 * i for i in range(20, 30)]
    assert recent[-1].rtts == (0.030,) * 5
    assert again.detail("m") == {"phases": [["x", 1.0]]}
    again.add("m", Round(T0 + 60 * 30, 5, 5, (0.031,)))
    assert len(again.rounds("m", T0, T0 + 3600)) == 31
    # Hours closed before the restart were rolled up, and the next hour closes in turn.
    again.add("m", Round(T0 + 7200, 5, 5, (0.001,)))
    assert [h.rounds for h in again.hourly("m", T0 - 3600, T0 + 7200)] != []
    again.close()


def test_a_file_from_before_errors_were_kept_opens_and_reads_none(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    con = sqlite3.connect(db)
    con.executescript(  # the rounds table as it was before the `errors` column
        "CREATE TABLE monitors (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
        "CREATE TABLE rounds (mid INTEGER NOT NULL, t INTEGER NOT NULL, pings INTEGER NOT NULL,"
        " sent INTEGER NOT NULL, lost INTEGER NOT NULL, median_us INTEGER, rtts BLOB NOT NULL,"
        " PRIMARY KEY (mid, t)) WITHOUT ROWID;"
        "INSERT INTO monitors VALUES (1, 'm');"
    )
    con.execute("INSERT INTO rounds VALUES (1, ?, 5, 0, 0, NULL, ?)", (int(T0 * 1000), b""))
    con.commit()
    con.close()
    history = History(str(db))
    history.add("m", Round(T0 + 60, 5, 0, (), 5))  # nothing could be sent: kept now
    assert [(r.sent, r.errors) for r in history.back("m")] == [(0, 5), (0, 0)]
    history.close()


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    first = History(db)
    with pytest.raises(EnvError, match="another netladder serve is writing it") as refused:
        History(db)
    first.close()
    from netladder import i18n

    i18n.set_language("ko")
    try:  # a template the command line translates, the path filled in
        assert refused.value.render(i18n._) == (
            f"기록 {db}: 다른 netladder serve가 쓰고 있습니다 (서버마다 각자의 --db를 주세요)"
        )
    finally:
        i18n.set_language("en")
    History(db).close()  # free again once the first is closed


WRITER = """
import sys
from netladder.serve.history import History
from netladder.serve.monitors import Round
h = History(sys.argv[1])
t = float(sys.argv[2])
i = 0
while True:
    start = t + i
    h.add("m", Round(start, 20, 20, tuple(0.001 * k for k in range(20))))
    # Printed only once committed: what the parent saw here must survive the kill.
    sys.stdout.write(f"{start!r}\\n")
    sys.stdout.flush()
    i += 1
"""


def test_a_kill_9_during_writes_loses_no_committed_round(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    rng = random.Random(9)
    committed: list[float] = []
    t = T0
    for _run in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), repr(t)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert proc.stdout is not None
        # Wait for the writer to be writing (its first commit), then kill it at a random
        # point among the commits that follow.
        first = proc.stdout.readline()
        assert first, "the writer did not start"
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        proc.stdout.close()
        lines = [first.decode(), *rest.decode().splitlines()]
        got = [float(x) for x in lines if x.strip()]
        committed += got
        t = got[-1] + 1_000  # the next run writes after this one
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {t / 1000 for (t,) in con.execute("SELECT t FROM rounds")}
    con.close()
    missing = [t for t in committed if t not in stored]
    assert not missing, f"{len(missing)} committed rounds lost of {len(committed)}"
    assert len(committed) > 12
