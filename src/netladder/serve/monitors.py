"""The monitors' runtime: SmokePing's rounds, continuously, many at once.

Every monitor runs a round each `interval` seconds: `pings` probes spread evenly over the
interval (SmokePing: 20 per 300 s), the first round after a random offset within one interval
so that a thousand monitors do not fire together.  Rounds follow each other on a fixed
schedule (a slow round does not push the next one back); each round is finished — its
replies sorted, its loss and median computed, written to the history, judged by the alerts —
when its last ping has answered or timed out.

One bound holds for every probe in flight, the exporter's own (`limits.max_probes_in_flight`,
shared with /probe).  A ping that cannot start within its step because the bound is full is
*skipped*: not sent, so not counted as lost (our overload is not the network's loss), and
counted in `netladder_monitor_pings_skipped_total`.

The probes run through serve/probers.py (`monitor_ping`), the one adapter to the engines.
icmp monitors also appear on /metrics under smokeping_prober's names (collector.go of
SuperQ/smokeping_prober): `smokeping_requests_total`, `smokeping_response_duration_seconds`
(its default buckets, ExponentialBuckets(0.00005, 2, 20)), `smokeping_response_ttl`,
`smokeping_send_errors_total` with its `ip` and `host` labels, and
`smokeping_receive_errors_total` without labels — so its Grafana dashboards work unchanged.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from netladder.serve.config import Config, Module, Monitor
from netladder.serve.metrics import Registry
from netladder.serve.probers import Ping, monitor_ping

__all__ = ["SMOKEPING_BUCKETS", "MonitorState", "Monitors", "Round", "ping_timeout"]

# smokeping_prober's defaultBuckets (main.go): prometheus.ExponentialBuckets(0.00005, 2, 20)
SMOKEPING_BUCKETS = tuple(0.00005 * 2**i for i in range(20))
SPARK_ROUNDS = 48  # rounds each monitor keeps in memory for the sparkline
DEFAULT_PING_TIMEOUT = 5.0  # seconds, when the module sets none


@dataclass(frozen=True, slots=True)
class Round:
    """One round of a monitor: when it started (wall clock, s), how many pings it was to
    send, how many it sent, and the replies' round-trip times in seconds, sorted."""

    start: float
    pings: int
    sent: int
    rtts: tuple[float, ...]
    errors: int = 0  # pings that could not be sent

    @property
    def lost(self) -> int:
        return self.sent - len(self.rtts)

    @property
    def loss(self) -> float | None:
        """The share of the sent pings that got no reply; None when nothing was sent."""
        return self.lost / self.sent if self.sent else None

    @property
    def median(self) -> float | None:
        """SmokePing's median (probes/base.pm rrdupdate_string): times[int(n/2)] over the n
        replies, sorted — the upper one of the middle two for an even n."""
        return self.rtts[len(self.rtts) // 2] if self.rtts else None


def ping_timeout(monitor: Monitor, module: Module) -> float:
    """How long one ping may wait for its answer: the module's timeout (default 5 s), never
    longer than the whole interval."""
    return min(module.timeout or DEFAULT_PING_TIMEOUT, monitor.interval)


@dataclass
class MonitorState:
    """A running monitor: its configuration and what the dashboard shows of it."""

    monitor: Monitor
    module: Module
    recent: deque[Round] = field(default_factory=lambda: deque(maxlen=SPARK_ROUNDS))
    last_ping: Ping | None = None  # the last one that carried a detail (phases, hops)
    detail: dict[str, Any] = field(default_factory=dict)
    alert: Any = None  # alerts.AlertState, set by the runner
    task: asyncio.Task[None] | None = None
    rounds_done: int = 0

    @property
    def name(self) -> str:
        return self.monitor.name

    @property
    def last(self) -> Round | None:
        return self.recent[-1] if self.recent else None


class Monitors:
    """Runs every monitor of the configuration; `reconcile` follows a reloaded one."""

    def __init__(
        self,
        config: Config,
        gate: asyncio.Semaphore,
        history: Any = None,  # history.History, or None
        alerts: Any = None,  # alerts.Alerts, or None
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.gate = gate
        self.history = history
        self.alerts = alerts
        self.rng = rng or random.Random()
        self.wall = wall
        self.log = log or (lambda line: None)
        self.states: dict[str, MonitorState] = {}
        self.registry = Registry()
        self._finishing: set[asyncio.Task[None]] = set()
        self._families()
        self._config = config
        self.on_round: Callable[[MonitorState, Round], None] | None = None  # after each round

    def _families(self) -> None:
        reg = self.registry
        labels = ("ip", "host")
        self.requests = reg.family(
            "smokeping_requests_total", "Number of ping requests sent", "counter", labels
        )
        self.durations = reg.family(
            "smokeping_response_duration_seconds",
            "A histogram of latencies for ping responses.",
            "histogram",
            labels,
            SMOKEPING_BUCKETS,
        )
        self.ttls = reg.family(
            "smokeping_response_ttl", "The last response Time To Live (TTL).", "gauge", labels
        )
        self.send_errors = reg.family(
            "smokeping_send_errors_total",
            "The number of errors when Pinger attempts to send packets.",
            "counter",
            labels,
        )
        self.receive_errors = reg.family(
            "smokeping_receive_errors_total",
            "The number of pings answered by an ICMP error (unreachable, prohibited, TTL "
            "exceeded) instead of a reply.",
            "counter",
        )
        self.skipped = reg.family(
            "netladder_monitor_pings_skipped_total",
            "Pings not sent because the bound on probes in flight was full for their whole step",
            "counter",
            ("monitor",),
        )
        self.round_loss = reg.family(
            "netladder_monitor_round_loss_ratio",
            "Share of the last round's pings that got no reply",
            "gauge",
            ("monitor",),
        )
        self.round_median = reg.family(
            "netladder_monitor_round_median_seconds",
            "The last round's median round-trip time (SmokePing's median)",
            "gauge",
            ("monitor",),
        )
        self.rounds_total = reg.family(
            "netladder_monitor_rounds_total", "Rounds finished", "counter", ("monitor",)
        )

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        self.reconcile(self._config)

    def reconcile(self, config: Config) -> None:
        """Start the monitors that are new or changed, stop those that are gone or changed."""
        self._config = config
        wanted = {m.name: (m, config.modules[m.module]) for m in config.monitors}
        for name in list(self.states):
            st = self.states[name]
            if name not in wanted or wanted[name] != (st.monitor, st.module):
                if st.task is not None:
                    st.task.cancel()
                del self.states[name]
                if self.alerts is not None:
                    self.alerts.forget(name)
        for name, (monitor, module) in wanted.items():
            if name in self.states:
                continue
            st = MonitorState(monitor, module)
            if self.history is not None:
                for r in self.history.recent(name, SPARK_ROUNDS):
                    st.recent.append(r)
                st.detail = self.history.detail(name) or {}
            if self.alerts is not None:
                st.alert = self.alerts.state(monitor)
                if self.history is not None:  # a restart resumes: the state its rounds imply
                    self.alerts.rebuild(st.alert, self.history.back(name))
            self.states[name] = st
            st.task = asyncio.get_running_loop().create_task(self._run(st), name=f"monitor {name}")

    async def stop(self) -> None:
        tasks = [st.task for st in self.states.values() if st.task is not None]
        tasks += list(self._finishing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the rounds --------------------------------------------------------------------------

    async def _run(self, st: MonitorState) -> None:
        loop = asyncio.get_running_loop()
        m = st.monitor
        step = m.interval / m.pings
        # A random start within one interval (SmokePing's random_seed offset does the same):
        # monitors started together spread their rounds over the interval.
        start = loop.time() + self.rng.uniform(0, m.interval)
        while True:
            await _sleep_until(loop, start)
            wall = self.wall()
            pings: list[asyncio.Task[Ping | None]] = []
            for i in range(m.pings):
                await _sleep_until(loop, start + i * step)
                pings.append(loop.create_task(self._ping(st, start + (i + 1) * step)))
            task = loop.create_task(self._finish(st, wall, pings))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)
            start += m.interval
            now = loop.time()
            if now > start + m.interval:  # suspended or starved for more than a round: skip
                start += (now - start) // m.interval * m.interval

    async def _ping(self, st: MonitorState, step_end: float) -> Ping | None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self.gate.acquire(), max(step_end - loop.time(), 0.001))
        except TimeoutError:
            self.skipped.add(1, st.name)
            return None
        try:
            timeout = ping_timeout(st.monitor, st.module)
            return await monitor_ping(st.module, st.monitor.target, timeout)
        finally:
            self.gate.release()

    async def _finish(
        self, st: MonitorState, wall: float, tasks: Sequence[asyncio.Task[Ping | None]]
    ) -> None:
        results = await asyncio.gather(*tasks)
        pings = [p for p in results if p is not None]
        self.record(st, wall, pings)

    def record(self, st: MonitorState, wall: float, pings: Sequence[Ping]) -> Round:
        """Finish a round from its pings: metrics, history, alerts, the dashboard's state."""
        m = st.monitor
        sent = [p for p in pings if p.sent]
        rtts = tuple(sorted(p.rtt for p in sent if p.rtt is not None))
        rnd = Round(wall, m.pings, len(sent), rtts, len(pings) - len(sent))
        if st.module.prober == "icmp":
            for p in pings:
                ip = (p.address or "").split("%", 1)[0]
                if not p.sent:
                    self.send_errors.add(1, ip, m.target)
                    continue
                self.requests.add(1, ip, m.target)
                if p.rtt is not None:
                    self.durations.observe(p.rtt, ip, m.target)
                    if p.ttl is not None:
                        self.ttls.set(p.ttl, ip, m.target)
                elif p.failure is not None and p.failure[1] in _ICMP_ERRORS:
                    self.receive_errors.add(1)
                # smokeping_prober creates every series of a target at 0 up front
                self.durations.histograms.setdefault(
                    (ip, m.target), ([0] * len(SMOKEPING_BUCKETS), 0.0, 0)
                )
                self.send_errors.touch(ip, m.target)
        detail = _detail(pings)
        if detail:
            st.detail = detail
        st.recent.append(rnd)
        st.rounds_done += 1
        self.rounds_total.add(1, m.name)
        loss, median = rnd.loss, rnd.median
        self.round_loss.set(float("nan") if loss is None else loss, m.name)
        self.round_median.set(float("nan") if median is None else median, m.name)
        if self.history is not None:
            try:
                self.history.add(m.name, rnd, detail or None)
            except Exception as exc:  # a full disk must not stop the monitors
                self.log(f"netladder serve: history: cannot write a round of {m.name}: {exc}")
        if self.alerts is not None and st.alert is not None:
            self.alerts.judge(st.alert, rnd)
        if self.on_round is not None:
            self.on_round(st, rnd)
        return rnd


_ICMP_ERRORS = frozenset({"unreachable", "prohibited", "ttl_exceeded"})


def _detail(pings: Sequence[Ping]) -> dict[str, Any]:
    """What the dashboard shows beyond the smoke: the last answered ping's HTTP phases (the
    waterfall) or trace hops (the per-hop table)."""
    for p in reversed(pings):
        if p.phases and p.rtt is not None:
            return {"phases": [[name, seconds] for name, seconds in p.phases]}
        if p.hops:
            return {"hops": [list(h) for h in p.hops]}
    return {}


async def _sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    delay = when - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)
