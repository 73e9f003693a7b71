"""The dashboard: server-rendered HTML and SVG, readable without JavaScript (a few lines of
it refresh the page in place), nothing loaded from anywhere else.

    /               every monitor: state, last median and loss, a sparkline of recent rounds
    /monitor/NAME   SmokePing's graph over 3 h, 30 h, 10 d and 360 d; the per-hop table of a
                    trace monitor; the phase waterfall of an http monitor
    /probes         the recent /probe requests (blackbox's list), with their debug logs

The graph follows SmokePing (lib/Smokeping.pm, get_detail and smokecol): each column's
replies in their sorted, padded ranks (see history.padded); the smoke between rank i and
rank N+1−i for i = 1 … N/2, grey level int(190/half·(half−i))+50 — the outer bands light,
the inner dark — and none below 3 pings; the median drawn over it in the colour of the
column's loss (SmokePing's default loss_colors for N pings: 0 #26ff00, up to 1 % #00b8ff,
5 % #0059ff, 10 % #7e00ff, 25 % #ff00ff, 50 % #ff5500, N−1 #ff0000, all #a00000, each
bound at least 1, 2, 3, 4, 5 pings).  Values above the graph's top are drawn to the top, as
SmokePing's cp CDEFs do.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from netladder.serve.history import Rollup, merge, single
from netladder.serve.monitors import MonitorState, Round

__all__ = ["RANGES", "graph_columns", "loss_colours", "monitor_page", "overview", "probes_page"]

RANGES: tuple[tuple[str, float], ...] = (
    ("3h", 3 * 3600.0),
    ("30h", 30 * 3600.0),
    ("10d", 10 * 86400.0),
    ("360d", 360 * 86400.0),
)
COLUMNS = 480  # the graph's plot width in px, one consolidated column each
HEIGHT = 160
REFRESH_S = 30

STATE_COLOURS = {"ok": "#26a800", "alert": "#d00000", "unknown": "#888888"}

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
table{border-collapse:collapse}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;
text-align:left}th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.state{display:inline-block;padding:0 .5em;border-radius:3px;color:#fff;font-weight:600}
nav a{margin-right:1em}svg text{font:11px sans-serif;fill:#333}figure{margin:1em 0}
figcaption{font-weight:600}
"""

# Refresh in place: fetch the page again and swap <main>, so the view never goes blank.
_SCRIPT = f"""<script>
setInterval(async () => {{
  try {{
    const r = await fetch(location.href, {{cache: "no-store"}});
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    document.querySelector("main").replaceWith(doc.querySelector("main"));
  }} catch (e) {{}}
}}, {REFRESH_S * 1000});
</script>"""


def _page(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        "<nav><a href='/'>Monitors</a><a href='/probes'>Recent probes</a>"
        "<a href='/metrics'>Metrics</a><a href='/config'>Configuration</a>"
        "<a href='/api/v1/monitors'>JSON</a></nav>"
        f"<main>{body}</main>{_SCRIPT}</body></html>\n"
    ).encode()


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.1f} ms"


def _pct(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio * 100:.0f} %"


def _state(state: str, reason: str = "") -> str:
    colour = STATE_COLOURS.get(state, "#888888")
    title = f" title='{html.escape(reason)}'" if reason else ""
    return f"<span class='state state-{state}' style='background:{colour}'{title}>{state}</span>"


# -- SmokePing's colours --------------------------------------------------------------------------


def loss_colours(pings: int) -> list[tuple[float, str, str]]:
    """SmokePing's default loss_colors for `pings` per round: (upper bound of lost pings,
    colour, legend), ascending; a column's lost count falls in the first bound ≥ it."""
    p = pings
    per01, per05, per10 = max(int(0.01 * p), 1), max(int(0.05 * p), 2), max(int(0.10 * p), 3)
    per25, per50 = max(int(0.25 * p), 4), max(int(0.50 * p), 5)

    def shown(lo: int, hi: int) -> str:
        return str(lo) if lo >= hi else f"{lo}/{hi}"

    table = {
        0: ("0", "#26ff00"),
        per01: (shown(1, per01), "#00b8ff"),
        per05: (shown(per01 + 1, per05), "#0059ff"),
        per10: (shown(per05 + 1, per10), "#7e00ff"),
        per25: (shown(per10 + 1, per25), "#ff00ff"),
        per50: (shown(per25 + 1, per50), "#ff5500"),
        p - 1: (shown(per50 + 1, p - 1), "#ff0000"),
        p: (f"{p}/{p}", "#a00000"),
    }  # a later key wins a collision, as in SmokePing's hash literal
    return [(float(k), c, text) for k, (text, c) in sorted(table.items()) if k <= p]


def loss_colour(lost: float, pings: int) -> str:
    last = -1.0
    for bound, colour, _text in loss_colours(pings):
        if last < lost <= bound:
            return colour
        last = bound
    return "#a00000"


def smoke_grey(ibot: int, pings: int) -> str:
    half = pings / 2
    level = int(190 / half * (half - ibot)) + 50
    return "#" + f"{level:02x}" * 3


# -- the graph ------------------------------------------------------------------------------------


def graph_columns(
    items: Sequence[Rollup], start: float, end: float, pings: int, columns: int = COLUMNS
) -> list[Rollup]:
    """Rounds (as single-round Rollups) or hourly roll-ups → at most `columns` columns over
    [start, end), each merged as an RRD AVERAGE consolidation would."""
    width = (end - start) / columns
    groups: dict[int, list[Rollup]] = {}
    for item in items:
        col = int((item.start - start) // width)
        if 0 <= col < columns:
            groups.setdefault(col, []).append(item)
    return [merge(start + col * width, group, pings) for col, group in sorted(groups.items())]


def _top(columns: Sequence[Rollup]) -> float:
    """The graph's top: 1.5 × the largest median (SmokePing scales by the medians, so that
    one wild outlier does not flatten the graph), at least 1 ms."""
    medians = [c.median for c in columns if c.median is not None]
    return max(max(medians, default=0.0) * 1.5, 0.001)


def _nice(top: float) -> float:
    """A round tick step in seconds for a graph whose top is `top`."""
    raw = top / 4
    mag = 10.0 ** math.floor(math.log10(raw))
    for f in (1, 2, 2.5, 5, 10):
        if raw <= f * mag:
            return float(f * mag)
    return 10.0 * mag


def smoke_svg(
    label: str,
    columns: Sequence[Rollup],
    start: float,
    end: float,
    pings: int,
    step: float = 0.0,
) -> str:
    """The graph; each column drawn as wide as the `step` (seconds) its data stands for, as
    an RRD value fills its whole step."""
    left, right, top_pad, bottom = 56, 12, 10, 34
    w, h = COLUMNS + left + right, HEIGHT + top_pad + bottom
    top = _top(columns)
    width = (end - start) / COLUMNS
    px = f"{min(max(step / width, 1.0), COLUMNS):.1f}"

    def y(v: float) -> float:
        return top_pad + HEIGHT - min(v, top) / top * HEIGHT

    out = [
        f"<svg class='smoke' data-range='{label}' data-columns='{len(columns)}' "
        f"xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' viewBox='0 0 {w} {h}' "
        f"role='img' aria-label='round-trip time over {label}'>",
        f"<rect x='{left}' y='{top_pad}' width='{COLUMNS}' height='{HEIGHT}' fill='#fafafa' "
        "stroke='#ccc'/>",
    ]
    step = _nice(top)
    tick = 0.0
    while tick <= top + 1e-12:
        ty = y(tick)
        out.append(
            f"<line x1='{left}' x2='{left + COLUMNS}' y1='{ty:.1f}' y2='{ty:.1f}' stroke='#eee'/>"
            f"<text x='{left - 4}' y='{ty + 4:.1f}' text-anchor='end'>{tick * 1000:g} ms</text>"
        )
        tick += step
    for i in range(5):
        t = start + (end - start) * i / 4
        fmt = "%H:%M" if end - start <= 2 * 86400 else "%m-%d"
        tx = left + COLUMNS * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        out.append(
            f"<text x='{tx:.0f}' y='{top_pad + HEIGHT + 14}' text-anchor='{anchor}'>"
            f"{time.strftime(fmt, time.localtime(t))}</text>"
        )
    # A column as wide as its step may run past the plot's right edge: clip it there.
    out.append(
        f"<clipPath id='plot-{label}'><rect x='{left}' y='{top_pad}' width='{COLUMNS}' "
        f"height='{HEIGHT}'/></clipPath><g clip-path='url(#plot-{label})'>"
    )
    for col in columns:
        x = left + (col.start - start) / width
        smoke = col.smoke
        if pings >= 3:  # smokecol: no smoke below 3 pings
            ibot, itop = 1, pings
            while itop > ibot:
                lo, hi = smoke[ibot - 1], smoke[itop - 1]
                if lo is not None and hi is not None:
                    out.append(
                        f"<rect class='smoke-band' x='{x:.1f}' y='{y(hi):.1f}' width='{px}' "
                        f"height='{max(y(lo) - y(hi), 0.5):.1f}' fill='{smoke_grey(ibot, pings)}'/>"
                    )
                ibot, itop = ibot + 1, itop - 1
        loss = col.loss
        lost = 0.0 if loss is None else loss * pings
        colour = loss_colour(lost, pings)
        if col.median is not None:
            out.append(
                f"<rect class='median' x='{x:.1f}' y='{y(col.median) - 1:.1f}' width='{px}' "
                f"height='2' fill='{colour}' data-loss='{lost:.2f}'>"
                f"<title>{time.strftime('%Y-%m-%d %H:%M', time.localtime(col.start))}: median "
                f"{col.median * 1000:.2f} ms, loss {_pct(loss)}</title></rect>"
            )
        elif col.sent:  # every ping lost: SmokePing leaves the median unknown; mark the loss
            out.append(
                f"<rect class='median lost' x='{x:.1f}' y='{top_pad + HEIGHT - 3}' width='{px}' "
                f"height='3' fill='{colour}' data-loss='{lost:.2f}'/>"
            )
    out.append("</g>")
    legend_y = top_pad + HEIGHT + 28
    lx = left
    out.append(f"<text x='{lx}' y='{legend_y}'>loss:</text>")
    lx += 34
    for _bound, colour, text in loss_colours(pings):
        out.append(
            f"<rect x='{lx}' y='{legend_y - 8}' width='10' height='8' fill='{colour}'/>"
            f"<text x='{lx + 13}' y='{legend_y}'>{html.escape(text)}</text>"
        )
        lx += 20 + 7 * len(text)
    if pings < 3:
        out.append(
            f"<text x='{left + COLUMNS}' y='{legend_y}' text-anchor='end'>"
            "(Not enough pings to draw any smoke.)</text>"
        )
    out.append("</svg>")
    return "".join(out)


def sparkline(rounds: Sequence[Round], width: int = 144, height: int = 24) -> str:
    """The recent rounds' medians as a line; a round with every ping lost as a red tick."""
    if not rounds:
        return f"<svg class='spark' width='{width}' height='{height}'></svg>"
    medians = [r.median for r in rounds]
    known = [m for m in medians if m is not None]
    top = max(known, default=0.001) * 1.2 or 0.001
    dx = width / max(len(rounds) - 1, 1)
    points = []
    ticks = []
    for i, (r, m) in enumerate(zip(rounds, medians, strict=True)):
        x = i * dx
        if m is None:
            if r.sent:
                ticks.append(
                    f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{height - 6}' y2='{height}' "
                    "stroke='#a00000'/>"
                )
            continue
        points.append(f"{x:.1f},{height - 1 - m / top * (height - 2):.1f}")
    last = rounds[-1]
    lost = 0.0 if last.loss is None else last.loss * last.pings
    return (
        f"<svg class='spark' width='{width}' height='{height}' data-rounds='{len(rounds)}'>"
        f"<polyline points='{' '.join(points)}' fill='none' stroke='#555' stroke-width='1'/>"
        + "".join(ticks)
        + (
            f"<circle cx='{width - 2}' cy='{points[-1].split(',')[1]}' r='2' "
            f"fill='{loss_colour(lost, last.pings)}'/>"
            if points and medians[-1] is not None
            else ""
        )
        + "</svg>"
    )


# -- pages ----------------------------------------------------------------------------------------


def _href(name: str) -> str:
    from urllib.parse import quote

    return "/monitor/" + quote(name, safe="")


def overview(states: Iterable[MonitorState]) -> bytes:
    rows = []
    for st in states:
        last = st.last
        alert = st.alert
        state = alert.state if alert is not None else "unknown"
        reason = alert.reason if alert is not None else ""
        rows.append(
            f"<tr class='monitor' data-name='{html.escape(st.name)}' data-state='{state}'>"
            f"<td><a href='{_href(st.name)}'>{html.escape(st.name)}</a></td>"
            f"<td>{html.escape(st.monitor.target)}</td><td>{html.escape(st.module.prober)}</td>"
            f"<td>{_state(state, reason)}</td>"
            f"<td class='num median'>{_ms(last.median if last else None)}</td>"
            f"<td class='num loss'>{_pct(last.loss if last else None)}</td>"
            f"<td>{sparkline(list(st.recent))}</td></tr>"
        )
    if rows:
        table = (
            "<table id='monitors'><tr><th>Monitor</th><th>Target</th><th>Prober</th>"
            "<th>State</th><th>Median</th><th>Loss</th><th>Recent rounds</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    else:
        table = (
            "<p>No monitors are configured: add a <code>monitors:</code> section to the "
            "configuration (see the README).</p>"
        )
    return _page("netladder serve", f"<h1>netladder serve</h1>{table}")


def monitor_page(st: MonitorState, graphs: Sequence[tuple[str, str]], now: float) -> bytes:
    m = st.monitor
    alert = st.alert
    state = alert.state if alert is not None else "unknown"
    reason = alert.reason if alert is not None else ""
    last = st.last
    parts = [
        f"<h1>{html.escape(m.name)} {_state(state, reason)}</h1>",
        f"<p>{html.escape(m.target)} · {html.escape(m.module)} ({html.escape(st.module.prober)})"
        f" · {m.pings} pings every {m.interval:g} s",
    ]
    if last is not None:
        parts.append(
            f" · last round: median {_ms(last.median)}, loss {_pct(last.loss)} "
            f"({last.sent - last.lost}/{last.sent})"
        )
    if reason:
        parts.append(f" · {html.escape(reason)}")
    parts.append("</p>")
    for label, svg in graphs:
        parts.append(f"<figure><figcaption>Last {label}</figcaption>{svg}</figure>")
    hops = st.detail.get("hops")
    if hops:
        parts.append(_hops_table(hops))
    phases = st.detail.get("phases")
    if phases:
        parts.append(_waterfall(phases))
    return _page(f"{m.name} — netladder serve", "".join(parts))


def _hops_table(hops: Sequence[Sequence[Any]]) -> str:
    rows = "".join(
        f"<tr class='hop'><td class='num'>{ttl}</td><td>{html.escape(str(who))}</td>"
        f"<td class='num'>{'–' if avg is None else f'{avg:.2f} ms'}</td>"
        f"<td class='num'>{loss:.0f} %</td></tr>"
        for ttl, who, avg, loss in hops
    )
    return (
        "<h2>Path (last trace)</h2><table id='hops'><tr><th>Hop</th><th>Responders</th>"
        f"<th>Average</th><th>Loss</th></tr>{rows}</table>"
    )


_PHASE_ORDER = ("resolve", "connect", "tls", "processing", "transfer")
_PHASE_COLOURS = {
    "resolve": "#7e57c2",
    "connect": "#29b6f6",
    "tls": "#ffa726",
    "processing": "#66bb6a",
    "transfer": "#ef5350",
}


def _waterfall(phases: Sequence[Sequence[Any]]) -> str:
    """The last request's phases one after the other (blackbox's phases, summed over
    redirects), as httpstat draws them."""
    seconds = {str(name): float(value) for name, value in phases}
    order = [p for p in _PHASE_ORDER if p in seconds]
    total = sum(seconds[p] for p in order) or 1e-6
    width, row, left = 480, 20, 80
    out = [
        f"<svg id='waterfall' width='{left + width + 90}' height='{row * len(order) + 6}' "
        "xmlns='http://www.w3.org/2000/svg'>"
    ]
    at = 0.0
    for i, p in enumerate(order):
        x = left + at / total * width
        w = max(seconds[p] / total * width, 1)
        out.append(
            f"<text x='0' y='{i * row + 14}'>{p}</text>"
            f"<rect class='phase' data-phase='{p}' x='{x:.1f}' y='{i * row + 3}' width='{w:.1f}' "
            f"height='{row - 6}' fill='{_PHASE_COLOURS[p]}'/>"
            f"<text x='{x + w + 4:.1f}' y='{i * row + 14}'>{seconds[p] * 1000:.2f} ms</text>"
        )
        at += seconds[p]
    out.append("</svg>")
    return "<h2>HTTP phases (last request)</h2>" + "".join(out)


def probes_page(recent: Iterable[Any]) -> bytes:
    rows = "".join(
        f"<tr><td>{html.escape(r.module)}</td><td>{html.escape(r.target)}</td>"
        f"<td>{'Success' if r.success else '<strong>Failure</strong>'}</td>"
        f"<td><a href='/logs?id={r.id}'>Logs</a></td></tr>"
        for r in recent
    )
    body = (
        "<h1>Recent probes</h1><p>A blackbox_exporter-compatible prober: "
        "<code>/probe?target=…&amp;module=…</code></p>"
        "<table border='1'><tr><th>Module</th><th>Target</th>"
        f"<th>Result</th><th>Debug</th></tr>{rows}</table>"
    )
    return _page("Recent probes — netladder serve", body)


def graph_items(history: Any, name: str, pings: int, span: float, now: float) -> list[Rollup]:
    """What a graph over the last `span` seconds is drawn from: the raw rounds while they
    are kept, the hourly roll-ups beyond."""
    start = now - span
    if span <= history.config.raw_days * 86400:
        return [single(r, pings) for r in history.rounds(name, start, now + 1)]
    items: list[Rollup] = list(history.hourly(name, start, now + 1))
    return items


def graphs_for(history: Any, st: MonitorState, now: float) -> list[tuple[str, str]]:
    out = []
    pings = st.monitor.pings
    for label, span in RANGES:
        items = graph_items(history, st.name, pings, span, now)
        cols = graph_columns(items, now - span, now, pings)
        raw = span <= history.config.raw_days * 86400
        step = st.monitor.interval if raw else 3600.0
        out.append((label, smoke_svg(label, cols, now - span, now, pings, step)))
    return out
