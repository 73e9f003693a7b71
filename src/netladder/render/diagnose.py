"""Every sentence `netladder diagnose` says, made from the typed rungs (diagnose/model.py).

    lines(diagnosis)        the human output: one line per rung, the verdict, the next command
    sentence(obj)           the JSON sentences: a rung's `summary`, the verdict's `text`, L4's
                            `cause`; with --via, an agent's `error` and the comparison
    summary(rung)           one rung's sentence (serve logs it)

Each sentence is a template of `TEMPLATES` with named placeholders, translated with `_()` when
it is rendered; the small phrases that fill them (who sent an ICMP error, what else answers)
come from the helpers beside them.  Each says only what its evidence shows: the rules that
chose a rung's finding are diagnose's (diagnose/engine.py, diagnose/rungs.py); the words are
here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from netladder.diagnose.model import (
    Address,
    BlackHole,
    Diagnosis,
    Echoes,
    EchoEvidence,
    Http,
    NextHop,
    NotChecked,
    NotNeeded,
    PmtuResult,
    PortFailure,
    Ports,
    PortsFailed,
    Problem,
    Reached,
    Resolved,
    Rung,
    Status,
    TableOnly,
    Trace,
    Unopened,
    Unreached,
    Unresolved,
    Verdict,
    ViaReport,
    header_size,
    not_checked,
    ping_flag,
)
from netladder.i18n import N_, _
from netladder.l2.model import NeighCheck
from netladder.model import ms
from netladder.output import columns, escape_controls, ljust, paint
from netladder.path.model import PathVerdict, QuietHops
from netladder.render.dns import sentence as dns_sentence
from netladder.render.http import sentence as http_sentence
from netladder.render.neigh import summary as neigh_summary
from netladder.render.trace import sentence as trace_sentence
from netladder.render.trace import verdict_text as trace_verdict_text

if TYPE_CHECKING:
    from netladder.l2.route import RouteDecision

__all__ = ["TEMPLATES", "lines", "sentence", "summary", "via_lines", "via_summary"]

TEMPLATES: dict[str, str] = {
    # -- any layer
    "interrupted": N_("not reached: interrupted"),
    "unresolved-name": N_("not reached: the name did not resolve"),
    "no-port": N_("no port to check (give host:port, a URL or --port)"),
    "lower-failed": N_("not reached: a lower layer failed"),
    # -- names
    "address": N_("{host} is an address; nothing to resolve"),
    "resolved": N_("{host} is {addresses} (system resolver, {time_ms:.1f} ms)"),
    "system-only": N_(
        "the system resolver cannot resolve {host} ({failure}), though a direct DNS query gets "
        "{addresses} ({message}): programs on this host get no address"
    ),
    "unresolvable": N_("{host} does not resolve: {message} (system resolver: {failure})"),
    "no-address": N_("no address"),
    # -- route
    "no-route": N_("no route to {address}: {reason}"),
    "local": N_("{address} is this host's own address"),
    "gateway": N_("via gateway {gateway} on {iface} (route {prefix})"),
    "on-link": N_("on-link on {iface} (route {prefix})"),
    # -- L2
    "table-only": N_("not checked live ({problem}); {seen}"),
    "table-has": N_("the table has {mac} ({state}) for {hop}"),
    "table-lacks": N_("the table has no entry for {hop}"),
    # -- L3
    "echo-impossible": N_("ICMP echo not possible: {error}"),
    "silent": N_("no echo reply to {transmitted} probes"),
    "echo-error": N_("no echo reply: {text} from {source}"),
    "replies": N_(
        "{received}/{transmitted} echo replies, rtt avg {avg:.2f} ms (min {min:.2f}, max {max:.2f})"
    ),
    "loss": N_("{loss:.0f}% loss: {replies}"),
    "high-rtt": N_("high RTT: {replies}"),
    "unsent": N_(
        "{silence}: they never left this host, as {who} does not answer {proto} (ping shows "
        '"{text}" from {own} once {proto} gives up, ~3 s in)'
    ),
    "unsent-gateway": N_("its gateway {hop}"),
    "this-host": N_("this host"),
    "blocked": N_("ICMP echo is blocked ({echo}), but {what}: the host is up"),
    "blocked-open": N_("port {port} is open"),
    "blocked-refused": N_("it answers TCP (connection refused)"),
    # -- path
    "black-hole": N_(
        "path-MTU black hole: packets of up to {lo} bytes get through, {hi} bytes and more vanish "
        "and no ICMP {message} comes back ({ping} -s {lo_data} is answered, -s {hi_data} is not): "
        "a link on the way carries at most {lo} bytes and the message that would tell senders is "
        "filtered or never sent; transfers that send full-size packets (a GET of a large body) "
        "stall"
    ),
    "unrouted": N_("not reached: no route to the target"),
    "l2-failed": N_("not reached: the next hop fails at L2, which explains everything above it"),
    "echo-impossible-path": N_(
        "not run: ICMP echo was not possible (see L3), so nothing measured loss or latency on the "
        "way (--deep tries a trace)"
    ),
    "echo-blocked": N_(
        "not run: ICMP echo is blocked, but the host answers TCP, so the path carries traffic "
        "(--deep traces it with TCP)"
    ),
    "not-needed": N_("not needed: L3 saw no loss and no high RTT{pmtu}"),
    "pmtu-fits": N_(", and a full-size ({size}-byte) DF echo got through"),
    "pmtu-known": N_("; this host already knows a smaller path MTU towards it"),
    "pmtu-told": N_(
        "; the path MTU {mtu}, below this link's {size}, and {reporter} says so with ICMP "
        "{message}, as path MTU discovery needs"
    ),
    "pmtu-is": N_("is {mtu}"),
    "pmtu-smaller": N_("is smaller"),
    "pmtu-no-echo": N_("; the full-size DF check got no answer even to its small echo: not judged"),
    # -- L4
    "port": N_("{port}/{proto} {state} ({reason})"),
    "port-banner": N_("{port}/{proto} {state} ({reason}): {banner}"),
    "port-group": N_("{count} {state} ({reason})"),
    "scan-failed": N_("port check failed: {error}"),
    "closed": N_(
        "{where} is closed ({reason}: the host is up and answers, but nothing listens on {port})"
    ),
    "closed-forged": N_("{where} is closed ({reason}), but {forged}"),
    "filtered": N_("{where} is filtered ({silence})"),
    "rejected": N_("{where} is {state} ({reason}{by}: {means})"),
    "rejected-by": N_(" from {reporter}"),
    "silence-other-port": N_(
        "no response to SYN, while port {other} answers: something drops the connections to "
        "port {port} — a firewall, or a port forward or NAT that loses them or whose replies "
        "take another way back"
    ),
    "silence-echo-answered": N_(
        "no response to SYN, while the host answers ICMP echo{shown}: something on the way drops "
        "the connection — a firewall on the port, or a port forward or NAT that loses the packets "
        "or whose replies take another way back"
    ),
    "silence-echo-error": N_("no response to SYN; ICMP echo gets {text} from {source}"),
    "silence-echo-silent": N_(
        "no response to SYN, and no answer to ICMP echo either: the host is down or absent, a "
        "router on the way does not forward, or a filter drops both"
    ),
    "silence-no-echo": N_(
        "no response to SYN: a firewall, a forward or NAT that loses the packets, or a host that "
        "is down; ICMP echo could not be sent to tell them apart"
    ),
    # -- L7
    "not-http": N_("not an HTTP(S) target"),
    "ports-shut": N_("not reached: port {ports} did not open (L4)"),
    "request-failed": N_("HTTP request failed in the {phase} phase: {message}"),
    "response": N_("{line} in {timing}"),
    "response-notes": N_("{line} in {timing}; {notes}"),
    "timing": N_("{total:.1f} ms"),
    "timing-server": N_("{total}, server processing {server:.1f} ms"),
    # -- the verdict
    "verdict": N_("{title}: {text}"),
    "verdict-end-to-end": N_("{text} (end to end: {l3})"),
    "verdict-meaning": N_("{text} ({meaning})"),
    "verdict-path": N_("{text}; {path}"),
    "verdict-route-fine": N_("{text} (the route is fine)"),
    "verdict-route-gateway-fine": N_("{text} (the route and the gateway are fine)"),
    "all-pass": N_("every layer passes"),
    "all-checked-pass": N_("every layer that could be checked passes (not checked: {layers})"),
    "warnings": N_("{text} (warnings: {warnings})"),
    "warning": N_("{title}: {text}"),
    "warning-loss": N_("{loss:.0f}% loss"),
    "warning-high-rtt": N_("high RTT"),
    "warning-blocked": N_("ICMP echo is blocked"),
    "verdict-interrupted": N_("interrupted before every layer was checked"),
    "path-trace": N_("the trace: {summary}"),
    "path-last-answer": N_(
        "the trace's last answer came from hop {ttl} ({address}); beyond it {probes} get no "
        "answer — a router there does not forward, the host is down or absent, or a filter drops "
        "everything to it"
    ),
    "path-gateway-silent": N_(
        "no hop answered the trace, not even the gateway {gateway} at hop 1, which answers ARP: "
        "it does not forward (IP forwarding off?) or filters what passes through it"
    ),
    "path-no-hop": N_("no hop answered the trace: {probes} get no answer from the first hop on"),
    "probes-tcp": N_("TCP SYNs and ICMP echoes alike"),
    "probes-icmp": N_("ICMP echoes"),
    # -- the human output
    "head": N_("diagnose {target}{address}"),
    "head-address": N_(" ({address})"),
    "took": N_("  {ms:.0f} ms"),
    "verdict-line": N_("verdict: {text}"),
    "next-line": N_("next: {command}"),
    "elapsed": N_("({seconds:.2f} s)"),
    # -- --via: agents asked at once
    "via-head": N_("diagnose {target} via {count} agents"),
    "via-not-asked": N_("not asked"),
    "via-pass": N_("pass"),
    "via-fail": N_("fail"),
    "via-split": N_(
        "fails from {failing}, passes from {passing}: the target answers {passing}, so the fault "
        "is on {whose} side of the path"
    ),
    "via-whose": N_("{name}'s"),
    "via-fails-alone": N_("fails from {name} at {layer} (the only agent that answered)"),
    "via-fails-same": N_(
        "fails from {names} (all at {layer}): the fault is at the target or on the path they share"
    ),
    "via-fails-each": N_("fails from {each}"),
    "via-fails-at": N_("{name} at {layer}"),
    "via-passes": N_("passes from {names}"),
    "via-lost": N_("{name}: {problem}"),
    "via-not-counted": N_("not asked (no answer, not counted as a vantage point): {lost}"),
    "via-none": N_("no agent could be asked: {lost}"),
    "via-and": N_("{names} and {last}"),
    "via-bad-url": N_("bad URL: {detail}"),
    "via-no-answer": N_("no answer"),
    "via-status": N_("answered {status}"),
    "via-status-said": N_("answered {status}: {said}"),
    "via-not-netladder": N_("answered 200 without a diagnosis (is it a netladder serve?)"),
    "via-not-object": N_("answered a diagnosis that is not a JSON object"),
    "via-auth-needed": N_(
        "the agent asks for credentials (give them in the URL: http://user:password@host:port)"
    ),
    "via-auth-refused": N_("credentials refused (the agent answered 401)"),
}

# The layers as the verdict names them, and as the rung lines do.
VERDICT_TITLES = {
    "names": N_("names"),
    "route": N_("routing"),
    "l2": N_("L2"),
    "l3": N_("L3"),
    "path": N_("path"),
    "l4": N_("L4"),
    "l7": N_("L7"),
}
LINE_TITLES = {
    "names": N_("names"),
    "route": N_("route"),
    "l2": N_("L2"),
    "l3": N_("L3"),
    "path": N_("path"),
    "l4": N_("L4"),
    "l7": N_("L7"),
}

# What an ICMP error about an echo means, said the way the evidence allows (RFC 792, RFC 1812
# §5.2.7.1, RFC 4443 §3.1).  Keys: the text iputils prints for it.
_UNDELIVERABLE = N_(
    "{who} cannot deliver to the host: no ARP/NDP answer on {its} link (the host is down or "
    "absent), a route that says unreachable, or a firewall rejecting with host-unreachable"
)
_NO_ROUTE = N_(
    "{who} has no route to the target's network, or a firewall rejects with net-unreachable"
)
_REJECTED = N_("{who} rejects the echo by policy (a firewall, or a prohibit route)")
_LOOP = N_(
    "the TTL runs out on the way: a routing loop (netladder trace shows the hops that repeat)"
)
ERROR_MEANINGS = {
    "Destination Host Unreachable": _UNDELIVERABLE,
    "Destination unreachable: Address unreachable": _UNDELIVERABLE,
    "Destination Net Unreachable": _NO_ROUTE,
    "Destination unreachable: No route": _NO_ROUTE,
    "Packet filtered": _REJECTED,
    "Destination Host Prohibited": _REJECTED,
    "Destination Net Prohibited": _REJECTED,
    "Destination unreachable: Administratively prohibited": _REJECTED,
    "Destination unreachable: Reject route to destination": N_("{who} has a reject route for it"),
    "Time to live exceeded": _LOOP,
    "Time exceeded: Hop limit": _LOOP,
}
_THIS_HOST = N_("this host")
_THE_ROUTER = N_("the router {source}")
_ITS_OWN = N_("its own")
_ITS = N_("its")

# What a filtered port's ICMP reason says about who refuses (nmap's reason names).
REJECTIONS = {
    "admin-prohibited": N_("a firewall (or a prohibit route) rejects the connection"),
    "host-prohibited": N_("a firewall rejects the connection"),
    "net-prohibited": N_("a firewall rejects the connection"),
    "port-unreach": N_("a firewall on the way rejects the connection"),
    "local-prohibited": N_("this host's own firewall refuses to send it"),
    "host-unreach": N_(
        "the host cannot be reached: no ARP/NDP answer on the last router's link (down or "
        "absent), a route that says unreachable, or a firewall rejecting with host-unreachable"
    ),
    "net-unreach": N_(
        "no route to the target's network on the way, or a firewall rejecting with net-unreachable"
    ),
    "time-exceeded": N_("the TTL runs out on the way: a routing loop"),
}
_ICMP_REFUSES = N_("an ICMP error refuses the connection")

# The ICMP message that carries a path MTU, quoted and bare.
_TOO_BIG_QUOTED = {4: N_('"fragmentation needed"'), 6: N_('"packet too big"')}
_TOO_BIG = {4: N_("fragmentation needed"), 6: N_("packet too big")}


def _t(key: str, **params: object) -> str:
    """One template, translated and filled."""
    return _(TEMPLATES[key]).format(**params)


def sentence(obj: object) -> Any:
    """The JSON sentence of a record with `__json_text__` (output.to_jsonable calls it)."""
    if isinstance(obj, Rung):
        return summary(obj)
    if isinstance(obj, Verdict):
        return verdict_text(obj)
    if isinstance(obj, PortsFailed):
        return cause(obj.failure)
    if isinstance(obj, Unreached):
        return problem_text(obj)
    if isinstance(obj, ViaReport):
        return via_summary(obj.answers)
    if isinstance(obj, NeighCheck):
        return neigh_summary(obj)
    from netladder.l7.lint import Finding as LintFinding
    from netladder.l7.model import Failure as HttpFailure

    if isinstance(obj, LintFinding | HttpFailure):
        return http_sentence(obj)  # the L7 rung's lint messages and failure, as http says them
    if isinstance(obj, PathVerdict | QuietHops):
        return trace_sentence(obj)  # the path rung's trace: its verdict's text and notes
    # The names rung's records (TypeError for anything else); a lookup that worked has no
    # error sentence (None, JSON null), as `dns --json` says it.
    return dns_sentence(obj)


# -- one rung -------------------------------------------------------------------------------------


def summary(rung: Rung) -> str:
    """What the rung found, in one line."""
    e = rung.evidence
    finding = rung.finding
    if isinstance(e, Problem):
        return e.message if finding == "error" else _t(finding, error=e.message)
    if isinstance(e, NotChecked):
        return e.not_checked if finding == "not-checked" else _t(finding, error=e.not_checked)
    if isinstance(e, Address):
        return _t("address", host=e.host)
    if isinstance(e, Resolved):
        addresses = ", ".join(e.system.addresses)
        time_ms = round(e.system.time * 1000, 3)
        return _t("resolved", host=e.host, addresses=addresses, time_ms=time_ms)
    if isinstance(e, Unresolved):
        failure = str(dns_sentence(e.system) or _t("no-address"))
        message = str(dns_sentence(e.dns))
        if finding == "system-only":
            addresses = ", ".join(e.dns.addresses)
            return _t(finding, host=e.host, failure=failure, addresses=addresses, message=message)
        return _t(finding, host=e.host, message=message, failure=failure)
    if isinstance(e, TableOnly):
        if e.table is not None:
            seen = _t("table-has", mac=e.table.mac, state=e.table.state, hop=e.next_hop)
        else:
            seen = _t("table-lacks", hop=e.next_hop)
        return _t("table-only", problem=e.not_checked, seen=seen)
    if isinstance(e, NextHop):
        return neigh_summary(e.check)
    if isinstance(e, Echoes):
        return _echoes(finding, e)
    if isinstance(e, Trace):
        return trace_verdict_text(e.verdict)
    if isinstance(e, BlackHole):
        return _black_hole(e.pmtu)
    if isinstance(e, NotNeeded):
        return _t("not-needed", pmtu=_pmtu_clause(e.pmtu))
    if isinstance(e, Ports):
        return _ports(e)
    if isinstance(e, PortsFailed):
        return _ports(e.ports)
    if isinstance(e, Http):
        return _http(finding, e)
    if isinstance(e, Unopened):
        return _t("ports-shut", ports=", ".join(str(p) for p in e.ports))
    if finding in ("no-route", "local", "gateway", "on-link"):
        return _route(finding, _decision(rung))
    return _t(finding)


def _decision(rung: Rung) -> RouteDecision:
    from netladder.l2.route import RouteDecision

    assert isinstance(rung.evidence, RouteDecision)
    return rung.evidence


def _route(finding: str, d: RouteDecision) -> str:
    if finding == "no-route":
        return _t(finding, address=d.destination, reason=d.error or d.type)
    return _t(
        finding, address=d.destination, gateway=d.gateway, iface=d.iface, prefix=d.prefix or "?"
    )


def _replies(e: Echoes) -> str:
    assert e.rtt is not None
    rtt = e.rtt
    return _t(
        "replies",
        received=e.received,
        transmitted=e.transmitted,
        avg=rtt.avg * 1000,
        min=round(rtt.min * 1000, 6),  # whole ns: exactly the ms ping computed (EchoRtt)
        max=round(rtt.max * 1000, 6),
    )


def _echoes(finding: str, e: Echoes) -> str:
    if finding == "silent":
        text = _t("silent", transmitted=e.transmitted)
    elif finding == "echo-error":
        first = e.errors[0]
        text = _t("echo-error", text=first.text, source=first.source)
    elif finding in ("loss", "high-rtt"):
        text = _t(finding, loss=e.loss_percent, replies=_replies(e))
    else:
        text = _replies(e)
    if e.unsent is not None:
        hop = e.unsent.hop
        proto, said = ("NDP", "Address unreachable") if ":" in hop else ("ARP", _UNREACHABLE)
        who = _t("unsent-gateway", hop=hop) if e.unsent.via_gateway else hop
        own = e.unsent.own or _t("this-host")
        text = _t("unsent", silence=text, who=who, proto=proto, text=said, own=own)
    if e.blocked is not None:
        port = e.blocked.open_port
        what = _t("blocked-refused") if port is None else _t("blocked-open", port=port)
        text = _t("blocked", echo=text, what=what)
    return text


# What ping prints once ARP gives up (iputils' words, quoted as they are printed).
_UNREACHABLE = "Destination Host Unreachable"


def _black_hole(result: PmtuResult) -> str:
    lo, hi = result.largest_through, result.smallest_lost
    assert lo is not None and hi is not None
    head = header_size(result.version)
    return _t(
        "black-hole",
        lo=lo,
        hi=hi,
        message=_(_TOO_BIG_QUOTED[result.version]),
        ping=ping_flag(result.version),
        lo_data=lo - head,
        hi_data=hi - head,
    )


def _pmtu_clause(result: PmtuResult | None) -> str:
    """What the full-size check adds to a path that needed no trace."""
    if result is None:
        return ""
    if result.outcome == "fits":
        return _t("pmtu-fits", size=result.full_size)
    if result.outcome == "told":
        if result.reporter is None:
            return _t("pmtu-known")
        mtu = _t("pmtu-is", mtu=result.reported_mtu) if result.reported_mtu else _t("pmtu-smaller")
        return _t(
            "pmtu-told",
            mtu=mtu,
            size=result.full_size,
            reporter=result.reporter,
            message=_(_TOO_BIG[result.version]),
        )
    if result.outcome == "no-echo":
        return _t("pmtu-no-echo")
    return ""


def _ports(e: Ports) -> str:
    described = []
    for p in e.ports:
        if p.banner is None:
            described.append(_t("port", port=p.port, proto=p.proto, state=p.state, reason=p.reason))
        else:
            first = p.banner.splitlines()[0] if p.banner else ""
            described.append(
                _t(
                    "port-banner",
                    port=p.port,
                    proto=p.proto,
                    state=p.state,
                    reason=p.reason,
                    banner=first,
                )
            )
    for g in e.groups:
        described.append(_t("port-group", count=g.count, state=g.state, reason=g.reason))
    return "; ".join(described)


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def cause(f: PortFailure) -> str:
    """Why the port is not open, said as far as the other rungs know."""
    where = _hostport(f.address, f.port)
    if f.state == "closed" and f.forged is not None:
        from netladder.render.port import forged_reset  # `port` says it in the same words

        forged = forged_reset(f.forged, f.host_ttl)
        return _t("closed-forged", where=where, reason=f.reason, forged=forged)
    if f.state == "closed":
        return _t("closed", where=where, reason=f.reason, port=f.port)
    if f.reason == "no-response":
        return _t("filtered", where=where, silence=silence(f.port, f.echo, f.other_port))
    by = _t("rejected-by", reporter=f.reporter) if f.reporter else ""
    means = _(REJECTIONS.get(f.reason, _ICMP_REFUSES))
    return _t("rejected", where=where, state=f.state, reason=f.reason, by=by, means=means)


def silence(port: int, echo: EchoEvidence, other_port: int | None) -> str:
    """Why SYNs to `port` may go unanswered, said only as far as the other rungs know."""
    if other_port is not None:
        return _t("silence-other-port", other=other_port, port=port)
    if echo.answered:
        shown = f" ({echo.answered}/{echo.sent})" if echo.answered < echo.sent else ""
        return _t("silence-echo-answered", shown=shown)
    if echo.error is not None:
        return _t("silence-echo-error", text=echo.error.text, source=echo.error.source)
    if echo.tried:
        return _t("silence-echo-silent")
    return _t("silence-no-echo")


def _http(finding: str, e: Http) -> str:
    if finding == "request-failed":
        assert e.error is not None
        return _t(finding, phase=e.error.phase, message=http_sentence(e.error))
    line = f"{e.http_version} {e.status} {e.reason}".strip()
    t = e.timings
    timing = _t("timing", total=ms(t.total)) if t.total is not None else "?"
    if t.server is not None:
        timing = _t("timing-server", total=timing, server=ms(t.server))
    notes = [http_sentence(f) for f in e.lint]
    if notes:
        return _t("response-notes", line=line, timing=timing, notes="; ".join(notes))
    return _t("response", line=line, timing=timing)


# -- the verdict --------------------------------------------------------------------------------


def verdict_text(verdict: Verdict) -> str:
    """The verdict: the first failing layer, read with what the other rungs add."""
    if verdict.layer == "interrupted":
        return _t("verdict-interrupted")
    rungs = verdict.rungs
    by_layer = {r.layer: r for r in rungs}
    for rung in rungs:
        if rung.status is not Status.FAIL:
            continue
        text = summary(rung)
        if isinstance(rung.evidence, PortsFailed):
            text = cause(rung.evidence.failure)
        if rung.layer == "l3":
            text = _l3_verdict(rung, by_layer)
        l3 = by_layer["l3"]
        if rung.layer == "path" and not isinstance(l3.evidence, NotChecked):
            # The path rung names where; L3's loss/RTT says how much the user sees.
            text = _t("verdict-end-to-end", text=text, l3=summary(l3))
        return _t("verdict", title=_(VERDICT_TITLES[rung.layer]), text=text)
    unchecked = [r for r in rungs if r.status is Status.WARN and not_checked(r) is not None]
    warnings = [r for r in rungs if r.status is Status.WARN and r not in unchecked]
    text = _t("all-pass")
    if unchecked:
        layers = ", ".join(_(VERDICT_TITLES[r.layer]) for r in unchecked)
        text = _t("all-checked-pass", layers=layers)
    if warnings:
        # The short form: each warning's first clause (the rung lines above have the rest).
        text = _t("warnings", text=text, warnings="; ".join(_warning(r) for r in warnings))
    return text


def _warning(rung: Rung) -> str:
    e = rung.evidence
    if isinstance(e, Http) and e.lint:
        return _t("warning", title=_(VERDICT_TITLES["l7"]), text=http_sentence(e.lint[0]))
    if isinstance(e, Echoes) and e.blocked is not None:
        text = _t("warning-blocked")
    elif isinstance(e, Echoes) and rung.finding == "loss":
        text = _t("warning-loss", loss=e.loss_percent)
    elif rung.finding == "high-rtt":
        text = _t("warning-high-rtt")
    else:
        text = summary(rung)
    return _t("warning", title=_(VERDICT_TITLES[rung.layer]), text=text)


def _route_evidence(rung: Rung) -> RouteDecision | None:
    from netladder.l2.route import RouteDecision

    return rung.evidence if isinstance(rung.evidence, RouteDecision) else None


def _error_meaning(text: str, source: str, own: str | None) -> str | None:
    template = ERROR_MEANINGS.get(text)
    if template is None:
        return None
    if source in ("local", own):
        return _(template).format(who=_(_THIS_HOST), its=_(_ITS_OWN))
    return _(template).format(who=_(_THE_ROUTER).format(source=source), its=_(_ITS))


def _l3_verdict(l3: Rung, by_layer: dict[str, Rung]) -> str:
    """L3 failed: what the echo errors mean, and what the other rungs add about where."""
    text = summary(l3)
    route, l2, path = by_layer["route"], by_layer["l2"], by_layer["path"]
    decision = _route_evidence(route)
    errors = l3.evidence.errors if isinstance(l3.evidence, Echoes) else ()
    if errors:
        own = decision.prefsrc if decision is not None else None
        meaning = _error_meaning(errors[0].text, errors[0].source, own)
        if meaning:
            text = _t("verdict-meaning", text=text, meaning=meaning)
    if path.status is Status.FAIL:
        kind = path.evidence.verdict.kind if isinstance(path.evidence, Trace) else None
        # Echoes that got an error did get an answer: the trace's silence is not theirs.
        if errors and kind == "no-answer":
            return text
        return _t("verdict-path", text=text, path=_path_words(path, l2))
    if route.status is Status.PASS and l2.status is Status.PASS:
        if decision is not None and decision.gateway:
            return _t("verdict-route-gateway-fine", text=text)
        return _t("verdict-route-fine", text=text)
    return text


def _path_words(path: Rung, l2: Rung) -> str:
    """The trace's finding, read together with the echo that also failed."""
    trace = path.evidence if isinstance(path.evidence, Trace) else None
    if trace is None or trace.verdict.kind != "no-answer" or trace.verdict.loop:
        return _t("path-trace", summary=summary(path))
    answered = [h for h in trace.hops if h.address]
    probes = _t("probes-tcp") if trace.protocol == "tcp" else _t("probes-icmp")
    if answered:
        last = answered[-1]
        return _t("path-last-answer", ttl=last.ttl, address=last.address, probes=probes)
    check = l2.evidence.check if isinstance(l2.evidence, NextHop) else None
    gateway = check.neighbour if check is not None and l2.status is Status.PASS else None
    if gateway and check is not None and check.via_gateway:
        return _t("path-gateway-silent", gateway=gateway)
    return _t("path-no-hop", probes=probes)


# -- the human output -----------------------------------------------------------------------------

_COLOURS = {Status.PASS: "green", Status.FAIL: "red", Status.WARN: "yellow", Status.SKIP: "dim"}


def lines(result: Diagnosis) -> Iterator[str]:
    """`netladder diagnose`'s output: the target, one line per rung, the verdict, what next."""
    address = ""
    if result.address and result.address != result.target:
        address = _t("head-address", address=result.address)
    yield paint(_t("head", target=result.target, address=address), "bold")
    width = max(5, *(columns(_(LINE_TITLES[rung.layer])) for rung in result.rungs))
    for rung in result.rungs:
        status = paint(f"{rung.status.value:<4}", _COLOURS[rung.status])
        ms = rung.elapsed * 1000
        took = _t("took", ms=ms) if ms >= 1 else ""
        # Summaries quote peers (an HTTP reason phrase, a lint message): never raw on a terminal.
        text = escape_controls(summary(rung))
        if rung.status is Status.SKIP:
            text = paint(text, "dim")
        title = _(LINE_TITLES[rung.layer])
        yield f"  {ljust(title, width)} {status}  {text}{paint(took, 'dim')}"
    verdict = result.verdict
    colour = "green" if result.ok else "red"
    yield paint(_t("verdict-line", text=escape_controls(verdict_text(verdict))), "bold", colour)
    if verdict.next_command:
        yield _t("next-line", command=verdict.next_command)
    yield paint(_t("elapsed", seconds=result.elapsed), "dim")


# -- --via ----------------------------------------------------------------------------------------


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return _t("via-and", names=", ".join(names[:-1]), last=names[-1])


def _layer_title(layer: str | None) -> str:
    return _(LINE_TITLES[layer]) if layer in LINE_TITLES else str(layer)


def problem_text(answer: Unreached) -> str:
    """Why the agent could not be asked."""
    p = answer.problem
    if p.kind == "bad-url":
        return _t("via-bad-url", detail=p.detail)
    if p.kind == "failed":
        assert p.failure is not None
        return http_sentence(p.failure)  # the HTTP check's own words for its failure
    if p.kind == "status":
        if p.detail:
            return _t("via-status-said", status=p.status, said=p.detail)
        return _t("via-status", status=p.status)
    return _t(f"via-{p.kind}")


def via_summary(answers: Sequence[Reached | Unreached]) -> str:
    """The one sentence that the agents' answers support."""
    failing = [a for a in answers if isinstance(a, Reached) and not a.ok]
    passing = [a for a in answers if isinstance(a, Reached) and a.ok]
    lost = [a for a in answers if isinstance(a, Unreached)]
    parts: list[str] = []
    f_names = [a.name for a in failing]
    p_names = [a.name for a in passing]
    if failing and passing:
        whose = _join([_t("via-whose", name=n) for n in f_names])
        parts.append(_t("via-split", failing=_join(f_names), passing=_join(p_names), whose=whose))
    elif failing:
        layers = sorted({_layer_title(a.layer or "?") for a in failing})
        if len(failing) == 1:
            parts.append(_t("via-fails-alone", name=f_names[0], layer=layers[0]))
        elif len(layers) == 1:
            parts.append(_t("via-fails-same", names=_join(f_names), layer=layers[0]))
        else:
            each = _join(
                [_t("via-fails-at", name=a.name, layer=_layer_title(a.layer)) for a in failing]
            )
            parts.append(_t("via-fails-each", each=each))
    elif passing:
        parts.append(_t("via-passes", names=_join(p_names)))
    if lost:
        said = "; ".join(_t("via-lost", name=a.name, problem=problem_text(a)) for a in lost)
        parts.append(_t("via-not-counted" if failing or passing else "via-none", lost=said))
    return "; ".join(parts)


def via_lines(report: ViaReport) -> Iterator[str]:
    """`diagnose --via`'s output: each agent's verdict, then what they say together."""
    answers = report.answers
    yield paint(_t("via-head", target=report.target, count=len(answers)), "bold")
    width = max(len(a.name) for a in answers)
    # An agent is a peer: what it says (its verdict, its error) is never raw on a terminal.
    for a in answers:
        if isinstance(a, Unreached):
            said = escape_controls(problem_text(a))
            yield f"  {a.name:<{width}}  {paint(_t('via-not-asked'), 'dim')}  {said}"
            continue
        status = paint(_t("via-pass"), "green") if a.ok else paint(_t("via-fail"), "red")
        yield f"  {a.name:<{width}}  {status}  {escape_controls(a.verdict_text)}"
    colour = "green" if report.ok else "red"
    summary = escape_controls(via_summary(answers))
    yield paint(_t("verdict-line", text=summary), "bold", colour)
