"""The monitors' alerts: the state machine over rounds (fake rounds, no clock), and the webhook
POSTed through the project's HTTP client to a receiver on loopback — one that fails first and
is retried with back-off."""

from __future__ import annotations

import asyncio
import json
import time

from netladder.proto import http1
from netladder.serve.alerts import Alerts, judge_round
from netladder.serve.config import Alerts as Thresholds
from netladder.serve.config import Monitor
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
