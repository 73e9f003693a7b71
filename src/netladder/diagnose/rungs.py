"""One rung per layer: each layer's own check, run in-process, and its result as a `Rung`.

Each rung keeps the evidence it was decided on (diagnose/model.py) and says what it found as a
`Finding`; the sentences are `netladder.render.diagnose`'s.  `route_rung(address)` passes when
the kernel has a usable route; `l2_rung(address)` passes when the next hop's table MAC is the
MAC that answers it live (without CAP_NET_RAW the live half is impossible, so the L2 rung
reports what the table says and warns instead of failing).  The engines are imported when
their rung runs: a diagnosis of an address never loads the resolver.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from netladder.diagnose.model import (
    Address,
    BlackHole,
    EchoError,
    Echoes,
    EchoEvidence,
    EchoRtt,
    Finding,
    Http,
    NextHop,
    NotChecked,
    PmtuResult,
    PortFailure,
    PortGroup,
    Ports,
    PortSeen,
    PortsFailed,
    Problem,
    Resolved,
    Rung,
    Status,
    TableOnly,
    Trace,
    TraceHop,
    Unresolved,
    header_size,
    ping_flag,
)
from netladder.diagnose.target import Target
from netladder.model import replace

if TYPE_CHECKING:
    from netladder.l3.model import PingResult
    from netladder.l4.model import ScanResult

__all__ = [
    "l2_rung",
    "l3_check",
    "l3_rung",
    "l4_check",
    "l4_rung",
    "l7_rung",
    "names_rung",
    "path_rung",
    "pmtu_check",
    "pmtu_rung",
    "route_rung",
    "timed",
]

# Above this average RTT the path is traced even when nothing is lost (a slow hop).
HIGH_RTT_MS = 50.0
PING_INTERVAL_S = 0.05
# The MTU of lo: a path this large goes to one of this host's own addresses.
LOOPBACK_MTU = 65536


def _since(start: float) -> float:
    return time.monotonic() - start


async def timed(layer: str, check: Callable[[], Awaitable[Rung]]) -> Rung:
    """Run one rung; an error inside a layer's check becomes that rung's failure, not a crash."""
    from netladder.errors import NetladderError

    started = time.monotonic()
    try:
        return await check()
    except NetladderError as exc:
        if exc.exit_code == 3:  # a missing privilege or kernel feature: not checked
            return Rung(layer, Status.WARN, "not-checked", NotChecked(str(exc)), _since(started))
        return Rung(layer, Status.FAIL, "error", Problem(str(exc)), _since(started))


# -- names ---------------------------------------------------------------------------------------


async def names_rung(target: Target) -> tuple[Rung, str | None]:
    if target.is_address:
        return Rung("names", Status.SKIP, "address", Address(target.host)), target.host
    from netladder.names.lookup import resolve, system_lookup
    from netladder.names.model import ResolveOptions

    started = time.monotonic()
    system = await system_lookup(target.host, wait=5.0)
    if system.ok and system.addresses:
        # Prefer IPv4 when both exist, as most of the lab and most users' paths are v4.
        address = next((a for a in system.addresses if ":" not in a), system.addresses[0])
        evidence = Resolved(target.host, system)
        return Rung("names", Status.PASS, "resolved", evidence, _since(started)), address
    dns = await resolve(ResolveOptions(target.host, "A", wait=1.0, tries=2))
    finding: Finding = "system-only" if dns.ok and dns.addresses else "unresolvable"
    return Rung(
        "names",
        Status.FAIL,
        finding,
        Unresolved(target.host, system, dns),
        _since(started),
        f"netladder dns {target.host} --compare",
    ), None


# -- route and L2 ----------------------------------------------------------------------------------


async def route_rung(address: str) -> Rung:
    from netladder.l2.route import lookup_route

    started = time.monotonic()
    d = lookup_route(address)  # netlink answers inside the call
    elapsed = _since(started)
    if not d.reachable:
        return Rung("route", Status.FAIL, "no-route", d, elapsed, f"netladder route {address}")
    finding: Finding = "local" if d.type == "local" else "gateway" if d.gateway else "on-link"
    return Rung("route", Status.PASS, finding, d, elapsed)


async def l2_rung(address: str) -> Rung:
    from netladder.errors import EnvError
    from netladder.l2.model import Verdict
    from netladder.l2.neigh import check_next_hop, neighbour_table
    from netladder.l2.route import lookup_route

    started = time.monotonic()
    try:
        c = await check_next_hop(address)
    except EnvError as exc:
        decision = lookup_route(address)
        hop = decision.next_hop
        table = neighbour_table(decision.iface) if decision.iface else None
        entry = next((e for e in table.entries if e.address == hop), None) if table else None
        return Rung(
            "l2",
            Status.WARN,
            "table-only",
            TableOnly(hop, entry, exc.problem),
            _since(started),
            f"sudo netladder neigh --check {address}",
        )
    elapsed = _since(started)
    status = (
        Status.PASS
        if c.verdict == Verdict.OK
        else Status.SKIP
        if c.verdict == Verdict.NOT_APPLICABLE
        else Status.FAIL
    )
    return Rung(
        "l2",
        status,
        "next-hop",
        NextHop(c),
        elapsed,
        c.fix or (None if c.ok else f"netladder neigh --check {address}"),
    )


# -- L3 ------------------------------------------------------------------------------------------


async def l3_check(address: str, count: int) -> PingResult:
    """`count` echoes 50 ms apart (ping's PingSession on the caller's loop), waiting 1 s for
    the last one's answer."""
    from netladder.l3.model import PingOptions
    from netladder.l3.ping import sessions
    from netladder.net.driver import lookup, run

    options = PingOptions((address,), count, interval=PING_INTERVAL_S, wait=1.0)
    [session] = sessions([await lookup(address)], options)
    await run([session])
    return session.result()


def _echoes(result: PingResult) -> Echoes:
    rtt = result.rtt
    return Echoes(
        transmitted=result.transmitted,
        received=result.received,
        loss_pct=round(result.loss_percent, 1),
        errors=tuple(EchoError(e.seq, e.source, e.text) for e in result.error_events),
        rtt=None
        if rtt is None
        else EchoRtt(rtt.min_ms / 1000, rtt.avg_ms / 1000, rtt.max_ms / 1000, rtt.mdev_ms / 1000),
        socket=result.socket_kind,
    )


def l3_rung(address: str, result: PingResult | None, elapsed: float, error: str | None) -> Rung:
    if result is None:
        assert error is not None
        return Rung("l3", Status.WARN, "echo-impossible", NotChecked(error), elapsed)
    echoes = _echoes(result)
    if result.received == 0:
        finding: Finding = "echo-error" if echoes.errors else "silent"
        return Rung("l3", Status.FAIL, finding, echoes, elapsed, f"netladder trace {address}")
    rtt = result.rtt
    assert rtt is not None
    if result.received < result.transmitted:
        nxt = f"netladder trace {address} --cycles 50"
        return Rung("l3", Status.WARN, "loss", echoes, elapsed, nxt)
    if rtt.avg_ms > HIGH_RTT_MS:
        return Rung("l3", Status.WARN, "high-rtt", echoes, elapsed, f"netladder trace {address}")
    return Rung("l3", Status.PASS, "replies", echoes, elapsed)


def echo_evidence(l3: Rung, answering: tuple[int, ...]) -> EchoEvidence:
    """What L3 says about the host, for L4's sentences."""
    echoes = l3.evidence if isinstance(l3.evidence, Echoes) else None
    return EchoEvidence(
        tried=echoes is not None,
        answered=echoes.received if echoes is not None else 0,
        sent=echoes.transmitted if echoes is not None else 0,
        error=echoes.errors[0] if echoes is not None and echoes.errors else None,
        answering=answering,
    )


# -- the path MTU ----------------------------------------------------------------------------------


async def pmtu_check(address: str) -> PmtuResult | None:
    """Full-size DF echoes (diagnose/pmtu.py); None towards this host's own addresses."""
    from netladder.diagnose.pmtu import PmtuProbe
    from netladder.net.driver import run
    from netladder.net.sockets import path_mtu

    mtu = path_mtu(address)
    if mtu >= LOOPBACK_MTU:
        return None  # a local address: routed over lo, no path to measure
    probe = PmtuProbe(address, 6 if ":" in address else 4, mtu)
    await run([probe])
    return probe.result()


def pmtu_rung(address: str, result: PmtuResult) -> Rung:
    """The black hole as the path rung's failure."""
    assert result.smallest_lost is not None
    lost = result.smallest_lost - header_size(result.version)
    return Rung(
        "path",
        Status.FAIL,
        "black-hole",
        BlackHole(result),
        result.elapsed,
        f"{ping_flag(result.version)} -s {lost} -c 3 {address}",
    )


# -- L4 ------------------------------------------------------------------------------------------


async def l4_check(address: str, ports: tuple[int, ...]) -> ScanResult:
    from netladder.l4.model import ScanOptions
    from netladder.l4.scan import scan

    return await scan(ScanOptions(address, ports, banner=True))


def l4_rung(address: str, scan: ScanResult, echo: EchoEvidence) -> Rung:
    from netladder.l4.model import PortState

    worst: PortFailure | None = None  # the first port that is not open
    results = {p.port: p for p in scan.ports}
    seen = []
    for port in sorted(results):
        p = results[port]
        banner = p.banner.text if p.banner else None
        seen.append(PortSeen(port, p.proto, p.state.value, p.reason, p.reporter, banner))
        if p.state is not PortState.OPEN and worst is None:
            reporter = next((q.reporter for q in scan.ports if q.port == port and q.reporter), None)
            worst = PortFailure(address, port, p.state.value, p.reason, reporter, echo)
    for group in scan.not_shown:
        if worst is None and group.state is not PortState.OPEN:
            first = int(group.ports.split(",")[0].split("-")[0])
            worst = PortFailure(address, first, group.state.value, group.reason, None, echo)
    ports = Ports(
        scan.method,
        tuple(seen),
        scan.srtt,
        scan.elapsed,
        tuple(PortGroup(g.state.value, g.reason, g.count) for g in scan.not_shown),
    )
    if worst is None:
        return Rung("l4", Status.PASS, "ports", ports, ports.elapsed)
    forged = results.get(worst.port)
    if forged is not None and forged.reset_hops_before:
        worst = replace(worst, forged=forged, host_ttl=scan.host_ttl)
    if worst.state == "closed" and worst.forged is None:
        nxt = f"netladder port {address} {worst.port} --banner"
    else:
        nxt = f"netladder trace {address} --proto tcp -p {worst.port}"
    return Rung("l4", Status.FAIL, "ports", PortsFailed(ports, worst), ports.elapsed, nxt)


# -- path ----------------------------------------------------------------------------------------


async def path_rung(address: str, lossy: bool, echo_answered: bool, port: int | None) -> Rung:
    from netladder.path.model import TraceOptions
    from netladder.path.trace import send_failure, trace

    started = time.monotonic()
    protocol, probe_port = "icmp", None
    if not echo_answered and port is not None:
        # Echo gets no answer: trace with what the host does answer, or is meant to.
        protocol, probe_port = "tcp", port
    # Lossy: mtr's report, 20 cycles, for loss figures; else traceroute's three probes a hop.
    cycles, interval = (20, 0.05) if lossy else (None, 1.0)
    options = TraceOptions(
        address, protocol, probe_port, max_ttl=16, wait=1.0, cycles=cycles, interval=interval
    )
    result = await trace(options)
    failure = send_failure(result)
    if failure is not None:
        raise failure  # as the trace says it: `timed` makes it the rung's failure
    verdict = result.verdict
    hops = tuple(TraceHop(h.ttl, h.address, h.stats.loss_pct, h.stats.avg) for h in result.hops)
    evidence = Trace(result.protocol, result.reached, hops, verdict, result.elapsed)
    if verdict.kind in ("latency", "loss", "unreachable", "no-answer"):
        nxt = f"netladder trace {address} --cycles 50"
        return Rung("path", Status.FAIL, "trace", evidence, _since(started), nxt)
    return Rung("path", Status.PASS, "trace", evidence, _since(started))


# -- L7 ------------------------------------------------------------------------------------------


async def l7_rung(target: Target, address: str, timeout_s: float) -> Rung:
    from urllib.parse import urlsplit

    from netladder.l7.client import HttpOptions, http_check

    assert target.url is not None
    parts = urlsplit(target.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or target.host
    options = HttpOptions(target.url, resolve=(((host, port), address),), timeout=timeout_s)
    started = time.monotonic()
    check = await http_check(options)
    hop = check.final
    evidence = Http(
        hop.status,
        hop.reason,
        hop.http_version,
        hop.timings,
        hop.lint,
        hop.headers,
        check.error,
    )
    nxt = f"netladder http {target.url} --lint"
    if check.error is not None:
        return Rung("l7", Status.FAIL, "request-failed", evidence, _since(started), nxt)
    if not check.status_expected:
        return Rung("l7", Status.FAIL, "response", evidence, _since(started), nxt)
    # The lint rules already say everything worth saying (429/503 without Retry-After is its
    # retry-after-missing hint, RFC 9110 §10.2.3).
    if hop.lint:
        return Rung("l7", Status.WARN, "response", evidence, _since(started), nxt)
    return Rung("l7", Status.PASS, "response", evidence, _since(started))
