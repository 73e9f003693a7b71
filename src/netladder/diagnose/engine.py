"""Walk the ladder for one target: each rung is a layer's own check, run in-process.

Names first (nothing else can start without an address); then route + L2, L3 and L4
concurrently (they are independent and each only reads the network).  When every small echo
came back, a few full-size echoes with DF follow (diagnose/pmtu.py): a path-MTU black hole
passes every small probe.  Then the path, when L3 saw loss, high RTT or no answer (or with
--deep); then L7 for HTTP(S) targets.  The verdict is the first failing rung, read with the
evidence of the others: ICMP that fails while a port answers is "ICMP blocked", not "host
down"; a filtered port on a host that answers echo is dropped on the way, not a dead host.
Every sentence says only what the evidence it has shows: a rung that could not run is never
described as having passed.
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
    from netladder.diagnose.pmtu import PmtuResult
    from netladder.l3.ping import PingResult
    from netladder.l4.model import ScanResult

__all__ = ["Options", "diagnose"]

# Above this average RTT the path is traced even when nothing is lost (a slow hop).
HIGH_RTT_MS = 50.0
PING_COUNT = 10
PING_INTERVAL_S = 0.05
# The MTU of lo: a path this large goes to one of this host's own addresses.
LOOPBACK_MTU = 65536


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
        if exc.exit_code == 3:  # a missing privilege or kernel feature: not checked
            return Rung(layer, Status.WARN, str(exc), _ms(started), None, {"not_checked": str(exc)})
        return Rung(layer, Status.FAIL, str(exc), _ms(started))


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
    failure = system.error or "no address"
    if dns.ok and dns.addresses:
        summary = (
            f"the system resolver cannot resolve {target.host} ({failure}), though a "
            f"direct DNS query gets {', '.join(dns.addresses)} ({dns.message}): programs on "
            "this host get no address"
        )
    else:
        summary = f"{target.host} does not resolve: {dns.message} (system resolver: {failure})"
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
        return Rung(
            "l3",
            Status.WARN,
            f"ICMP echo not possible: {error}",
            elapsed_ms,
            None,
            {"not_checked": error},
        )
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


# What an ICMP error about an echo means, said the way the evidence allows (RFC 792, RFC 1812
# §5.2.7.1, RFC 4443 §3.1).  Keys: the text iputils prints for it.
_UNDELIVERABLE = (
    "{who} cannot deliver to the host: no ARP/NDP answer on {its} link (the host is down or "
    "absent), a route that says unreachable, or a firewall rejecting with host-unreachable"
)
_NO_ROUTE = "{who} has no route to the target's network, or a firewall rejects with net-unreachable"
_REJECTED = "{who} rejects the echo by policy (a firewall, or a prohibit route)"
_LOOP = "the TTL runs out on the way: a routing loop (netladder trace shows the hops that repeat)"
_ERROR_MEANINGS = {
    "Destination Host Unreachable": _UNDELIVERABLE,
    "Destination unreachable: Address unreachable": _UNDELIVERABLE,
    "Destination Net Unreachable": _NO_ROUTE,
    "Destination unreachable: No route": _NO_ROUTE,
    "Packet filtered": _REJECTED,
    "Destination Host Prohibited": _REJECTED,
    "Destination Net Prohibited": _REJECTED,
    "Destination unreachable: Administratively prohibited": _REJECTED,
    "Destination unreachable: Reject route to destination": "{who} has a reject route for it",
    "Time to live exceeded": _LOOP,
    "Time exceeded: Hop limit": _LOOP,
}


def _error_meaning(text: str, source: str, own: str | None) -> str | None:
    template = _ERROR_MEANINGS.get(text)
    if template is None:
        return None
    if source in ("local", own):
        return template.format(who="this host", its="its own")
    return template.format(who=f"the router {source}", its="its")


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


def _pmtu_doc(result: PmtuResult | None) -> dict[str, Any] | None:
    return None if result is None else to_jsonable(result)


def _ping_flag(version: int) -> str:
    return "ping -M do" if version == 4 else "ping -6 -M do"


def pmtu_rung(address: str, result: PmtuResult) -> Rung:
    """The black hole as the path rung's failure."""
    from netladder.diagnose.pmtu import header_size

    lo, hi = result.largest_through, result.smallest_lost
    assert lo is not None and hi is not None
    head = header_size(result.version)
    message = '"fragmentation needed"' if result.version == 4 else '"packet too big"'
    summary = (
        f"path-MTU black hole: packets of up to {lo} bytes get through, {hi} bytes and more "
        f"vanish and no ICMP {message} comes back ({_ping_flag(result.version)} -s "
        f"{lo - head} is answered, -s {hi - head} is not): a link on the way carries at most "
        f"{lo} bytes and the message that would tell senders is filtered or never sent; "
        "transfers that send full-size packets (a GET of a large body) stall"
    )
    return Rung(
        "path",
        Status.FAIL,
        summary,
        result.elapsed_ms,
        f"{_ping_flag(result.version)} -s {hi - head} -c 3 {address}",
        {"pmtu": _pmtu_doc(result)},
    )


def _pmtu_clause(result: PmtuResult | None) -> str:
    """What the full-size check adds to a path that needed no trace."""
    if result is None:
        return ""
    if result.outcome == "fits":
        return f", and a full-size ({result.full_size}-byte) DF echo got through"
    if result.outcome == "told":
        if result.reporter is None:
            return "; this host already knows a smaller path MTU towards it"
        mtu = f"is {result.reported_mtu}" if result.reported_mtu else "is smaller"
        message = "fragmentation needed" if result.version == 4 else "packet too big"
        return (
            f"; the path MTU {mtu}, below this link's {result.full_size}, and "
            f"{result.reporter} says so with ICMP {message}, as path MTU discovery needs"
        )
    if result.outcome == "no-echo":
        return "; the full-size DF check got no answer even to its small echo: not judged"
    return ""


# -- L4 ------------------------------------------------------------------------------------------


async def l4_check(address: str, ports: tuple[int, ...]) -> ScanResult:
    from netladder.l4.api import check_ports

    return await check_ports(address, list(ports), banner=True)


# What a filtered port's ICMP reason says about who refuses (nmap's reason names).
_REJECTIONS = {
    "admin-prohibited": "a firewall (or a prohibit route) rejects the connection",
    "host-prohibited": "a firewall rejects the connection",
    "net-prohibited": "a firewall rejects the connection",
    "port-unreach": "a firewall on the way rejects the connection",
    "local-prohibited": "this host's own firewall refuses to send it",
    "host-unreach": (
        "the host cannot be reached: no ARP/NDP answer on the last router's link (down or "
        "absent), a route that says unreachable, or a firewall rejecting with host-unreachable"
    ),
    "net-unreach": (
        "no route to the target's network on the way, or a firewall rejecting with net-unreachable"
    ),
    "time-exceeded": "the TTL runs out on the way: a routing loop",
}


@dataclass(frozen=True, slots=True)
class EchoEvidence:
    """What L3 (and the ports) say about whether the host is up, for L4's sentences."""

    tried: bool  # an echo could be sent
    answered: int  # echo replies
    sent: int
    error: tuple[str, str] | None  # (text, source) of the first ICMP error about an echo
    answering: tuple[int, ...]  # the host's ports that answered (open or closed)


def l4_rung(address: str, scan: ScanResult, echo: EchoEvidence) -> Rung:
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
    forged = results[port] if port in results and results[port].reset_hops_before else None
    if state == "closed" and forged is not None:
        from netladder.l4.explain import forged_reset

        why = f"{where} is closed ({reason}), but {forged_reset(forged, scan.host_ttl)}"
        nxt = f"netladder trace {address} --proto tcp -p {port}"
    elif state == "closed":
        why = (
            f"{where} is closed ({reason}: the host is up and answers, but nothing "
            f"listens on {port})"
        )
        nxt = f"netladder port {address} {port} --banner"
    elif reason == "no-response":
        others = [p for p in echo.answering if p != port]
        why = f"{where} is filtered ({_silence(port, echo, others[0] if others else None)})"
        nxt = f"netladder trace {address} --proto tcp -p {port}"
    else:
        reporter = next((p.reporter for p in scan.ports if p.port == port and p.reporter), None)
        by = f" from {reporter}" if reporter else ""
        means = _REJECTIONS.get(reason, "an ICMP error refuses the connection")
        why = f"{where} is {state} ({reason}{by}: {means})"
        nxt = f"netladder trace {address} --proto tcp -p {port}"
    evidence["cause"] = why
    return Rung("l4", Status.FAIL, summary, scan.elapsed_ms, nxt, evidence)


def _silence(port: int, echo: EchoEvidence, other_port: int | None) -> str:
    """Why SYNs to `port` may go unanswered, said only as far as the other rungs know."""
    if other_port is not None:
        return (
            f"no response to SYN, while port {other_port} answers: something drops the "
            f"connections to port {port} — a firewall, or a port forward or NAT that loses "
            "them or whose replies take another way back"
        )
    if echo.answered:
        shown = f" ({echo.answered}/{echo.sent})" if echo.answered < echo.sent else ""
        return (
            f"no response to SYN, while the host answers ICMP echo{shown}: something on the way "
            "drops the connection — a firewall on the port, or a port forward or NAT that "
            "loses the packets or whose replies take another way back"
        )
    if echo.error is not None:
        text, source = echo.error
        return f"no response to SYN; ICMP echo gets {text} from {source}"
    if echo.tried:
        return (
            "no response to SYN, and no answer to ICMP echo either: the host is down or "
            "absent, a router on the way does not forward, or a filter drops both"
        )
    return (
        "no response to SYN: a firewall, a forward or NAT that loses the packets, or a host "
        "that is down; ICMP echo could not be sent to tell them apart"
    )


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# -- path ----------------------------------------------------------------------------------------


async def path_rung(address: str, lossy: bool, echo_answered: bool, port: int | None) -> Rung:
    from netladder.path.engine import trace

    started = time.monotonic()
    options: dict[str, Any] = {"protocol": "icmp", "wait": 1.0, "max_ttl": 16}
    if not echo_answered and port is not None:
        # Echo gets no answer: trace with what the host does answer, or is meant to.
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
    from netladder.render.http import sentence

    assert target.url is not None
    parts = urlsplit(target.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or target.host
    options = HttpOptions(target.url, resolve=(((host, port), address),), timeout=timeout_s)
    started = time.monotonic()
    check = await http_check(options)
    hop = check.final
    findings = [
        {"rule": f.rule, "level": f.level, "section": f.section, "message": sentence(f)}
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
            f"HTTP request failed in the {check.error.phase} phase: {sentence(check.error)}",
            _ms(started),
            nxt,
            evidence,
        )
    line = f"{hop.http_version} {hop.status} {hop.reason}".strip()
    timing = f"{t.total * 1000:.1f} ms" if t.total is not None else "?"
    if t.server is not None:
        timing += f", server processing {t.server * 1000:.1f} ms"
    # The lint rules already say everything worth saying (429/503 without Retry-After is its
    # retry-after-missing hint, RFC 9110 §10.2.3).
    notes = [sentence(f) for f in hop.lint]
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
    l3 = _unsent(l3_rung(address, ping, _ms(ping_started), ping_error), route, l2)
    rungs["l3"] = l3
    routed = route.status is not Status.FAIL
    # The full-size check only means something when every small echo came back, and it must
    # not run beside the ping's raw socket (pmtu.py).
    pmtu = None
    if routed and ping is not None and 0 < ping.received == ping.transmitted:
        pmtu, _ = await _capture(pmtu_check(address))
        l3 = _with_evidence(l3, pmtu=_pmtu_doc(pmtu))
        rungs["l3"] = l3
    scan = None
    scan_error = None
    if port_task is not None:
        scan, scan_error = await _capture(port_task)

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
                {**l3.evidence, "blocked": True},
            )
            rungs["l3"] = l3

    path_job, path_skip = _plan_path(opts, route, l2, l3, ping, pmtu)
    if path_job == "trace":
        first_port = target.ports[0] if target.ports else None
        lossy = l3.status is Status.WARN and "loss" in l3.summary
        echo_answered = ping is not None and ping.received > 0
        rungs["path"] = await _timed(
            "path", lambda: path_rung(address, lossy, echo_answered, first_port)
        )
    elif path_job == "pmtu":
        assert pmtu is not None
        rungs["path"] = pmtu_rung(address, pmtu)
    else:
        rungs["path"] = Rung("path", Status.SKIP, path_skip)

    if scan is not None:
        errors = ping.error_events if ping is not None else ()
        echo = EchoEvidence(
            tried=ping is not None,
            answered=ping.received if ping is not None else 0,
            sent=ping.transmitted if ping is not None else 0,
            error=(errors[0].text, errors[0].source) if errors else None,
            answering=tuple(answering),
        )
        rungs["l4"] = l4_rung(address, scan, echo)
    elif scan_error is not None:
        rungs["l4"] = Rung("l4", Status.FAIL, f"port check failed: {scan_error}")

    if not target.url:
        rungs["l7"] = Rung("l7", Status.SKIP, "not an HTTP(S) target")
    elif not routed:
        rungs["l7"] = Rung("l7", Status.SKIP, "not reached: no route to the target")
    elif target.ports and not open_ports:
        ports = ", ".join(str(p) for p in target.ports)
        rungs["l7"] = Rung("l7", Status.SKIP, f"not reached: port {ports} did not open (L4)")
    else:
        rungs["l7"] = await _timed("l7", lambda: l7_rung(target, address, opts.timeout_s))
    return _finish(target, address, rungs, started)


def _unsent(l3: Rung, route: Rung, l2: Rung) -> Rung:
    """Silent echoes whose next hop does not answer ARP/NDP never left this host: the kernel
    holds them until its resolution gives up, 3 s after the first (Linux: mcast_solicit 3 x
    retrans_time 1 s), and only then answers "Destination Host Unreachable" from this host —
    what ping shows that late, after L3's probes are done.  Named here rather than waited for."""
    if l3.status is not Status.FAIL or l3.evidence.get("errors"):
        return l3
    if l2.evidence.get("verdict") != "no_answer" or not l2.evidence.get("neighbour"):
        return l3
    hop = l2.evidence["neighbour"]
    v6 = ":" in hop
    proto, text = ("NDP", "Address unreachable") if v6 else ("ARP", "Destination Host Unreachable")
    own = route.evidence.get("prefsrc") or "this host"
    who = f"its gateway {hop}" if l2.evidence.get("via_gateway") else hop
    summary = (
        f"{l3.summary}: they never left this host, as {who} does not answer {proto} (ping "
        f'shows "{text}" from {own} once {proto} gives up, ~3 s in)'
    )
    return Rung("l3", l3.status, summary, l3.elapsed_ms, l3.next_command, l3.evidence)


def _plan_path(
    opts: Options,
    route: Rung,
    l2: Rung,
    l3: Rung,
    ping: PingResult | None,
    pmtu: PmtuResult | None,
) -> tuple[str | None, str]:
    """("trace" | "pmtu" | None, the reason when the path rung is skipped)."""
    if route.status is Status.FAIL:
        return None, "not reached: no route to the target"
    if l2.status is Status.FAIL:
        return None, "not reached: the next hop fails at L2, which explains everything above it"
    if pmtu is not None and pmtu.outcome == "black-hole":
        return "pmtu", ""
    if opts.deep:
        return "trace", ""
    if ping is None:
        return None, (
            "not run: ICMP echo was not possible (see L3), so nothing measured loss or latency"
            " on the way (--deep tries a trace)"
        )
    if l3.evidence.get("blocked"):
        return None, (
            "not run: ICMP echo is blocked, but the host answers TCP, so the path carries "
            "traffic (--deep traces it with TCP)"
        )
    if l3.status is not Status.PASS:
        return "trace", ""
    return None, "not needed: L3 saw no loss and no high RTT" + _pmtu_clause(pmtu)


def _with_evidence(rung: Rung, **extra: Any) -> Rung:
    return Rung(
        rung.layer,
        rung.status,
        rung.summary,
        rung.elapsed_ms,
        rung.next_command,
        {**rung.evidence, **extra},
    )


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
            if interrupted:
                reason = "not reached: interrupted"
            elif address is None:
                reason = "not reached: the name did not resolve"
            elif layer == "l4":
                reason = "no port to check (give host:port, a URL or --port)"
            else:
                reason = "not reached: a lower layer failed"
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
    by_layer = {r.layer: r for r in rungs}
    for rung in rungs:
        if rung.status is not Status.FAIL:
            continue
        text = rung.summary
        if rung.layer == "l4" and "cause" in rung.evidence:
            text = str(rung.evidence["cause"])
        if rung.layer == "l3":
            text = _l3_verdict(rung, by_layer)
        if rung.layer == "path" and "not_checked" not in by_layer["l3"].evidence:
            # The path rung names where; L3's loss/RTT says how much the user sees.
            text = f"{text} (end to end: {by_layer['l3'].summary})"
        return Verdict(rung.layer, f"{_TITLE[rung.layer]}: {text}", rung.next_command)
    unchecked = [r for r in rungs if r.status is Status.WARN and "not_checked" in r.evidence]
    warnings = [r for r in rungs if r.status is Status.WARN and r not in unchecked]
    text = "every layer passes"
    if unchecked:
        text = (
            "every layer that could be checked passes (not checked: "
            + ", ".join(_TITLE[r.layer] for r in unchecked)
            + ")"
        )
    if warnings:
        # The short form: each warning's first clause (the rung lines above have the rest).
        text += " (warnings: " + "; ".join(_warning(r) for r in warnings) + ")"
    return Verdict(None, text, None)


def _warning(rung: Rung) -> str:
    if rung.layer == "l7" and rung.evidence.get("lint"):
        first = rung.evidence["lint"][0]
        return f"L7: {first['message']}"
    return f"{_TITLE[rung.layer]}: {rung.summary.split(' (')[0].split(': ')[0]}"


def _l3_verdict(l3: Rung, by_layer: dict[str, Rung]) -> str:
    """L3 failed: what the echo errors mean, and what the other rungs add about where."""
    text = l3.summary
    route, l2, path = by_layer["route"], by_layer["l2"], by_layer["path"]
    errors = l3.evidence.get("errors") or []
    if errors:
        own = route.evidence.get("prefsrc")
        meaning = _error_meaning(errors[0]["text"], errors[0]["from"], own)
        if meaning:
            text += f" ({meaning})"
    if path.status is Status.FAIL:
        kind = (path.evidence.get("verdict") or {}).get("kind")
        # Echoes that got an error did get an answer: the trace's silence is not theirs.
        return text if errors and kind == "no-answer" else f"{text}; {_path_words(path, l2)}"
    if route.status is Status.PASS and l2.status is Status.PASS:
        gateway = route.evidence.get("gateway")
        return f"{text} ({'the route and the gateway are' if gateway else 'the route is'} fine)"
    return text


def _path_words(path: Rung, l2: Rung) -> str:
    """The trace's finding, read together with the echo that also failed."""
    verdict = path.evidence.get("verdict") or {}
    hops = path.evidence.get("hops") or []
    if verdict.get("kind") != "no-answer" or verdict.get("loop"):
        return f"the trace: {path.summary}"
    answered = [h for h in hops if h.get("address")]
    probes = (
        "TCP SYNs and ICMP echoes alike"
        if path.evidence.get("protocol") == "tcp"
        else "ICMP echoes"
    )
    if answered:
        last = answered[-1]
        return (
            f"the trace's last answer came from hop {last['ttl']} ({last['address']}); beyond "
            f"it {probes} get no answer — a router there does not forward, the host is down or "
            "absent, or a filter drops everything to it"
        )
    gateway = l2.evidence.get("neighbour") if l2.status is Status.PASS else None
    if gateway and l2.evidence.get("via_gateway"):
        return (
            f"no hop answered the trace, not even the gateway {gateway} at hop 1, which answers "
            "ARP: it does not forward (IP forwarding off?) or filters what passes through it"
        )
    return f"no hop answered the trace: {probes} get no answer from the first hop on"
