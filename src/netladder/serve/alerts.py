"""The monitors' alerts: a state per monitor, judged after every round, and a JSON webhook.

A round is *bad* when its loss is above `alerts.loss_percent` or its median above
`alerts.median_ms`; a monitor with neither threshold calls a round bad when every ping it sent
was lost.  A round in which no ping could be sent (the name does not resolve, no socket) is
bad too: the monitor cannot see its target.  A round with no evidence at all (every ping
skipped because the bound on probes in flight was full) changes nothing.

    unknown ──first good round──▶ ok
    ok/unknown ──`rounds` bad rounds in a row──▶ alert
    alert ──`rounds` good rounds in a row──▶ ok

Each change into or out of `alert` is POSTed as JSON to the monitor's `alerts.webhook` with the
project's HTTP client (l7), retried with exponential back-off (1, 2, 4, 8, 16, 32 s) until the
receiver answers 2xx; the changes of one monitor reach it in order.  Alertmanager users can
ignore all this and alert on the metrics.

A restart (or a reload that changes a monitor) resumes: each monitor's state is rebuilt from
its rounds in the history before its first new round, by judging them again under the current
thresholds — the dashboard and /api/v1/monitors show at once the state the rounds imply, and
the counts of bad or good rounds in a row go on from where they were (up to `rounds`, all the
machine reads of them).  Rebuilding sends no webhook: its changes were announced when they
happened (or, under thresholds changed since, never happened live); only a change judged from
a new round is POSTed.  The rounds are read back from the newest until they hold a run of
`rounds` judged alike — from there the state is certain — and then on to a run of the other
kind before it, which makes the replay from `unknown` exact, `since` included (the start of the
round whose judgment made the change; live, it is when that round finished).  That second
search stops after REBUILD_ROUNDS rounds (a monitor steady for longer would otherwise read its
whole history at every start): the replay then starts from the other state, so that `since` is
the first change into the state that those rounds show — the monitor has been in it at least
since then.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from netladder.serve.config import Monitor
from netladder.serve.monitors import Round

__all__ = ["REBUILD_ROUNDS", "RETRY_DELAYS", "AlertState", "Alerts", "judge_round", "post_json"]

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # seconds before each retry
WEBHOOK_TIMEOUT = 10.0
REBUILD_ROUNDS = 1_000  # rounds read back past the state's run, looking for when it began


@dataclass
class AlertState:
    monitor: Monitor
    state: str = "unknown"  # unknown | ok | alert
    reason: str = ""  # why the last round was bad ("" after a good one)
    since: float | None = None  # wall clock of the last change
    bad: int = 0  # bad rounds in a row
    good: int = 0  # good rounds in a row


def judge_round(monitor: Monitor, rnd: Round) -> str | None:
    """Why the round is bad, or None when it is good; "" when it says nothing."""
    al = monitor.alerts
    if rnd.sent == 0:
        return "no ping could be sent" if rnd.errors else ""
    loss, median = rnd.loss, rnd.median
    assert loss is not None
    if al.loss_percent is not None and loss * 100 > al.loss_percent:
        return f"loss {loss * 100:.0f} % above {al.loss_percent:g} %"
    if al.median_ms is not None and median is not None and median * 1000 > al.median_ms:
        return f"median {median * 1000:.1f} ms above {al.median_ms:g} ms"
    if al.loss_percent is None and al.median_ms is None and not rnd.rtts:
        return f"all {rnd.sent} pings lost"
    return None


class Alerts:
    """Every monitor's state, and the webhooks still being delivered."""

    def __init__(
        self,
        delays: Sequence[float] = RETRY_DELAYS,
        post: Callable[[str, bytes], Any] | None = None,
        wall: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.delays = tuple(delays)
        self.post = post or post_json
        self.wall = wall
        self.log = log or (lambda line: None)
        self.states: dict[str, AlertState] = {}
        self._chains: dict[str, asyncio.Task[None]] = {}
        self.delivered = 0
        self.failed = 0

    def state(self, monitor: Monitor) -> AlertState:
        st = self.states.get(monitor.name)
        if st is None or st.monitor != monitor:
            st = self.states[monitor.name] = AlertState(monitor)
        return st

    def forget(self, name: str) -> None:
        self.states.pop(name, None)

    def judge(self, st: AlertState, rnd: Round) -> str | None:
        """Judge a round; the new state when it changed."""
        why = judge_round(st.monitor, rnd)
        if why == "":
            return None
        before = st.state
        if not _step(st, why, self.wall()):
            return None
        if "alert" in (before, st.state) and st.monitor.alerts.webhook:
            self._send(st, before, rnd, why)
        return st.state

    def rebuild(
        self, st: AlertState, newest_first: Iterable[Round], limit: int = REBUILD_ROUNDS
    ) -> None:
        """The state the recorded rounds imply (newest first, as History.back gives them),
        replayed without a webhook; `limit` bounds the rounds read past the state's run."""
        rounds = st.monitor.alerts.rounds
        window: list[tuple[Round, str | None]] = []
        kind: bool | None = None  # the run being read back: bad (True) or good
        run = 0
        latest: bool | None = None  # the kind of the newest run of `rounds`
        certain = 0  # rounds read when it was found: the state is known from there
        first = "unknown"  # the state the replay starts from: the history's first, as it ran
        for rnd in newest_first:
            why = judge_round(st.monitor, rnd)
            if why == "":
                continue  # a round that says nothing changes nothing
            bad = why is not None
            run = run + 1 if bad == kind else 1
            kind = bad
            window.append((rnd, why))
            if run == rounds:
                if latest is None:
                    latest, certain = bad, len(window)
                elif bad != latest:
                    break  # the state before the newest run's change: replaying from here is exact
            if latest is not None and len(window) - certain >= limit:
                # Steady for longer than we look back: replayed from the other state, `since`
                # is the first change into this one that the rounds read show.
                first = "ok" if latest else "alert"
                break
        st.state, st.reason, st.since, st.bad, st.good = first, "", None, 0, 0
        for rnd, why in reversed(window):
            _step(st, why, rnd.start)

    def _send(self, st: AlertState, before: str, rnd: Round, why: str | None) -> None:
        m = st.monitor
        doc = {
            "monitor": m.name,
            "target": m.target,
            "module": m.module,
            "state": st.state,
            "previous": before,
            "reason": why or f"{m.alerts.rounds} good rounds in a row",
            "time": st.since,
            "round": {
                "start": rnd.start,
                "sent": rnd.sent,
                "received": len(rnd.rtts),
                "loss_percent": None if rnd.loss is None else round(rnd.loss * 100, 3),
                "median_ms": None if rnd.median is None else round(rnd.median * 1000, 3),
            },
            "thresholds": {
                "loss_percent": m.alerts.loss_percent,
                "median_ms": m.alerts.median_ms,
                "rounds": m.alerts.rounds,
            },
        }
        body = json.dumps(doc).encode()
        url = m.alerts.webhook
        assert url is not None
        previous = self._chains.get(m.name)
        task = asyncio.get_running_loop().create_task(self._deliver(url, body, previous))
        self._chains[m.name] = task

    async def _deliver(self, url: str, body: bytes, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:  # one monitor's changes arrive in the order they happened
            await asyncio.gather(previous, return_exceptions=True)
        for attempt, delay in enumerate((0.0, *self.delays)):
            if delay:
                await asyncio.sleep(delay)
            problem = await self.post(url, body)
            if problem is None:
                self.delivered += 1
                return
            left = len(self.delays) - attempt
            self.log(
                f"netladder serve: webhook {url}: {problem}"
                + (f"; retrying in {self.delays[attempt]:g} s" if left else "; giving up")
            )
        self.failed += 1

    async def drain(self) -> None:
        """Until every webhook under way is delivered or given up."""
        await asyncio.gather(*self._chains.values(), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._chains.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _step(st: AlertState, why: str | None, when: float) -> bool:
    """One judged round through the state machine; whether the state changed."""
    rounds = st.monitor.alerts.rounds
    before = st.state
    if why is None:
        st.good, st.bad, st.reason = st.good + 1, 0, ""
        if before == "unknown" or (before == "alert" and st.good >= rounds):
            st.state = "ok"
    else:
        st.bad, st.good, st.reason = st.bad + 1, 0, why
        if before != "alert" and st.bad >= rounds:
            st.state = "alert"
    if st.state == before:
        return False
    st.since = when
    return True


async def post_json(url: str, body: bytes) -> str | None:
    """POST a JSON document; None when the receiver answered 2xx, else what went wrong."""
    from netladder import api
    from netladder.api._http import HttpOptions
    from netladder.render.http import sentence

    options = HttpOptions(
        url=url,
        method="POST",
        headers=(("Content-Type", "application/json"),),
        body=body,
        timeout=WEBHOOK_TIMEOUT,
        expect=((200, 299),),
        max_body=64 * 1024,
    )
    check = await api.http(options)
    final = check.hops[-1]
    if final.status is None:
        return sentence(check.error) if check.error is not None else "no answer"
    if not 200 <= final.status < 300:
        return f"answered {final.status}"
    return None
