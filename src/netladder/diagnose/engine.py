"""Walk the ladder for one target: each rung is a layer's own check, run in-process.

Names first (nothing else can start without an address); then route + L2, L3 and L4
concurrently (they are independent and each only reads the network); then the path, when L3
saw loss, high RTT or no answer (or with --deep); then L7 for HTTP(S) targets.  The verdict is
the first failing rung, read with the evidence of the others: ICMP that fails while a port
answers is "ICMP blocked", not "host down"; a filtered port on a host that answers echo is a
firewall, not a dead host.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netladder.diagnose.model import LAYERS, Diagnosis, Rung, Status, Verdict
from netladder.diagnose.target import Target
from netladder.output import to_jsonable

if TYPE_CHECKING:
    from netladder.l3.ping import PingResult
    from netladder.l4.model import ScanResult

__all__ = ["Options", "diagnose"]

# Above this average RTT the path is traced even when nothing is lost (a slow hop).
HIGH_RTT_MS = 50.0
PING_COUNT = 10
PING_INTERVAL_S = 0.05


@dataclass
class Progress:
    """What a diagnosis has gathered so far: on Ctrl-C the command prints it."""

    rungs: dict[str, Rung] = field(default_factory=dict)
    address: str | None = None
    started: float = field(default_factory=time.monotonic)

    def partial(self, target: Target) -> Diagnosis:
        return _finish(target, self.address, dict(self.rungs), self.started, interrupted=True)


@dataclass(frozen=True, slots=True)
class Options:
    deep: bool = False
    ping_count: int = PING_COUNT
    timeout_s: float = 10.0  # for the L7 request


def _ms(start: float) -> float:
    return (time.monotonic() - start) * 1000


async def _timed(layer: str, check: Callable[[], Awaitable[Rung]]) -> Rung:
    """Run one rung; an error inside a layer's check becomes that rung's failure, not a crash."""
    from netladder.errors import NetladderError

    started = time.monotonic()
    try:
        return await check()
    except NetladderError as exc:
        status = Status.WARN if exc.exit_code == 3 else Status.FAIL
        return Rung(layer, status, str(exc), _ms(started))


# -- names ---------------------------------------------------------------------------------------


async def names_rung(target: Target) -> tuple[Rung, str | None]:
    if target.is_address:
        return Rung(
            "names", Status.SKIP, f"{target.host} is an address; nothing to resolve"
        ), target.host
    from netladder.names.resolve import resolve, system_lookup

    started = time.monotonic()
    system = await system_lookup(target.host, wait=5.0)
    if system.ok and system.addresses:
        # Prefer IPv4 when both exist, as most of the lab and most users' paths are v4.
        address = next((a for a in system.addresses if ":" not in a), system.addresses[0])
        summary = (
            f"{target.host} is {', '.join(system.addresses)} "
            f"(system resolver, {system.time_ms:.1f} ms)"
        )
        return Rung(
            "names", Status.PASS, summary, _ms(started), None, {"system": to_jsonable(system)}
        ), address
    dns = await resolve(target.host, "A", wait=1.0, tries=2)
    summary = f"{target.host} does not resolve: {dns.message} (system resolver: {system.error})"
    return Rung(
        "names",
        Status.FAIL,
        summary,
        _ms(started),
        f"netladder dns {target.host} --compare",
        {"system": to_jsonable(system), "dns": to_jsonable(dns)},
    ), None


# -- L3 ------------------------------------------------------------------------------------------


async def l3_check(address: str, count: int) -> PingResult:
    from netladder.l3.ping import ping

    return await ping(address, count, interval=PING_INTERVAL_S, wait=1.0)


def l3_rung(
    address: str, result: PingResult | None, elapsed_ms: float, error: str | None = None
) -> Rung:
    if result is None:
        return Rung("l3", Status.WARN, f"ICMP echo not possible: {error}", elapsed_ms)
    rtt = result.rtt
    evidence: dict[str, Any] = {
        "transmitted": result.transmitted,
        "received": result.received,
        "loss_pct": round(result.loss_percent, 1),
        "errors": [{"seq": e.seq, "from": e.source, "text": e.text} for e in result.error_events],
        "rtt_ms": None
        if rtt is None
        else {"min": rtt.min_ms, "avg": rtt.avg_ms, "max": rtt.max_ms, "mdev": rtt.mdev_ms},
        "socket": result.socket_kind,
    }
    if result.received == 0:
        if result.error_events:
            first = result.error_events[0]
            summary = f"no echo reply: {first.text} from {first.source}"
        else:
            summary = f"no echo reply to {result.transmitted} probes"
        return Rung("l3", Status.FAIL, summary, elapsed_ms, f"netladder trace {address}", evidence)
    assert rtt is not None
    summary = (
        f"{result.received}/{result.transmitted} echo replies, "
        f"rtt avg {rtt.avg_ms:.2f} ms (min {rtt.min_ms:.2f}, max {rtt.max_ms:.2f})"
    )
    if result.received < result.transmitted:
        return Rung(
            "l3",
            Status.WARN,
            f"{result.loss_percent:.0f}% loss: " + summary,
            elapsed_ms,
            f"netladder trace {address} --cycles 50",
            evidence,
        )
    if rtt.avg_ms > HIGH_RTT_MS:
        return Rung(
            "l3",
            Status.WARN,
            "high RTT: " + summary,
            elapsed_ms,
            f"netladder trace {address}",
            evidence,
        )
    return Rung("l3", Status.PASS, summary, elapsed_ms, None, evidence)


# -- L4 ------------------------------------------------------------------------------------------


async def l4_check(address: str, ports: tuple[int, ...]) -> ScanResult:
    from netladder.l4.api import check_ports

    return await check_ports(address, list(ports), banner=True)


def l4_rung(address: str, scan: ScanResult, l3_ok: bool) -> Rung:
    from netladder.l4.model import PortState

    described = []
    worst: tuple[int, str, str] | None = None  # (port, state, reason) of the first failure
    results = {p.port: p for p in scan.ports}
    ports_doc = []
    for port in sorted(results):
        p = results[port]
        text = f"{port}/{p.proto} {p.state.value} ({p.reason})"
        if p.banner is not None:
            text += f": {p.banner.text.splitlines()[0] if p.banner.text else ''}"
        described.append(text)
        ports_doc.append(
            {
                "port": port,
                "proto": p.proto,
                "state": p.state.value,
                "reason": p.reason,
                "reporter": p.reporter,
                "banner": p.banner.text if p.banner else None,
            }
        )
        if p.state is not PortState.OPEN and worst is None:
            worst = (port, p.state.value, p.reason)
    for group in scan.not_shown:
        described.append(f"{group.count} {group.state.value} ({group.reason})")
        if worst is None and group.state is not PortState.OPEN:
            worst = (int(group.ports.split(",")[0].split("-")[0]), group.state.value, group.reason)
    evidence = {
        "method": scan.method,
        "ports": ports_doc,
        "srtt_ms": scan.srtt_ms,
        "elapsed_ms": scan.elapsed_ms,
    }
    summary = "; ".join(described)
    if worst is None:
        return Rung("l4", Status.PASS, summary, scan.elapsed_ms, None, evidence)
    port, state, reason = worst
    where = f"{_hostport(address, port)}"
    if state == "closed":
        why = (
            f"{where} is closed ({reason}: the host is up and answers, but nothing "
            f"listens on {port})"
        )
        nxt = f"netladder port {address} {port} --banner"
    elif reason == "no-response":
        because = (
            "ICMP echo works, so a firewall drops the port"
            if l3_ok
            else "and ICMP echo gets no answer either"
        )
        why = f"{where} is filtered (no response to SYN; {because})"
        nxt = f"netladder trace {address} --proto tcp -p {port}"
    else:
        reporter = next((p.reporter for p in scan.ports if p.port == port and p.reporter), None)
        by = f" from {reporter}" if reporter else ""
        why = f"{where} is {state} ({reason}{by}: a firewall rejects the connection)"
        nxt = f"netladder trace {address} --proto tcp -p {port}"
    evidence["cause"] = why
    return Rung("l4", Status.FAIL, summary, scan.elapsed_ms, nxt, evidence)


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# -- path ----------------------------------------------------------------------------------------


async def path_rung(address: str, l3: Rung, port: int | None) -> Rung:
    from netladder.path.engine import trace

    started = time.monotonic()
    lossy = l3.status is Status.WARN and "loss" in l3.summary
    options: dict[str, Any] = {"protocol": "icmp", "wait": 1.0, "max_ttl": 16}
    if l3.status is Status.FAIL and port is not None:
        options.update(protocol="tcp", port=port)
    if lossy:
        options.update(cycles=20, interval=0.05)
    else:
        options.update(queries=3)
    result = await trace(address, **options)
    verdict = result.verdict
    hops = [
        {"ttl": h.ttl, "address": h.address, "loss_pct": h.stats.loss_pct, "avg_ms": h.stats.avg_ms}
        for h in result.hops
    ]
    evidence = {
        "protocol": result.protocol,
        "reached": result.reached,
        "hops": hops,
        "verdict": to_jsonable(verdict),
        "elapsed_ms": result.elapsed_ms,
    }
    nxt = f"netladder trace {address} --cycles 50"
    if verdict.kind in ("latency", "loss", "unreachable", "no-answer"):
        return Rung("path", Status.FAIL, verdict.text, _ms(started), nxt, evidence)
    return Rung("path", Status.PASS, verdict.text, _ms(started), None, evidence)


# -- L7 ------------------------------------------------------------------------------------------


async def l7_rung(target: Target, address: str, timeout_s: float) -> Rung:
    from urllib.parse import urlsplit

    from netladder.l7.client import HttpOptions, http_check

    assert target.url is not None
    parts = urlsplit(target.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or target.host
    options = HttpOptions(resolve={(host, port): address}, timeout=timeout_s)
    started = time.monotonic()
    check = await http_check(target.url, options)
    hop = check.final
    findings = [
        {"rule": f.rule, "level": f.level, "section": f.section, "message": f.message}
        for f in hop.lint
    ]
    t = hop.timings
    evidence = {
        "status": hop.status,
        "reason": hop.reason,
        "http_version": hop.http_version,
        "timings": to_jsonable(t),
        "lint": findings,
        "headers": [list(h) for h in hop.headers],
        "error": to_jsonable(check.error),
    }
    nxt = f"netladder http {target.url} --lint"
    if check.error is not None:
        return Rung(
            "l7",
            Status.FAIL,
            f"HTTP request failed in the {check.error.phase} phase: {check.error.message}",
            _ms(started),
            nxt,
            evidence,
        )
    line = f"{hop.http_version} {hop.status} {hop.reason}".strip()
    timing = f"{t.total_ms:.1f} ms" if t.total_ms is not None else "?"
    if t.server_ms is not None:
        timing += f", server processing {t.server_ms:.1f} ms"
    notes = [f.message for f in hop.lint]
    if hop.status in (429, 503) and hop.header("Retry-After") is None:
        # RFC 9110 §10.2.3: without Retry-After a client cannot know when to come back.
        notes.append(f"{hop.status} without Retry-After: clients cannot tell when to retry")
    summary = f"{line} in {timing}"
    if notes:
        summary += "; " + "; ".join(notes)
    if not check.status_expected:
        return Rung("l7", Status.FAIL, summary, _ms(started), nxt, evidence)
    status = Status.WARN if notes else Status.PASS
    return Rung("l7", status, summary, _ms(started), nxt if notes else None, evidence)


# -- the ladder ----------------------------------------------------------------------------------


async def diagnose(
    target: Target, options: Options | None = None, progress: Progress | None = None
) -> Diagnosis:
    opts = options or Options()
    state = progress if progress is not None else Progress()
    started = state.started
    rungs = state.rungs

    names, address = await names_rung(target)
    rungs["names"] = names
    state.address = address
    if address is None:
        return _finish(target, None, rungs, started)

    from netladder.l2.ladder import l2_rung, route_rung

    ping_started = time.monotonic()
    port_task = asyncio.ensure_future(l4_check(address, target.ports)) if target.ports else None
    route, l2, ping_result = await asyncio.gather(
        _timed("route", lambda: route_rung(address)),
        _timed("l2", lambda: l2_rung(address)),
        _capture(l3_check(address, opts.ping_count)),
    )
    rungs["route"] = route
    rungs["l2"] = l2
    ping, ping_error = ping_result
    l3 = l3_rung(address, ping, _ms(ping_started), ping_error)
    scan = None
    scan_error = None
    if port_task is not None:
        scan, scan_error = await _capture(port_task)

    open_ports = []
    if scan is not None:
        from netladder.l4.model import PortState

        open_ports = [p.port for p in scan.ports if p.state is PortState.OPEN]
        answered = [p for p in scan.ports if p.state is PortState.CLOSED] or open_ports
        if l3.status is Status.FAIL and answered:
            # The host answers TCP: ICMP echo is blocked on the way or at the host.
            what = (
                f"port {open_ports[0]} is open"
                if open_ports
                else "it answers TCP (connection refused)"
            )
            l3 = Rung(
                "l3",
                Status.WARN,
                f"ICMP echo is blocked ({l3.summary}), but {what}: the host is up",
                l3.elapsed_ms,
                None,
                l3.evidence,
            )
    rungs["l3"] = l3

    if route.status is Status.FAIL or l2.status is Status.FAIL:
        pass  # a lower rung explains everything above it
    elif (
        opts.deep
        or l3.status is Status.FAIL
        or (l3.status is Status.WARN and ping is not None and "blocked" not in l3.summary)
    ):
        first_port = target.ports[0] if target.ports else None
        rungs["path"] = await _timed("path", lambda: path_rung(address, l3, first_port))

    if scan is not None:
        rungs["l4"] = l4_rung(address, scan, l3.status is Status.PASS)
    elif scan_error is not None:
        rungs["l4"] = Rung("l4", Status.FAIL, f"port check failed: {scan_error}")

    if target.url and (not target.ports or open_ports) and route.status is not Status.FAIL:
        rungs["l7"] = await _timed("l7", lambda: l7_rung(target, address, opts.timeout_s))
    return _finish(target, address, rungs, started)


async def _capture(aw: Awaitable[Any]) -> tuple[Any, str | None]:
    from netladder.errors import NetladderError

    try:
        return await aw, None
    except NetladderError as exc:
        return None, str(exc)


_SKIP_REASONS = {
    "route": "not reached: the name did not resolve",
    "path": "not needed: L3 saw no loss, no high RTT and got answers",
    "l4": "no port to check (give host:port, a URL or --port)",
    "l7": "not an HTTP(S) target, or its port did not open",
}


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
            reason = _SKIP_REASONS.get(layer, "not reached: a lower layer failed")
            if address is None and "names" in rungs:
                reason = "not reached: the name did not resolve"
            if interrupted:
                reason = "not reached: interrupted"
            rung = Rung(layer, Status.SKIP, reason)
        ordered.append(rung)
    verdict = _verdict(ordered)
    if interrupted and verdict.layer is None:
        verdict = Verdict("interrupted", "interrupted before every layer was checked", None)
    return Diagnosis(target.text, address, tuple(ordered), verdict, _ms(started))


_TITLE = {
    "names": "names",
    "route": "routing",
    "l2": "L2",
    "l3": "L3",
    "path": "path",
    "l4": "L4",
    "l7": "L7",
}


def _verdict(rungs: list[Rung]) -> Verdict:
    for rung in rungs:
        if rung.status is not Status.FAIL:
            continue
        text = rung.summary
        if rung.layer == "l4" and "cause" in rung.evidence:
            text = str(rung.evidence["cause"])
        if rung.layer == "l3" and not any(
            r.layer == "path" and r.status is Status.FAIL for r in rungs
        ):
            text = f"{text} (the route and the gateway are fine)"
        if rung.layer == "path":
            # The path rung names where; L3's loss/RTT says how much the user sees.
            l3 = next(r for r in rungs if r.layer == "l3")
            text = f"{text} (end to end: {l3.summary})"
        return Verdict(rung.layer, f"{_TITLE[rung.layer]}: {text}", rung.next_command)
    warnings = [r for r in rungs if r.status is Status.WARN]
    text = "every layer passes"
    if warnings:
        # The short form: each warning's first clause (the rung lines above have the rest).
        text += (
            " (warnings: "
            + "; ".join(
                f"{_TITLE[r.layer]}: {r.summary.split(' (')[0].split(': ')[0]}" for r in warnings
            )
            + ")"
        )
    return Verdict(None, text, None)
