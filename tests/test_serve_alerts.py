"""The monitors' alerts: the state machine over rounds (fake rounds, no clock), and the webhook
POSTed through the project's HTTP client to a receiver on loopback — one that fails first and
is retried with back-off.  A restart resumes: the states rebuilt from the history are the ones
the live machine reached, and a real serve stopped and started again neither forgets a firing
monitor nor announces it twice."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from netladder.proto import http1
from netladder.serve.alerts import Alerts, AlertState, judge_round
from netladder.serve.config import Alerts as Thresholds
from netladder.serve.config import Monitor
from netladder.serve.history import History
from netladder.serve.monitors import Round

T0 = 1_800_000_000.0


def _monitor(webhook: str | None = None, **kw: float) -> Monitor:
    loss = kw.get("loss_percent")
    median = kw.get("median_ms")
    rounds = int(kw.get("rounds", 1))
    return Monitor(
        "m", "198.51.100.10", "icmp", 60.0, 10, Thresholds(loss, rounds, median, webhook)
    )


def _round(lost: int, median_ms: float = 1.0, sent: int = 10, errors: int = 0) -> Round:
    got = sent - lost
    return Round(T0, 10, sent, (median_ms / 1000,) * got, errors)


def test_a_round_is_judged_by_its_thresholds() -> None:
    m = _monitor(loss_percent=20, median_ms=50)
    assert judge_round(m, _round(2)) is None  # 20 % is not above 20 %
    assert judge_round(m, _round(3)) == "loss 30 % above 20 %"
    assert judge_round(m, _round(0, median_ms=80)) == "median 80.0 ms above 50 ms"
    # Nothing sent because nothing could be: bad. Nothing sent because every ping was
    # skipped (our own overload): no evidence either way.
    assert judge_round(m, _round(0, sent=0, errors=10)) == "no ping could be sent"
    assert judge_round(m, _round(0, sent=0)) == ""
    # No thresholds: a round is bad only when every ping was lost.
    bare = _monitor()
    assert judge_round(bare, _round(9)) is None
    assert judge_round(bare, _round(10)) == "all 10 pings lost"


def test_the_state_changes_after_n_bad_rounds_and_back_after_n_good_ones() -> None:
    async def main() -> list[str | None]:
        alerts = Alerts()
        st = alerts.state(_monitor(loss_percent=10, rounds=3))
        seen = []
        for lost in (0, 5, 5, 0, 5, 5, 5, 5, 0, 0, 0):
            seen.append(alerts.judge(st, _round(lost)))
        assert st.state == "ok" and st.bad == 0
        return seen

    seen = asyncio.run(main())
    assert seen == ["ok", None, None, None, None, None, "alert", None, None, None, "ok"]


async def _receiver(
    statuses: list[int],
) -> tuple[asyncio.Server, list[tuple[float, dict[str, object]]]]:
    """An HTTP receiver on loopback answering `statuses` in turn (then 200)."""
    got: list[tuple[float, dict[str, object]]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = await reader.readuntil(b"\r\n\r\n")
        head = http1.parse_request_head(raw)
        body = await reader.readexactly(http1.request_body_length(head))
        assert head.method == "POST" and head.get("Content-Type") == "application/json"
        got.append((time.monotonic(), json.loads(body)))
        status = statuses.pop(0) if statuses else 200
        writer.write(http1.build_response(status, "X", [("Connection", "close")], b""))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, got


def test_the_webhook_is_retried_with_back_off_until_it_is_taken() -> None:
    async def main() -> None:
        server, got = await _receiver([500, 503])
        port = server.sockets[0].getsockname()[1]
        lines: list[str] = []
        alerts = Alerts(delays=(0.2, 0.4, 0.8), log=lines.append)
        st = alerts.state(_monitor(f"http://127.0.0.1:{port}/hook", loss_percent=10))
        alerts.judge(st, _round(0))
        assert alerts.judge(st, _round(5)) == "alert"
        assert alerts.judge(st, _round(0)) == "ok"
        async with asyncio.timeout(30):
            await alerts.drain()
        assert alerts.delivered == 2
        server.close()
        # The first change took three attempts (500, 503, 200), waiting 0.2 then 0.4 s.
        assert len(got) == 4
        gaps = [got[i + 1][0] - got[i][0] for i in range(2)]
        assert gaps[0] >= 0.2 and gaps[1] >= 0.4
        first, second = got[2][1], got[3][1]
        assert first["state"] == "alert" and first["previous"] == "ok"
        assert first["reason"] == "loss 50 % above 10 %"
        assert first["round"] == {
            "start": T0,
            "sent": 10,
            "received": 5,
            "loss_percent": 50.0,
            "median_ms": 1.0,
        }
        # The changes of one monitor arrive in order: the recovery after the alert.
        assert second["state"] == "ok" and second["previous"] == "alert"
        assert any("answered 500; retrying in 0.2 s" in line for line in lines)

    asyncio.run(main())


def test_a_webhook_nobody_takes_is_given_up_and_said_so() -> None:
    async def main() -> None:
        # A port with no listener: refused every time.
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        lines: list[str] = []
        alerts = Alerts(delays=(0.05, 0.05), log=lines.append)
        st = alerts.state(_monitor(f"http://127.0.0.1:{port}/", loss_percent=10))
        alerts.judge(st, _round(9))
        async with asyncio.timeout(30):
            await alerts.drain()
        assert alerts.failed == 1
        assert len(lines) == 3 and lines[-1].endswith("giving up")
        assert "refused" in lines[0].lower()

    asyncio.run(main())


# -- a restart resumes: the states rebuilt from the history ---------------------------------------


def _live(monitor: Monitor, losts: Sequence[int | None]) -> tuple[Alerts, AlertState, list[Round]]:
    """The state machine run live over rounds a minute apart (None: a round whose pings were
    all skipped), and the rounds."""
    alerts = Alerts()
    st = alerts.state(monitor)
    rounds = []
    for i, lost in enumerate(losts):
        sent = 0 if lost is None else 10
        rnd = Round(T0 + 60 * i, 10, sent, (0.001,) * (sent - (lost or 0)))
        alerts.wall = lambda rnd=rnd: rnd.start  # type: ignore[misc]
        alerts.judge(st, rnd)
        rounds.append(rnd)
    return alerts, st, rounds


@pytest.mark.parametrize(
    "losts",
    [
        [5, 5, 5],  # alert
        [0, 5, 5],  # ok, two bad in a row
        [5, 5, 5, 5, 5, 0, 5, 0, 5, 5],  # alert since the third round: one good clears nothing
        [0, 0, 5, 5, 5, 0, 0, 5, 0, 0, 0, 5, 5],  # ok again, since the 11th round
        [5, 5, 0, 5, 5, None, 5, None],  # skipped rounds change nothing: alert since the 7th
        [None, None],  # nothing judged: unknown
        [5, 5, 5, 0, 0, 0, 5, 5, 5, 0, 5, 0, 5, 5, 5, 5, 0, 0],  # alert since the 9th
    ],
)
def test_the_state_rebuilt_from_the_rounds_is_the_one_they_led_to(losts: list[int | None]) -> None:
    monitor = _monitor(loss_percent=10, rounds=3)
    _, live, rounds = _live(monitor, losts)
    history = History(None)
    for rnd in rounds:
        history.add("m", rnd)
    posted: list[bytes] = []

    async def post(url: str, body: bytes) -> None:
        posted.append(body)

    again = Alerts(post=post)
    st = again.state(_monitor("http://127.0.0.1:9/", loss_percent=10, rounds=3))
    again.rebuild(st, history.back("m", page=4))  # several pages
    assert (st.state, st.reason, st.since, st.bad, st.good) == (
        live.state,
        live.reason,
        live.since,
        live.bad,
        live.good,
    )
    assert posted == [] and again._chains == {}  # rebuilding sends nothing
    history.close()


def _reading_back(rounds: list[Round], read: list[Round]) -> Iterator[Round]:
    """The rounds newest first, as the history gives them, each noted in `read` as taken."""
    for rnd in reversed(rounds):
        read.append(rnd)
        yield rnd


def test_rebuilding_reads_back_only_what_the_state_machine_needs() -> None:
    monitor = _monitor(loss_percent=10, rounds=2)
    _, live, rounds = _live(monitor, [0] * 50 + [5] * 5 + [0, 5] + [0] * 3)
    read: list[Round] = []
    back = _reading_back(rounds, read)

    alerts = Alerts()
    st = alerts.state(monitor)
    alerts.rebuild(st, back)
    assert (st.state, st.since) == ("ok", T0 + 60 * 58) == (live.state, live.since)
    # Back to the newest run of 2 good rounds (the 3 last), then the one before it of the other
    # kind (2 of the 5 bad): 3 + 1 + 1 + 2 rounds, not the 50 good ones before.
    assert len(read) == 7


@pytest.mark.parametrize(
    ("losts", "state", "since"),
    [
        # ok since the 6th round; read back 3 + 5: ok at least since the 3rd of those 8
        ([5] * 3 + [0] * 20, "ok", 17),
        ([0] * 3 + [5] * 20, "alert", 17),
        # An alert that flapped before it cleared: read from the other state (alert), the flaps
        # clear nothing and `since` is the real one, the 3rd good round in a row.
        ([5] * 10 + [0, 5] * 4 + [0] * 10, "ok", 20),
    ],
)
def test_a_state_steady_beyond_the_look_back_is_rebuilt_with_since_a_lower_bound(
    losts: list[int], state: str, since: int
) -> None:
    monitor = _monitor(loss_percent=10, rounds=3)
    _, live, rounds = _live(monitor, losts)
    read: list[Round] = []
    back = _reading_back(rounds, read)

    alerts = Alerts()
    st = alerts.state(monitor)
    limit = 12 if len(losts) > 23 else 5
    alerts.rebuild(st, back, limit=limit)
    assert (st.state, st.reason) == (live.state, live.reason)
    # The counts in a row are the live ones as far as the machine reads them (up to `rounds`).
    assert (min(st.bad, 3), min(st.good, 3)) == (min(live.bad, 3), min(live.good, 3))
    assert st.state == state and st.since == T0 + 60 * since
    assert live.since is not None and st.since >= live.since
    assert len(read) == 3 + limit


def test_a_round_that_could_send_nothing_stays_bad_in_the_history(tmp_path: Path) -> None:
    monitor = _monitor()
    history = History(str(tmp_path / "h.db"))
    for i in range(2):
        history.add("m", Round(T0 + 60 * i, 10, 0, (), 10))
    history.close()
    again = History(str(tmp_path / "h.db"))
    alerts = Alerts()
    st = alerts.state(monitor)
    alerts.rebuild(st, again.back("m"))
    again.close()
    assert (st.state, st.reason) == ("alert", "no ping could be sent")


NETLADDER = str(Path(sys.executable).with_name("netladder"))


class _Hook(http.server.BaseHTTPRequestHandler):
    got: list[dict[str, object]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> str | None:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        con.request("GET", path)
        return con.getresponse().read().decode()
    except OSError:
        return None
    finally:
        con.close()


def _until(check: Callable[[], object], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


def test_a_restarted_serve_resumes_its_alert_states_and_announces_nothing_twice(
    tmp_path: Path,
) -> None:
    """A tcp monitor on a closed port fires and its webhook is POSTed; serve is stopped and
    started again on the same history: the state is `alert` before any new round, the rounds
    that follow (still bad) post nothing, and the recovery after the restart posts once."""
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    got: list[dict[str, object]] = []
    hook.RequestHandlerClass.got = got  # type: ignore[attr-defined]
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    target = _free_port()  # nothing listens there until the end
    db = tmp_path / "history.db"

    def serve(interval: str) -> tuple[subprocess.Popen[bytes], int]:
        config = tmp_path / "serve.yml"
        config.write_text(
            "modules: {tcp: {prober: tcp, timeout: 1s}}\n"
            "monitors:\n"
            f"  - {{name: svc, target: '127.0.0.1:{target}', module: tcp, interval: {interval},"
            " pings: 2,\n"
            f"     alerts: {{rounds: 2, webhook: 'http://127.0.0.1:{hook.server_port}/hook'}}}}\n"
        )
        port = _free_port()
        argv = [NETLADDER, "serve", "--config", str(config), "--db", str(db)]
        with (tmp_path / "serve.log").open("ab") as log:
            proc = subprocess.Popen([*argv, "--listen", f"127.0.0.1:{port}"], stderr=log)
        _until(lambda: proc.poll() is not None or _get(port, "/-/healthy"), "serve listens")
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        return proc, port

    def monitor(port: int) -> dict[str, Any]:
        doc = json.loads(_get(port, "/api/v1/monitors") or "{}")
        (svc,) = doc["monitors"]
        return dict(svc)

    def rounds_done(port: int) -> int:
        text = _get(port, "/metrics") or ""
        found = re.search(r'^netladder_monitor_rounds_total\{monitor="svc"\} (\d+)', text, re.M)
        return int(found.group(1)) if found else 0

    def stop(proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        assert proc.wait(30) == 0, (tmp_path / "serve.log").read_text()

    try:
        # 1. It fires, and says so once.
        proc, port = serve("1s")
        _until(lambda: monitor(port)["state"] == "alert" and len(got) == 1, "the alert")
        stop(proc)
        assert got[0]["state"] == "alert" and got[0]["reason"] == "all 2 pings lost"
        con = sqlite3.connect(db)
        (last_ms,) = con.execute("SELECT max(t) FROM rounds").fetchone()
        con.close()

        # 2. Started again, with no round due for minutes: the state its rounds imply, at once.
        proc, port = serve("10m")
        svc = monitor(port)
        page = _get(port, "/") or ""
        assert rounds_done(port) == 0
        stop(proc)
        assert (svc["state"], svc["reason"]) == ("alert", "all 2 pings lost")
        assert svc["last_round"]["start"] == last_ms / 1000  # no new round was judged
        assert svc["since"] is not None and svc["since"] <= last_ms / 1000
        assert "<tr class='monitor' data-name='svc' data-state='alert'>" in page, page

        # 3. Started again, rounds come, still bad: nothing is announced twice ...
        proc, port = serve("1s")
        try:
            _until(lambda: rounds_done(port) >= 3, "three rounds after the restart")
            assert monitor(port)["state"] == "alert"
            time.sleep(0.5)  # a webhook would be under way by now
            assert len(got) == 1, got
            # ... and a change after the restart is: the target comes back.
            with socket.create_server(("127.0.0.1", target), backlog=64):
                _until(lambda: len(got) == 2, "the recovery's webhook")
                assert monitor(port)["state"] == "ok"
        finally:
            stop(proc)
        assert (got[1]["state"], got[1]["previous"]) == ("ok", "alert")
        assert len(got) == 2
    finally:
        hook.shutdown()
        hook.server_close()
