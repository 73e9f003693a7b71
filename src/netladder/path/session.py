"""The trace as a sans-IO session: probes in flight for many TTLs at once, adaptive waits,
mtr-style cycles.  It never touches a socket or the clock: the driver (`net/driver.py`) sends
what `poll` asks for, stamps each send (`on_sent`) and hands back what arrives.

One-shot (traceroute): probes go out in (TTL, query) order with at most `parallel` awaiting an
answer.  A probe waits at most `wait`; once something answers from a later hop, the earlier
hops' probes wait at most NEAR × that RTT, and once another probe of the same hop answered, at
most HERE × its RTT (traceroute's `-w MAX,HERE,NEAR`, 5,3,10), never below a small floor.  A
late answer still counts while the trace runs.  The trace ends as soon as the destination (or
an unreachable error) answered and every lower hop is answered or timed out, or after
`max_unknown` silent hops in a row past the last one that answered (mtr's --max-unknown).

Report (mtr -r -c N): each cycle sends one probe to every TTL up to the destination's hop
(the lowest TTL at which it ever answered), every `interval` seconds; after the last cycle the
session waits for the answers still due.  With `snapshots`, each cycle is an event
(`TraceCycle`) carrying the trace as it stands.
"""

from __future__ import annotations

from typing import Any

from netladder.net.session import Action, ConnectOutcome, Session, Step
from netladder.net.sockets import Received
from netladder.path.model import (
    Hop,
    ProbeResult,
    TraceCycle,
    TraceOptions,
    TraceResult,
)
from netladder.path.probes import Answer, Probes
from netladder.path.stats import hop_stats
from netladder.path.verdict import judge

__all__ = ["FLOOR_NS", "HERE", "MAX_UNKNOWN", "NEAR", "TCP_WAIT_NS", "TraceSession"]

NS = 1_000_000_000
HERE = 3.0
NEAR = 10.0
# Adaptive waits never go below this: a busy machine (or a userspace link) that stalls for some
# ms must not turn a slow answer into a star.  It only matters on paths shorter than ~10 ms.
FLOOR_NS = 100_000_000
# The kernel retransmits an unanswered SYN after its initial RTO (1 s, RFC 6298 §2.1); an answer
# after that could be to the retransmission, with a wrong RTT, so a TCP probe waits at most 1 s.
TCP_WAIT_NS = 1_000_000_000
MAX_UNKNOWN = 5


class _Probe:
    # A plain slotted class, not a record: thousands exist in a long report, and they change.
    __slots__ = ("answer", "deadline_ns", "expired", "id", "query", "sent_ns", "token", "ttl")

    def __init__(
        self, token: int, probe_id: int, ttl: int, query: int, sent_ns: int, deadline_ns: int
    ) -> None:
        self.token = token
        self.id = probe_id
        self.ttl = ttl
        self.query = query
        self.sent_ns = sent_ns
        self.deadline_ns = deadline_ns
        self.answer: Answer | None = None
        self.expired = False

    @property
    def done(self) -> bool:
        return self.answer is not None or self.expired


class TraceSession(Session[TraceResult]):
    """One trace of `address` with `probes` (path/probes.py), as `options` says."""

    def __init__(
        self,
        options: TraceOptions,
        address: str,
        version: int,
        probes: Probes,
        *,
        snapshots: bool = False,
    ) -> None:
        self.options = options
        self.address = address
        self.version = version
        self.probes = probes
        self.channels = probes.channels
        self.snapshots = snapshots
        self.first_ttl = options.first_ttl
        self.max_ttl = options.max_ttl
        self.cycles = options.cycles
        self.queries = 1 if options.cycles else options.queries
        self.parallel = options.parallel
        wait_ns = round(options.wait * NS)
        self.wait_ns = min(wait_ns, TCP_WAIT_NS) if probes.protocol == "tcp" else wait_ns
        self.interval_ns = round(options.interval * NS)
        self.adaptive = options.cycles is None
        # Probe ids are 16 bits (the ICMP sequence) and wrap in long reports, so the id map
        # holds the latest probe with each id; the history keeps every probe for statistics
        # (a probe's token is its index there).
        self.by_id: dict[int, _Probe] = {}
        self.history: list[_Probe] = []
        self.pending: dict[int, _Probe] = {}  # by token: neither answered nor timed out
        self.top_answered = self.first_ttl - 1
        self.dest_ttl: int | None = None
        self.cut_ttl: int | None = None  # max-unknown silence: nothing beyond is sent
        self.next_id = 1
        self.order = [
            (ttl, q)
            for ttl in range(self.first_ttl, self.max_ttl + 1)
            for q in range(1, self.queries + 1)
        ]
        self.index = 0  # one-shot: the next (ttl, query) to send
        self.cycle = 1  # report: the next cycle to send
        self.started_ns = 0  # the first probe's send stamp
        self.start_ns = 0  # the run's start (report cycles are due from here)
        self.now = 0
        self.send_error: int | None = None
        self.send_connect = False
        self.interrupted = False
        self.finished = False

    # -- the session contract -------------------------------------------------------------------

    def bind(self, opened: Any) -> None:
        self.probes.bind(opened)

    def start(self, now: int) -> None:
        self.start_ns = self.now = now

    def poll(self, now: int) -> Step:
        self.now = now
        if self.finished or self.interrupted or self.send_error is not None:
            self.finished = True
            return Step((), None, (), True)
        actions = self._expire(now)
        if self.cycles:
            return self._report(now, actions)
        return self._one_shot(now, actions)

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        probe = self.history[token]
        if error is not None:
            self.send_error = error  # the trace stops: the next poll ends it
            return
        if not self.started_ns:
            self.started_ns = at
        probe.sent_ns = at
        probe.deadline_ns = at + self.wait_ns

    def on_packet(self, channel: int, packet: Received) -> None:
        answer = self.probes.on_packet(channel, packet)
        if answer is not None:
            self._answered(answer)

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        probe = self.history[token]
        if outcome.sent is not None:
            probe.sent_ns = outcome.sent
        answer = self.probes.on_connect(probe.id, outcome)
        if answer is None:  # it failed here, before anything left
            self.send_error = outcome.error
            self.send_connect = True
            return
        self._settle(probe, answer)

    def interrupt(self) -> None:
        self.interrupted = True

    def result(self) -> TraceResult:
        return self._build(self.now)

    # -- sending --------------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        limit = self.max_ttl
        if self.dest_ttl is not None and self.dest_ttl < limit:
            limit = self.dest_ttl
        if self.cut_ttl is not None and self.cut_ttl < limit:
            limit = self.cut_ttl
        return limit

    def _send(self, ttl: int, query: int, now: int) -> Action:
        probe_id = self.next_id
        self.next_id = (self.next_id % 0xFFFF) + 1
        token = len(self.history)
        # Stamped again by on_sent (or the connect's outcome) with the driver's send time.
        probe = _Probe(token, probe_id, ttl, query, now, now + self.wait_ns)
        self.by_id[probe_id] = probe
        self.pending[token] = probe
        self.history.append(probe)
        if not self.started_ns and self.probes.socket_kind == "connect":
            self.started_ns = now
        return self.probes.probe(probe_id, ttl, token)

    def _active(self) -> list[_Probe]:
        limit = self.limit
        return [p for p in self.pending.values() if p.ttl <= limit]

    def _one_shot(self, now: int, actions: list[Action]) -> Step:
        self._apply_max_unknown()
        order = self.order
        limit = self.limit
        active = len(self._active())
        while self.index < len(order) and active < self.parallel and order[self.index][0] <= limit:
            actions.append(self._send(*order[self.index], now))
            self.index += 1
            active += 1
        pending = self._active()
        more = self.index < len(order) and order[self.index][0] <= limit
        if not pending and not more:
            self.finished = True
            return Step(actions, None, (), True)
        wake = min(p.deadline_ns for p in pending) if pending else None
        return Step(actions, wake, ())

    def _report(self, now: int, actions: list[Action]) -> Step:
        assert self.cycles is not None
        events: list[TraceCycle] = []
        if self.cycle <= self.cycles and now >= self._due(self.cycle):
            if self.cycle > 1 and self.snapshots:
                events.append(TraceCycle(self.cycle - 1, self._build(now)))
            limit = self.limit
            if self.dest_ttl is None and self.cut_ttl is None:
                # Not found yet: as far as `parallel` TTLs beyond the last that answered.
                limit = min(limit, self.top_answered + max(self.parallel, MAX_UNKNOWN))
            for ttl in range(self.first_ttl, limit + 1):
                actions.append(self._send(ttl, self.cycle, now))
            self.cycle += 1
        if self.cycle <= self.cycles:
            wake = self._due(self.cycle)
            if self.probes.socket_kind == "connect" and self.pending:
                # connect()s are closed at their deadline: the kernel would retransmit them
                wake = min(wake, min(p.deadline_ns for p in self.pending.values()))
            return Step(actions, wake, events)
        pending = self._active()
        if not pending:
            if self.snapshots:
                events.append(TraceCycle(self.cycles, self._build(now)))
            self.finished = True
            return Step(actions, None, events, True)
        return Step(actions, min(p.deadline_ns for p in pending), events)

    def _due(self, cycle: int) -> int:
        return self.start_ns + (cycle - 1) * self.interval_ns

    # -- answers and silence --------------------------------------------------------------------

    def _answered(self, answer: Answer) -> None:
        probe = self.by_id.get(answer.probe_id)
        if probe is not None:
            self._settle(probe, answer)

    def _settle(self, probe: _Probe, answer: Answer) -> None:
        if probe.answer is not None:
            return  # a duplicate
        probe.answer = answer  # a late answer (after its probe timed out) counts too
        self.pending.pop(probe.token, None)
        if probe.ttl > self.top_answered:
            self.top_answered = probe.ttl
        if answer.kind != "time-exceeded":
            if self.dest_ttl is None or probe.ttl < self.dest_ttl:
                self.dest_ttl = probe.ttl
        if self.adaptive:
            rtt = max(0, answer.monotonic_ns - probe.sent_ns)
            for other in self.pending.values():
                if other.ttl > probe.ttl:
                    continue
                factor = HERE if other.ttl == probe.ttl else NEAR
                other.deadline_ns = min(
                    other.deadline_ns, other.sent_ns + max(FLOOR_NS, int(factor * rtt))
                )

    def _expire(self, now: int) -> list[Action]:
        actions: list[Action] = []
        for probe in [p for p in self.pending.values() if p.deadline_ns <= now]:
            probe.expired = True
            del self.pending[probe.token]
            release = self.probes.forget(probe.token)
            if release is not None:
                actions.append(release)
        return actions

    def _apply_max_unknown(self) -> None:
        if self.dest_ttl is not None:
            return
        top = self.top_answered
        cut = top + MAX_UNKNOWN
        if cut >= self.max_ttl:
            return
        window = [p for p in self.history if top < p.ttl <= cut]
        ttls = {p.ttl for p in window}
        if len(ttls) == MAX_UNKNOWN and all(p.expired for p in window):
            self.cut_ttl = cut

    # -- the result -----------------------------------------------------------------------------

    def _hops(self) -> tuple[Hop, ...]:
        limit = self.limit
        sent = [p for p in self.history if p.ttl <= limit]
        if not sent:
            return ()
        if self.dest_ttl is not None or self.cut_ttl is not None:
            last = limit
        else:  # stopped at max_ttl (or interrupted): up to the highest TTL probed, but no
            # more than MAX_UNKNOWN silent hops past the last that answered
            answered = [p.ttl for p in sent if p.answer is not None]
            last = min(
                max(p.ttl for p in sent), max(answered, default=self.first_ttl - 1) + MAX_UNKNOWN
            )
        by_ttl: dict[int, list[_Probe]] = {}
        for p in sent:
            by_ttl.setdefault(p.ttl, []).append(p)
        out = []
        for ttl in range(self.first_ttl, last + 1):
            probes = sorted(by_ttl.get(ttl, []), key=lambda p: (p.sent_ns, p.query))
            if not probes:
                continue
            results = tuple(self._probe_result(p) for p in probes)
            responders: list[str] = []
            for r in results:
                if r.address is not None and r.address not in responders:
                    responders.append(r.address)
            # Probes still awaiting an answer (Ctrl-C) are in flight: not counted, as mtr.
            counted = [r.rtt for r, p in zip(results, probes, strict=True) if p.done]
            out.append(Hop(ttl, tuple(responders), results, hop_stats(counted)))
        return tuple(out)

    def _probe_result(self, p: _Probe) -> ProbeResult:
        a = p.answer
        if a is None:
            return ProbeResult(p.ttl, p.query, None, None, "timeout", version=self.version)
        return ProbeResult(
            p.ttl,
            p.query,
            a.address,
            max(0, a.monotonic_ns - p.sent_ns) / NS,
            a.kind,
            a.icmp_type,
            a.icmp_code,
            a.annotation,
            a.answer,
            a.info,
            self.version,
        )

    def _build(self, now: int) -> TraceResult:
        o = self.options
        probes = self.probes
        hops = self._hops()
        dest = self.dest_ttl if self.dest_ttl is not None and hops else None
        reached = dest is not None and any(
            p.kind == "reply" and p.address == self.address
            for h in hops
            if h.ttl == dest
            for p in h.probes
        )
        verdict = judge(
            hops,
            reached,
            min_added=o.min_added,
            min_loss_pct=o.min_loss_pct,
            protocol=probes.protocol,
            port=probes.port,
        )
        elapsed = max(0, now - self.started_ns) / NS if self.started_ns else 0.0
        return TraceResult(
            o.target,
            self.address,
            self.version,
            probes.protocol,
            probes.port,
            probes.socket_kind,
            probes.flow_constant,
            o.first_ttl,
            o.max_ttl,
            o.queries,
            o.cycles,
            hops,
            reached,
            dest,
            elapsed,
            verdict,
            self.interrupted,
            self.send_error,
            self.send_connect,
        )
