"""The dashboard in a real headless Chromium (Debian's, driven by Playwright; one launch for the
module), the JSON API beside it, and the SmokePing rules the graph follows.

The server runs as `netladder serve` on loopback with a history file filled beforehand (dated
rounds: a fake clock) and monitors of its own running live against loopback.  Screenshots go to
tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netladder.serve.dashboard import loss_colour, loss_colours, smoke_grey
from netladder.serve.history import History
from netladder.serve.monitors import Round

NETLADDER = str(Path(sys.executable).with_name("netladder"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"


def test_loss_colours_are_smokepings_for_20_pings() -> None:
    # lib/Smokeping.pm get_detail, the default loss_colors with pings = 20
    table = [(lost, loss_colour(lost, 20)) for lost in range(21)]
    assert table == [
        (0, "#26ff00"),
        (1, "#00b8ff"),
        (2, "#0059ff"),
        (3, "#7e00ff"),
        (4, "#ff00ff"),
        (5, "#ff00ff"),
        *((n, "#ff5500") for n in range(6, 11)),
        *((n, "#ff0000") for n in range(11, 20)),
        (20, "#a00000"),
    ]
    assert [text for _b, _c, text in loss_colours(20)] == [
        "0",
        "1",
        "2",
        "3",
        "4/5",
        "6/10",
        "11/19",
        "20/20",
    ]


def test_the_smoke_is_light_outside_and_dark_inside() -> None:
    # smokecol: int(190/half*(half-ibot))+50 for ibot = 1 … half
    assert [smoke_grey(i, 20) for i in (1, 5, 10)] == ["#dddddd", "#919191", "#323232"]


# -- the server and the browser -------------------------------------------------------------------

# When the history was filled: set by the `server` fixture right before it fills, not at import
# (a full suite may run this module many minutes after collecting it, and rounds older than
# 3 h would then fall out of the 3-hour graph).
NOW = time.time()
HIST_PINGS = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _fill(db: Path) -> list[Round]:
    """Three hours of 5-minute rounds for `hist`: 0 lost, except every fourth round with 3."""
    history = History(str(db))
    rounds = []
    start = NOW - 3 * 3600 + 150
    for i in range(36):
        got = HIST_PINGS - (3 if i % 4 == 3 else 0)
        rtts = tuple(0.010 + 0.001 * k for k in range(got))
        rnd = Round(start + 300 * i, HIST_PINGS, HIST_PINGS, rtts)
        history.add("hist", rnd)
        rounds.append(rnd)
    history.add(
        "path",
        Round(NOW - 60, 3, 3, (0.001, 0.002, 0.003)),
        {
            "hops": [
                [1, "203.0.113.1", 0.5, 0.0],
                [2, "*", None, 100.0],
                [3, "198.51.100.10", 1.5, 0.0],
            ]
        },
    )
    history.add(
        "web",
        Round(NOW - 60, 3, 3, (0.004,)),
        {
            "phases": [
                ["resolve", 0.0001],
                ["connect", 0.0005],
                ["tls", 0.0],
                ["processing", 0.002],
                ["transfer", 0.0004],
            ]
        },
    )
    history.close()
    return rounds


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("dash")
    db = tmp / "history.db"
    global NOW
    NOW = time.time()
    _fill(db)
    config = tmp / "serve.yml"
    config.write_text(
        "modules:\n"
        "  icmp: {prober: icmp, timeout: 1s}\n"
        "  tcp: {prober: tcp, timeout: 1s}\n"
        "  trace: {prober: trace, timeout: 5s}\n"
        "  http: {prober: http, timeout: 2s}\n"
        "allow: {networks: [198.51.100.0/24]}\n"
        "monitors:\n"
        "  - {name: lo, target: 127.0.0.1, module: icmp, interval: 1s, pings: 4}\n"
        "  - {name: closed, target: '127.0.0.1:9', module: tcp, interval: 1s, pings: 4}\n"
        f"  - {{name: hist, target: 127.0.0.1, module: icmp, interval: 1h, pings: {HIST_PINGS}}}\n"
        "  - {name: path, target: 127.0.0.1, module: trace, interval: 1h, pings: 3}\n"
        "  - {name: web, target: 'http://127.0.0.1:9/', module: http, interval: 1h, pings: 3}\n"
    )
    port = _free_port()
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            NETLADDER,
            "serve",
            "--config",
            str(config),
            "--db",
            str(db),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # until it listens and the live monitors have a state
            assert proc.poll() is None, (tmp / "serve.log").read_text()
            try:
                doc = json.loads(_get(base + "/api/v1/monitors")[1])
                states = {m["name"]: m["state"] for m in doc["monitors"]}
                if states["lo"] == "ok" and states["closed"] == "alert":
                    break
            except (OSError, ValueError):
                pass
            assert time.monotonic() < deadline, "the monitors got no state within 60 s"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: run scripts/install-deps")
        pytest.skip("chromium is missing: run scripts/install-deps")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
            viewport={"width": 1100, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def test_the_monitor_list_shows_each_state_median_loss_and_sparkline(
    server: str, browser: Any
) -> None:
    page = browser.new_page()
    page.goto(server + "/")
    rows = page.locator("tr.monitor")
    assert rows.count() == 5
    states = {
        rows.nth(i).get_attribute("data-name"): rows.nth(i).get_attribute("data-state")
        for i in range(5)
    }
    assert states["lo"] == "ok" and states["closed"] == "alert"
    lo = page.locator("tr.monitor[data-name='lo']")
    assert re.fullmatch(r"\d+\.\d ms", lo.locator("td.median").inner_text())
    assert lo.locator("td.loss").inner_text() == "0 %"
    closed = page.locator("tr.monitor[data-name='closed']")
    assert closed.locator("td.loss").inner_text() == "100 %"
    assert closed.locator("td.median").inner_text() == "–"
    # The sparkline of the history restored at start: 36 rounds, a point for each.
    spark = page.locator("tr.monitor[data-name='hist'] svg.spark")
    assert spark.get_attribute("data-rounds") == "36"
    points = spark.locator("polyline").get_attribute("points") or ""
    assert len(points.split()) == 36
    # The state badge says why.
    assert closed.locator(".state").get_attribute("title") == "all 4 pings lost"
    page.screenshot(path=str(ARTIFACTS / "dashboard-monitors.png"), full_page=True)
    page.close()


def test_a_smoke_graph_with_data_renders_as_smokeping_draws_it(server: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(server + "/monitor/hist")
    graph = page.locator("svg.smoke[data-range='3h']")
    assert graph.count() == 1
    medians = graph.locator("rect.median")
    assert medians.count() == 36  # a column per round over 3 h
    fills = {medians.nth(i).get_attribute("fill") for i in range(36)}
    assert fills == {"#26ff00", "#7e00ff"}  # 0 lost; 3 lost of 20
    bands = graph.locator("rect.smoke-band")
    # 20 pings: 10 bands a round when all answered, 8 when 3 were lost (the padding's ranks
    # are unknown, so the outer bands are not drawn): 27×10 + 9×8.
    assert bands.count() == 27 * 10 + 9 * 8
    band_fills = {bands.nth(i).get_attribute("fill") for i in range(10)}
    assert band_fills == {smoke_grey(i, 20) for i in range(1, 11)}
    # The longer graphs: 30 h and 10 d from the same rounds, 360 d from the hourly roll-ups.
    for label in ("30h", "10d", "360d"):
        assert page.locator(f"svg.smoke[data-range='{label}'] rect.median").count() > 0, label
    page.screenshot(path=str(ARTIFACTS / "dashboard-smoke.png"), full_page=True)
    page.close()


def test_a_trace_monitor_has_its_hops_and_an_http_monitor_its_waterfall(
    server: str, browser: Any
) -> None:
    page = browser.new_page()
    page.goto(server + "/monitor/path")
    hops = page.locator("#hops tr.hop")
    assert hops.count() == 3
    assert hops.nth(2).inner_text().split("\t")[:2] == ["3", "198.51.100.10"]
    page.goto(server + "/monitor/web")
    phases = page.locator("#waterfall rect.phase")
    assert [phases.nth(i).get_attribute("data-phase") for i in range(phases.count())] == [
        "resolve",
        "connect",
        "tls",
        "processing",
        "transfer",
    ]
    page.screenshot(path=str(ARTIFACTS / "dashboard-waterfall.png"), full_page=True)
    page.close()


def test_the_dashboard_reads_without_javascript_and_the_recent_probes_moved(server: str) -> None:
    status, text = _get(server + "/")
    assert status == 200 and "<table id='monitors'>" in text and "svg class='spark'" in text
    _get(server + "/probe?module=tcp&target=198.51.100.1:9")  # refused by nothing: no route
    status, text = _get(server + "/probes")
    assert status == 200 and "Recent probes" in text and "198.51.100.1:9" in text
    assert _get(server + "/monitor/nope")[0] == 404


def test_the_json_api_lists_monitors_and_their_rounds(server: str) -> None:
    doc = json.loads(_get(server + "/api/v1/monitors")[1])
    hist = next(m for m in doc["monitors"] if m["name"] == "hist")
    assert (hist["prober"], hist["pings"], hist["interval_s"]) == ("icmp", 20, 3600.0)
    start = NOW - 3 * 3600
    status, text = _get(server + f"/api/v1/monitors/hist/rounds?from={start}&to={start + 3600}")
    assert status == 200
    rounds = json.loads(text)["rounds"]
    assert len(rounds) == 12
    first = rounds[0]
    assert first["rtts_ms"] == [10.0 + k for k in range(20)] and first["median_ms"] == 20.0
    assert rounds[3]["received"] == 17 and rounds[3]["loss_percent"] == 15.0
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    assert json.loads(_get(server + f"/api/v1/monitors/hist/rounds?from={iso}")[1])["rounds"]
    assert _get(server + "/api/v1/monitors/hist/rounds?from=yesterday")[0] == 400
    assert _get(server + "/api/v1/monitors/nope/rounds")[0] == 404


def test_the_agent_api_keeps_to_the_allowlist(server: str) -> None:
    status, text = _get(server + "/api/v1/diagnose?target=127.0.0.1:9")
    assert status == 403 and "not allowed" in json.loads(text)["error"]
    assert _get(server + "/api/v1/diagnose")[0] == 400
    assert _get(server + "/api/v1/diagnose?target=198.51.100.1&port=99999")[0] == 400
