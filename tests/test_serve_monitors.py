"""The monitors' runtime: pings spread evenly over the interval, a jittered start, one bound on
probes in flight (on loopback, against listeners that record when each ping arrives); and, in
the lab, the smokeping_prober series beside Debian's prometheus-smokeping-prober probing the
same target."""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from netladder.lab import Lab
from netladder.serve.config import parse
from netladder.serve.history import History
from netladder.serve.monitors import SMOKEPING_BUCKETS, Monitors
from serve_lab import spawn, stop, wait_ready

NETLADDER = str(Path(sys.executable).with_name("netladder"))
SMOKEPING = shutil.which("prometheus-smokeping-prober")


async def _listener(delay: float = 0.0) -> tuple[asyncio.Server, list[float], list[int]]:
    """A TCP (and minimal HTTP) listener on loopback: when each connection arrived, and the
    most connections it held at once."""
    arrivals: list[float] = []
    most = [0, 0]  # now, most

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        arrivals.append(time.monotonic())
        most[0] += 1
        most[1] = max(most)
        try:
            if delay:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(delay)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            most[0] -= 1
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, arrivals, most


async def _until(monitors: Monitors, condition: Callable[[], bool]) -> None:
    """Until `condition` holds, checked after every round the monitors finish."""
    changed = asyncio.Event()
    monitors.on_round = lambda st, rnd: changed.set()
    async with asyncio.timeout(60):
        while not condition():
            changed.clear()
            await changed.wait()


def test_pings_are_spread_evenly_over_the_interval_after_a_jittered_start() -> None:
    async def main() -> None:
        server, arrivals, _ = await _listener()
        port = server.sockets[0].getsockname()[1]
        config = parse(
            "modules: {tcp: {prober: tcp, timeout: 1s}}\nmonitors:\n"
            f"  - {{name: up, target: '127.0.0.1:{port}', module: tcp, interval: 1s, pings: 5}}\n"
            "  - {name: down, target: '127.0.0.1:9', module: tcp, interval: 1s, pings: 5}\n"
        )
        seed = 15
        offsets = random.Random(seed)
        expected = [offsets.uniform(0, 1.0) for _ in range(2)]  # one draw per monitor, in order
        history = History(None)
        monitors = Monitors(config, asyncio.Semaphore(64), history=history, rng=random.Random(seed))
        started = time.monotonic()
        monitors.start()
        up, down = monitors.states["up"], monitors.states["down"]
        await _until(monitors, lambda: up.rounds_done >= 2 and down.rounds_done >= 1)
        await monitors.stop()
        server.close()
        # The first ping waited for the monitor's random offset; none was sent early.
        assert arrivals[0] - started >= expected[0] - 0.01
        # Five pings a round, a fifth of the interval apart: never closer (the scheduler does
        # not send early), whatever the load on this machine makes later.
        gaps = [b - a for a, b in zip(arrivals[:5], arrivals[1:5], strict=False)]
        assert len(arrivals) >= 10 and min(gaps) >= 0.2 * 0.95, gaps
        first = up.recent[0]
        assert (first.pings, first.sent, len(first.rtts)) == (5, 5, 5)
        closed = down.recent[0]
        assert (closed.sent, closed.rtts, closed.loss) == (5, (), 1.0)
        # Each round was written to the history as one row.
        stored = [r.start for r in history.recent("up", 10)]
        assert stored == pytest.approx([r.start for r in up.recent], abs=0.001)  # kept in ms

    asyncio.run(main())


def test_one_bound_holds_every_probe_in_flight_and_skipped_pings_are_not_loss() -> None:
    async def main() -> None:
        server, arrivals, most = await _listener(delay=0.5)
        port = server.sockets[0].getsockname()[1]
        text = "modules: {http: {prober: http, timeout: 3s}}\nmonitors:\n" + "".join(
            f"  - {{name: m{i}, target: 'http://127.0.0.1:{port}/', module: http, "
            "interval: 1s, pings: 4}\n"
            for i in range(4)
        )
        monitors = Monitors(parse(text), asyncio.Semaphore(2), rng=random.Random(1))
        monitors.start()
        states = list(monitors.states.values())
        await _until(monitors, lambda: all(st.rounds_done >= 2 for st in states))
        await monitors.stop()
        server.close()
        # 4 monitors × 4 pings a second, each held 0.5 s: 8 would be in flight at once.
        assert most[1] <= 2
        skipped = sum(monitors.skipped.samples.values())
        assert skipped > 0
        for st in states:
            for rnd in st.recent:
                # What was skipped was not sent; what was sent was answered: no loss.
                assert rnd.sent <= 4 and rnd.lost == 0
        assert sum(r.sent for st in states for r in st.recent) + skipped >= 4 * 2 * 4

    asyncio.run(main())


# -- beside prometheus-smokeping-prober, in the lab ----------------------------------------------

SERVER = "198.51.100.10"
SP_PORT = 19374
NL_PORT = 19116


def _families(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name → (type, label names) of every family in an exposition."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    labels: dict[str, set[str]] = {}
    for name, body in re.findall(r"^([a-z_]+)\{([^}]*)\}", text, re.M):
        base = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        keys = {k for k in re.findall(r'(\w+)="', body) if k != "le"}
        labels.setdefault(base, set()).update(keys)
    return {n: (t, frozenset(labels.get(n, ()))) for n, t in types.items()}


def _buckets(text: str, name: str) -> list[str]:
    """The bucket bounds of a histogram (each once, in order)."""
    return list(dict.fromkeys(re.findall(rf'^{name}_bucket\{{[^}}]*le="([^"]+)"', text, re.M)))


@pytest.mark.lab
def test_monitors_export_smokeping_probers_series(chain_lab: Lab, tmp_path: Path) -> None:
    if not SMOKEPING:
        pytest.fail("prometheus-smokeping-prober is missing: run scripts/install-deps")
    config = tmp_path / "serve.yml"
    config.write_text(
        "modules: {icmp: {prober: icmp, timeout: 1s}}\n"
        f"monitors: [{{name: server, target: {SERVER}, module: icmp, interval: 1s, pings: 4}}]\n"
    )
    procs = [
        spawn(
            chain_lab,
            [
                SMOKEPING,
                f"--web.listen-address=127.0.0.1:{SP_PORT}",
                "--ping.interval=250ms",
                SERVER,
            ],
            tmp_path / "smokeping.log",
        ),
        spawn(
            chain_lab,
            [NETLADDER, "serve", "--config", str(config), "--listen", f"127.0.0.1:{NL_PORT}"],
            tmp_path / "netladder.log",
        ),
    ]
    try:
        sp_url = f"http://127.0.0.1:{SP_PORT}/metrics"
        nl_url = f"http://127.0.0.1:{NL_PORT}/metrics"
        wait_ready(chain_lab, sp_url, procs[0], "prometheus-smokeping-prober")
        wait_ready(chain_lab, nl_url, procs[1], "netladder serve")

        def metrics(url: str) -> str:
            return chain_lab.exec("client", ["curl", "-s", url]).stdout

        # Both have had replies from the server (the histogram counts them).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sp, nl = metrics(sp_url), metrics(nl_url)
            pattern = r"smokeping_response_duration_seconds_count\{[^}]*\} ([1-9]\d*)"
            if re.search(pattern, sp) and re.search(pattern, nl):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no replies counted:\n{sp[-500:]}\n{nl[-500:]}")
    finally:
        for proc in procs:
            stop(proc)
    theirs = {n: v for n, v in _families(sp).items() if n.startswith("smokeping_")}
    ours = {n: v for n, v in _families(nl).items() if n.startswith("smokeping_")}
    # Every family Debian's prober exports (0.6.1: requests, durations, TTL, duplicates)
    # that netladder has, with the same type and labels; netladder adds the error counters
    # of later smokeping_prober versions.
    assert theirs, sp
    shared = set(theirs) & set(ours)
    assert {
        "smokeping_requests_total",
        "smokeping_response_duration_seconds",
        "smokeping_response_ttl",
    } <= shared
    for name in shared:
        assert ours[name] == theirs[name], (name, ours[name], theirs[name])
    assert _buckets(nl, "smokeping_response_duration_seconds") == _buckets(
        sp, "smokeping_response_duration_seconds"
    )
    assert len(SMOKEPING_BUCKETS) + 1 == len(_buckets(nl, "smokeping_response_duration_seconds"))
    # The same label values for the same target: host as configured, ip as resolved.
    for text in (sp, nl):
        assert re.search(
            rf'smokeping_requests_total\{{(?=[^}}]*host="{SERVER}")(?=[^}}]*ip="{SERVER}")', text
        )
        assert re.search(r"smokeping_response_ttl\{[^}]*\} 6[0-4]$", text, re.M)  # 64 - hops
