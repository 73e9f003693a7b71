"""The trace engine: probes in flight for many TTLs at once, adaptive waits, mtr-style cycles.

One-shot (traceroute): probes go out in (TTL, query) order with at most `parallel` awaiting an
answer.  A probe waits at most `wait`; once something answers from a later hop, the earlier
hops' probes wait at most NEAR × that RTT, and once another probe of the same hop answered, at
most HERE × its RTT (traceroute's `-w MAX,HERE,NEAR`, 5,3,10), never below a small floor.  A
late answer still counts while the trace runs.  The trace ends as soon as the destination (or
an unreachable error) answered and every lower hop is answered or timed out, or after
`max_unknown` silent hops in a row past the last one that answered (mtr's --max-unknown).

Report (mtr -r -c N): each cycle sends one probe to every TTL up to the destination's hop
(the lowest TTL at which it ever answered), every `interval` seconds; after the last cycle the
engine waits for the answers still due.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Any

from netladder.errors import UsageError
from netladder.net.reactor import Reactor, SelectReactor
from netladder.path.model import Hop, ProbeResult, TraceResult
from netladder.path.probers import Answer, Prober, make_prober
from netladder.path.stats import hop_stats
from netladder.path.verdict import judge

__all__ = ["resolve", "trace", "trace_sync"]

HERE = 3.0
NEAR = 10.0
# Adaptive waits never go below this: a busy machine (or a userspace link) that stalls for some
# ms must not turn a slow answer into a star.  It only matters on paths shorter than ~10 ms.
FLOOR_NS = 100_000_000
# The kernel retransmits an unanswered SYN after its initial RTO (1 s, RFC 6298 §2.1); an answer
# after that could be to the retransmission, with a wrong RTT, so a TCP probe waits at most 1 s.
TCP_WAIT_NS = 1_000_000_000
MAX_UNKNOWN = 5

OnCycle = Callable[[TraceResult], None]
_HOSTNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


def resolve(target: str, version: int | None = None) -> tuple[str, int]:
    """The address to trace and its IP version; UsageError when it is not a usable target."""
    try:
        addr = ipaddress.ip_address(target.strip("[]"))
    except ValueError:
        pass
    else:
        if version is not None and addr.version != version:
            raise UsageError(f"{target} is not an IPv{version} address")
        if addr.is_unspecified or addr.is_multicast:
            raise UsageError(f"cannot trace {target}: not a unicast address")
        return str(addr), addr.version
    # Not an address and not a host name: refuse without asking a resolver (300.1.2.3 would
    # otherwise become a DNS query).
    if (
        not target
        or len(target) > 253
        or not _HOSTNAME_CHARS.issuperset(target)
        or target.replace(".", "").isdigit()
        or target.startswith(("-", "."))
    ):
        raise UsageError(f"invalid target {target!r}")
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(version or 0, socket.AF_UNSPEC)
    try:
        infos = socket.getaddrinfo(target, None, family, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"cannot resolve {target!r}: {exc}") from None
    info = infos[0]
    found = str(info[4][0])
    return found, 4 if info[0] == socket.AF_INET else 6


class _Probe:
    # A plain slotted class, not a dataclass: generating dataclass methods costs start-up time.
    __slots__ = ("answer", "deadline_ns", "expired", "id", "query", "sent_ns", "ttl")

    def __init__(self, probe_id: int, ttl: int, query: int, sent_ns: int, deadline_ns: int) -> None:
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


class _Run:
    def __init__(
        self,
        reactor: Reactor,
        prober: Prober,
        target: str,
        first_ttl: int,
        max_ttl: int,
        queries: int,
        parallel: int,
        wait_ns: int,
        adaptive: bool,
    ) -> None:
        self.reactor = reactor
        self.prober = prober
        self.target = target
        self.first_ttl = first_ttl
        self.max_ttl = max_ttl
        self.queries = queries
        self.parallel = parallel
        self.wait_ns = wait_ns
        self.adaptive = adaptive
        # Probe ids are 16 bits (the ICMP sequence) and wrap in long reports, so the id map
        # holds the latest probe with each id; the history keeps every probe for statistics.
        self.by_id: dict[int, _Probe] = {}
        self.history: list[_Probe] = []
        self.pending: dict[int, _Probe] = {}  # neither answered nor timed out
        self.top_answered = first_ttl - 1
        self.dest_ttl: int | None = None
        self.cut_ttl: int | None = None  # max-unknown silence: nothing beyond is sent
        self.next_id = 1
        self.started_ns = 0

    @property
    def limit(self) -> int:
        limits = [self.max_ttl]
        if self.dest_ttl is not None:
            limits.append(self.dest_ttl)
        if self.cut_ttl is not None:
            limits.append(self.cut_ttl)
        return min(limits)

    def send(self, ttl: int, query: int) -> None:
        probe_id = self.next_id
        self.next_id = (self.next_id % 0xFFFF) + 1
        sent = self.prober.send(probe_id, ttl)
        if not self.started_ns:
            self.started_ns = sent
        probe = _Probe(probe_id, ttl, query, sent, sent + self.wait_ns)
        self.by_id[probe_id] = probe
        self.pending[probe_id] = probe
        self.history.append(probe)

    def on_answer(self, answer: Answer) -> None:
        probe = self.by_id.get(answer.probe_id)
        if probe is None or probe.answer is not None:
            return  # not ours, or a duplicate
        probe.answer = answer  # a late answer (after its probe timed out) counts too
        self.pending.pop(probe.id, None)
        self.top_answered = max(self.top_answered, probe.ttl)
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
        self.reactor.wake()

    def active(self) -> list[_Probe]:
        limit = self.limit
        return [p for p in self.pending.values() if p.ttl <= limit]

    def expire(self, now: int) -> None:
        for probe in [p for p in self.pending.values() if p.deadline_ns <= now]:
            probe.expired = True
            del self.pending[probe.id]
            self.prober.forget(probe.id)

    def apply_max_unknown(self) -> None:
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

    async def sleep(self, timeout_ns: int) -> None:
        await self.reactor.sleep(timeout_ns)

    async def one_shot(self) -> None:
        order = [
            (ttl, q)
            for ttl in range(self.first_ttl, self.max_ttl + 1)
            for q in range(1, self.queries + 1)
        ]
        index = 0
        while True:
            active = len(self.active())
            while index < len(order) and active < self.parallel and order[index][0] <= self.limit:
                self.send(*order[index])
                index += 1
                active += 1
            pending = self.active()
            more = index < len(order) and order[index][0] <= self.limit
            if not pending and not more:
                return
            if pending:
                await self.sleep(min(p.deadline_ns for p in pending) - time.monotonic_ns())
            self.expire(time.monotonic_ns())
            self.apply_max_unknown()

    async def report(self, cycles: int, interval_ns: int, on_cycle: Callable[[int], None]) -> None:
        start = time.monotonic_ns()
        for cycle in range(1, cycles + 1):
            due = start + (cycle - 1) * interval_ns
            while True:
                now = time.monotonic_ns()
                self.expire(now)
                if now >= due:
                    break
                await self.sleep(due - now)
            if cycle > 1:
                on_cycle(cycle - 1)
            limit = self.limit
            if self.dest_ttl is None and self.cut_ttl is None:
                # Not found yet: as far as `parallel` TTLs beyond the last that answered.
                limit = min(limit, self.top_answered + max(self.parallel, MAX_UNKNOWN))
            for ttl in range(self.first_ttl, limit + 1):
                self.send(ttl, cycle)
        while True:
            pending = self.active()
            if not pending:
                break
            await self.sleep(min(p.deadline_ns for p in pending) - time.monotonic_ns())
            self.expire(time.monotonic_ns())
        on_cycle(cycles)

    def hops(self) -> tuple[Hop, ...]:
        sent = [p for p in self.history if p.ttl <= self.limit]
        if not sent:
            return ()
        if self.dest_ttl is not None or self.cut_ttl is not None:
            last = self.limit
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
            results = tuple(_result(p) for p in probes)
            responders: list[str] = []
            for r in results:
                if r.address is not None and r.address not in responders:
                    responders.append(r.address)
            # Probes still awaiting an answer (Ctrl-C) are in flight: not counted, as mtr.
            counted = [r.rtt_ms for r, p in zip(results, probes, strict=True) if p.done]
            out.append(Hop(ttl, tuple(responders), results, hop_stats(counted)))
        return tuple(out)


def _result(p: _Probe) -> ProbeResult:
    a = p.answer
    if a is None:
        return ProbeResult(p.ttl, p.query, None, None, "timeout")
    rtt = max(0, a.monotonic_ns - p.sent_ns) / 1e6
    return ProbeResult(
        p.ttl, p.query, a.address, rtt, a.kind, a.icmp_type, a.icmp_code, a.annotation, a.detail
    )


async def trace(target: str, **options: Any) -> TraceResult:
    """Trace the path to `target` under asyncio: hops with per-hop statistics and a verdict.

    Options (all keywords): protocol ("udp", "icmp", "tcp"), port, queries, first_ttl,
    max_ttl, parallel, wait (s), cycles (report mode, like mtr -r -c), interval (s), version
    (4 or 6), on_cycle (called with a snapshot after each report cycle), min_added_ms,
    min_loss_pct.  Raises UsageError for a bad target or option, EnvError when no socket can
    be opened.
    """
    import asyncio

    from netladder.net.reactor import AsyncioReactor

    loop = asyncio.get_running_loop()
    # A name lookup may block: in a thread, so the caller's event loop keeps running.
    resolved = await loop.run_in_executor(None, resolve, target, options.get("version"))
    return await _trace(AsyncioReactor(loop), target, resolved=resolved, **options)


def trace_sync(target: str, **options: Any) -> TraceResult:
    """The same trace without asyncio (the CLI: start-up time).  On Ctrl-C it returns what it
    gathered, with `interrupted` set."""
    reactor = SelectReactor()
    return reactor.drive(_trace(reactor, target, **options))


async def _trace(
    reactor: Reactor,
    target: str,
    *,
    protocol: str = "udp",
    port: int | None = None,
    queries: int = 3,
    first_ttl: int = 1,
    max_ttl: int = 30,
    parallel: int = 16,
    wait: float = 5.0,
    cycles: int | None = None,
    interval: float = 1.0,
    version: int | None = None,
    on_cycle: OnCycle | None = None,
    min_added_ms: float = 10.0,
    min_loss_pct: float = 5.0,
    resolved: tuple[str, int] | None = None,
) -> TraceResult:
    if not 1 <= first_ttl <= max_ttl <= 255:
        raise UsageError(f"need 1 <= first ({first_ttl}) <= max ({max_ttl}) <= 255")
    address, version = resolved or resolve(target, version)
    prober = make_prober(protocol, address, version, port)
    run = _Run(
        reactor,
        prober,
        address,
        first_ttl,
        max_ttl,
        1 if cycles else queries,
        parallel,
        min(int(wait * 1e9), TCP_WAIT_NS) if protocol == "tcp" else int(wait * 1e9),
        adaptive=cycles is None,
    )
    prober.start(reactor, run.on_answer)
    interrupted = False

    def build() -> TraceResult:
        hops = run.hops()
        dest = run.dest_ttl if run.dest_ttl is not None and hops else None
        reached = dest is not None and any(
            p.kind == "reply" and p.address == address
            for h in hops
            if h.ttl == dest
            for p in h.probes
        )
        verdict = judge(
            hops,
            reached,
            min_added_ms=min_added_ms,
            min_loss_pct=min_loss_pct,
            protocol=protocol,
            port=prober.port,
        )
        elapsed = (time.monotonic_ns() - run.started_ns) / 1e6 if run.started_ns else 0.0
        return TraceResult(
            target,
            address,
            version,
            protocol,
            prober.port,
            prober.socket_kind,
            prober.flow_constant,
            first_ttl,
            max_ttl,
            queries,
            cycles,
            hops,
            reached,
            dest,
            elapsed,
            verdict,
            interrupted,
        )

    try:
        if cycles:

            def cycle_done(n: int) -> None:
                if on_cycle is not None:
                    on_cycle(build())

            await run.report(cycles, int(interval * 1e9), cycle_done)
        else:
            await run.one_shot()
    except KeyboardInterrupt:  # thrown in by SelectReactor.drive: return what we have
        interrupted = True
    finally:
        prober.close()
    return build()
