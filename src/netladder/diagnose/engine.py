"""Walk the ladder for one target: each rung is a layer's own check (diagnose/rungs.py).

Names first (nothing else can start without an address); then route + L2, L3 and L4
concurrently (they are independent and each only reads the network).  When every small echo
came back, a few full-size echoes with DF follow (diagnose/pmtu.py): a path-MTU black hole
passes every small probe.  Then the path, when L3 saw loss, high RTT or no answer (or with
--deep); then L7 for HTTP(S) targets.  The verdict is the first failing rung, read with the
evidence of the others: ICMP that fails while a port answers is "ICMP blocked", not "host
down"; a filtered port on a host that answers echo is dropped on the way, not a dead host.
Every rule here reads the rungs' typed evidence; every sentence is made from it by
`netladder.render.diagnose`, and says only what that evidence shows: a rung that could not run
is never described as having passed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from netladder.diagnose.model import (
    LAYERS,
    Diagnosis,
    Echoes,
    Finding,
    NextHop,
    Nothing,
    NotNeeded,
    PmtuCheck,
    Problem,
    Rung,
    Status,
    TcpAnswers,
    Unopened,
    Unsent,
    Verdict,
)
from netladder.diagnose.target import Target
from netladder.model import record, replace

if TYPE_CHECKING:
    from netladder.diagnose.model import PmtuResult
    from netladder.l3.model import PingResult
    from netladder.l4.model import ScanResult

__all__ = ["DiagnoseOptions", "Options", "Progress", "diagnose", "options_for"]

PING_COUNT = 10


class Progress:
    """What a diagnosis has gathered so far: on Ctrl-C the command prints it."""

    __slots__ = ("address", "rungs", "started", "target")

    def __init__(self) -> None:
        self.rungs: dict[str, Rung] = {}
        self.address: str | None = None
        self.started = time.monotonic()
        self.target: Target | None = None  # set when the ladder starts

    def partial(self, target: Target | None = None) -> Diagnosis:
        target = target or self.target
        assert target is not None, "interrupted before the ladder started"
        return _finish(target, self.address, dict(self.rungs), self.started, interrupted=True)


@record
class Options:
    """The ladder's own knobs (what `DiagnoseOptions` says beside the target)."""

    deep: bool = False
    ping_count: int = PING_COUNT
    timeout_s: float = 10.0  # for the L7 request


@record
class DiagnoseOptions:
    """`api.diagnose`: what to diagnose and how.  `target` is what the command takes — a host,
    `host:port`, `[v6]:port` or an http(s) URL; `ports` adds TCP ports to check (`--port`)."""

    target: str
    ports: tuple[int, ...] = ()
    deep: bool = False  # trace the path even when L3 looks healthy (`--deep`)
    ping_count: int = PING_COUNT  # L3's echoes
    timeout: float = 10.0  # seconds the L7 request may take


def options_for(options: DiagnoseOptions) -> tuple[Target, Options]:
    """The parsed target and the ladder's knobs; UsageError for what cannot be diagnosed."""
    from netladder.diagnose.target import parse_target
    from netladder.errors import UsageError

    if options.ping_count < 1:
        raise UsageError("ping_count must be at least 1: {count}", count=options.ping_count)
    if not options.timeout > 0:
        raise UsageError("the timeout must be positive, not {timeout:g} s", timeout=options.timeout)
    target = parse_target(options.target, options.ports)
    return target, Options(options.deep, options.ping_count, options.timeout)


def _since(start: float) -> float:
    return time.monotonic() - start


async def diagnose(
    target: Target, options: Options | None = None, progress: Progress | None = None
) -> Diagnosis:
    """Walk the ladder for `target` on the reactor that drives the caller (the CLI's selector
    or an asyncio loop); every engine it awaits runs on the one driver.  Ctrl-C ends it
    (KeyboardInterrupt) with what it gathered in `progress`."""
    from netladder.diagnose.rungs import (
        echo_evidence,
        l2_rung,
        l3_rung,
        l4_rung,
        l7_rung,
        names_rung,
        path_rung,
        pmtu_check,
        pmtu_rung,
        route_rung,
        timed,
    )
    from netladder.net.reactor import gather

    opts = options or Options()
    state = progress if progress is not None else Progress()
    started = state.started
    rungs = state.rungs
    state.target = target

    names, address = await names_rung(target)
    _stop_if_interrupted()
    rungs["names"] = names
    state.address = address
    if address is None:
        return _finish(target, None, rungs, started)

    # The route is the kernel's answer inside one netlink call; L2, L3 (then the full-size
    # echoes) and L4 only read the network and run at once.
    route = await timed("route", lambda: route_rung(address))
    rungs["route"] = route
    routed = route.status is not Status.FAIL

    async def near() -> tuple[Rung, PingResult | None, PmtuResult | None]:
        l2, (ping, took, ping_error) = await gather(
            timed("l2", lambda: l2_rung(address)), _echoes(address, opts.ping_count)
        )
        rungs["l2"] = l2
        l3 = rungs["l3"] = unsent(l3_rung(address, ping, took, ping_error), route, l2)
        # The full-size check only means something when every small echo came back, and it
        # must not run beside the ping's raw socket (pmtu.py).
        pmtu = None
        if routed and ping is not None and 0 < ping.received == ping.transmitted:
            pmtu, _ = await _capture(pmtu_check(address))
            rungs["l3"] = _with_echoes(l3, pmtu=PmtuCheck(pmtu))
        return l2, ping, pmtu

    # The scan starts first, as it always has: its first SYN makes the kernel resolve the next
    # hop, so the L2 rung, which reads the neighbour table next, finds the entry under way.
    (scan, scan_error), (l2, ping, pmtu) = await gather(_ports(address, target.ports), near())
    _stop_if_interrupted()
    l3 = rungs["l3"]

    open_ports: list[int] = []
    answering: list[int] = []  # ports whose answer shows the host is up
    if scan is not None:
        from netladder.l4.model import PortState

        open_ports = [p.port for p in scan.ports if p.state is PortState.OPEN]
        # A reset from before the host (its TTL says so) is no sign that the host is up.
        closed = [
            p.port for p in scan.ports if p.state is PortState.CLOSED and not p.reset_hops_before
        ]
        answering = open_ports + closed
        if l3.status is Status.FAIL and answering:
            # The host answers TCP: ICMP echo is blocked on the way or at the host.
            blocked = TcpAnswers(open_ports[0] if open_ports else None)
            l3 = replace(_with_echoes(l3, blocked=blocked), status=Status.WARN, next_command=None)
            rungs["l3"] = l3

    path_job, path_skip = plan_path(opts, route, l2, l3, ping, pmtu)
    if path_job == "trace":
        first_port = target.ports[0] if target.ports else None
        lossy = l3.status is Status.WARN and l3.finding == "loss"
        echo_answered = ping is not None and ping.received > 0
        path = await timed("path", lambda: path_rung(address, lossy, echo_answered, first_port))
        _stop_if_interrupted()
        rungs["path"] = path
    elif path_job == "pmtu":
        assert pmtu is not None
        rungs["path"] = pmtu_rung(address, pmtu)
    else:
        evidence = NotNeeded(pmtu) if path_skip == "not-needed" else Nothing()
        rungs["path"] = Rung("path", Status.SKIP, path_skip, evidence)

    if scan is not None:
        rungs["l4"] = l4_rung(address, scan, echo_evidence(l3, tuple(answering)))
    elif scan_error is not None:
        rungs["l4"] = Rung("l4", Status.FAIL, "scan-failed", Problem(scan_error))

    if not target.url:
        rungs["l7"] = Rung("l7", Status.SKIP, "not-http")
    elif not routed:
        rungs["l7"] = Rung("l7", Status.SKIP, "unrouted")
    elif target.ports and not open_ports:
        rungs["l7"] = Rung("l7", Status.SKIP, "ports-shut", Unopened(target.ports))
    else:
        l7 = await timed("l7", lambda: l7_rung(target, address, opts.timeout_s))
        _stop_if_interrupted()
        rungs["l7"] = l7
    return _finish(target, address, rungs, started)


async def _echoes(address: str, count: int) -> tuple[PingResult | None, float, str | None]:
    """L3's echoes: the result (None when no echo could be sent: why), and how long it took."""
    from netladder.diagnose.rungs import l3_check

    started = time.monotonic()
    ping, error = await _capture(l3_check(address, count))
    return ping, _since(started), error


async def _ports(address: str, ports: tuple[int, ...]) -> tuple[ScanResult | None, str | None]:
    from netladder.diagnose.rungs import l4_check

    if not ports:
        return None, None
    return await _capture(l4_check(address, ports))


def _stop_if_interrupted() -> None:
    """Ctrl-C under the CLI's selector ends the stage that runs with what it has (the driver
    catches it): the ladder stops there, as it does when asyncio cancels it."""
    from netladder.net.reactor import interrupted

    if interrupted():
        raise KeyboardInterrupt


def unsent(l3: Rung, route: Rung, l2: Rung) -> Rung:
    """Silent echoes whose next hop does not answer ARP/NDP never left this host: the kernel
    holds them until its resolution gives up, 3 s after the first (Linux: mcast_solicit 3 x
    retrans_time 1 s), and only then answers "Destination Host Unreachable" from this host —
    what ping shows that late, after L3's probes are done.  Named here rather than waited for."""
    from netladder.l2.model import Verdict as L2Verdict

    echoes = l3.evidence
    if l3.status is not Status.FAIL or not isinstance(echoes, Echoes) or echoes.errors:
        return l3
    check = l2.evidence.check if isinstance(l2.evidence, NextHop) else None
    if check is None or check.verdict != L2Verdict.NO_ANSWER or not check.neighbour:
        return l3
    from netladder.l2.route import RouteDecision

    decision = route.evidence if isinstance(route.evidence, RouteDecision) else None
    own = decision.prefsrc if decision is not None else None  # None: the route check raised
    return _with_echoes(l3, unsent=Unsent(check.neighbour, check.via_gateway, own))


def plan_path(
    opts: Options,
    route: Rung,
    l2: Rung,
    l3: Rung,
    ping: PingResult | None,
    pmtu: PmtuResult | None,
) -> tuple[str | None, Finding]:
    """("trace" | "pmtu" | None, why the path rung is skipped when it is)."""
    if route.status is Status.FAIL:
        return None, "unrouted"
    if l2.status is Status.FAIL:
        return None, "l2-failed"
    if pmtu is not None and pmtu.outcome == "black-hole":
        return "pmtu", "black-hole"
    if opts.deep:
        return "trace", "trace"
    if ping is None:
        return None, "echo-impossible-path"
    if isinstance(l3.evidence, Echoes) and l3.evidence.blocked is not None:
        return None, "echo-blocked"
    if l3.status is not Status.PASS:
        return "trace", "trace"
    return None, "not-needed"


def _with_echoes(rung: Rung, **changes: Any) -> Rung:
    assert isinstance(rung.evidence, Echoes)
    return replace(rung, evidence=replace(rung.evidence, **changes))


async def _capture(aw: Awaitable[Any]) -> tuple[Any, str | None]:
    from netladder.errors import NetladderError

    try:
        return await aw, None
    except NetladderError as exc:
        return None, str(exc)


def _finish(
    target: Target,
    address: str | None,
    rungs: dict[str, Rung],
    started: float,
    interrupted: bool = False,
) -> Diagnosis:
    ordered = []
    for layer in LAYERS:
        rung = rungs.get(layer)
        if rung is None:
            reason: Finding
            if interrupted:
                reason = "interrupted"
            elif address is None:
                reason = "unresolved-name"
            elif layer == "l4":
                reason = "no-port"
            else:
                reason = "lower-failed"
            rung = Rung(layer, Status.SKIP, reason)
        ordered.append(rung)
    verdict = judge(tuple(ordered))
    if interrupted and verdict.layer is None:
        verdict = Verdict("interrupted", None, verdict.rungs)
    return Diagnosis(target.text, address, tuple(ordered), verdict, _since(started))


def judge(rungs: tuple[Rung, ...]) -> Verdict:
    """The first failing layer and its next command; the text is read from every rung."""
    failed = next((r for r in rungs if r.status is Status.FAIL), None)
    if failed is None:
        return Verdict(None, None, rungs)
    return Verdict(failed.layer, failed.next_command, rungs)
