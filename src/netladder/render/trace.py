"""Every line of `netladder trace`: traceroute's layout (one-shot), mtr's report (--cycles), the
verdict and its notes — and the JSON sentences: a probe's `detail`, the verdict's `text` and
`notes` (`sentence`, in English inside JSON).

    one_shot(result)            traceroute's lines
    report(result, host)        mtr -r's lines (host: this machine's name, mtr's HOST: column)
    verdict_lines(result)       "verdict: …" and its notes
    verdict_text(verdict)       the verdict's sentence (the ladder quotes it)
    sentence(obj)               what to_jsonable asks for
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from netladder.i18n import N_, _
from netladder.output import fmt_ms, paint
from netladder.path.model import (
    Hop,
    HopRef,
    PathVerdict,
    ProbeResult,
    QuietHops,
    Rise,
    TraceResult,
)
from netladder.proto.icmp import error_text

__all__ = [
    "TEMPLATES",
    "detail",
    "header",
    "note",
    "one_shot",
    "report",
    "sentence",
    "verdict_lines",
    "verdict_text",
]

TEMPLATES: dict[str, str] = {
    # the header
    "header": N_("trace to {name}, {max_ttl} hops max, {where}, {flow}"),
    "name": "{target} ({address})",
    "where-port": N_("{protocol} port {port}"),
    "flow-constant": N_("constant flow (Paris)"),
    "flow-varies": N_("flow varies per probe"),
    # what answered a probe (JSON `detail`)
    "time-exceeded": N_("time exceeded"),
    "port-unreachable": N_("port unreachable"),
    "port-unreachable-router": N_(
        "port unreachable from a router, not the target: rejected on the way (a firewall)"
    ),
    "too-big": N_("packet too big (MTU {mtu})"),
    "echo-reply": N_("echo reply"),
    "udp-reply": N_("UDP reply"),
    "syn-ack": N_("SYN-ACK (open)"),
    "rst": N_("RST (closed)"),
    # the hops a verdict names
    "hop": N_("hop {ttl}"),
    "hop-address": N_("hop {ttl} ({address})"),
    "two": N_("{first} and {last}"),
    "series": N_("{items} and {last}"),
    # the verdict
    "nothing": N_("nothing answered"),
    "unreachable": N_("{where} answered {detail} {annotation}"),
    "unreachable-detail": N_("unreachable"),
    "loop-between": N_(
        "routing loop between {names}: hops {first}-{last} repeat up to hop {upto}, the "
        "destination is not reached"
    ),
    "loop-through": N_(
        "routing loop through {names}: hops {first}-{last} repeat up to hop {upto}, the "
        "destination is not reached"
    ),
    "max-ttl": N_("the destination was not reached within {ttl} hops; the last is {last}"),
    "silence": N_(
        "the destination did not answer; the last hop that answered is {last}, silence from "
        "hop {next} on"
    ),
    # Silence alone does not say who drops: a filter on the port, a router that forwards
    # nothing, a host that is down all look the same from here.
    "silence-tcp": N_(
        " (no SYN-ACK or RST for tcp port {port}: the probes are dropped on the way or at the "
        "host — a firewall on the port, a router that does not forward, or the host down; "
        "--proto icmp shows whether the host answers)"
    ),
    "loss": N_(
        "loss starts {where} and persists to the destination: {loss_pct:.1f}% at hop {ttl}, "
        "{destination_pct:.1f}% at the destination"
    ),
    "loss-between": N_("between {before} and {at}"),
    "loss-at": N_("at {at}"),
    "loss-udp": N_(
        " (only the destination loses: it may be rate-limiting ICMP port unreachable, 1/s by "
        "default on Linux; --proto icmp tells them apart)"
    ),
    "loss-also": N_("; also {latency}"),
    "latency": N_("+{added_ms:.1f} ms between {before} and {at}"),
    "ok": N_("no hop adds latency or loss (destination at hop {ttl}{figure})"),
    "ok-figure": N_(", {rtt_ms:.1f} ms"),
    "quiet": N_(
        "hop {ttl}: {loss_pct:.0f}% unanswered but later hops answer — the router is not "
        "answering or rate-limiting ICMP, not path loss"
    ),
    # the human lines around them
    "verdict-line": N_("verdict: {text}"),
    "note-line": N_("note: {text}"),
}

_COLOURS = {"ok": "green", "latency": "yellow", "loss": "yellow"}
_COLUMNS = ("Loss%", "Snt", "Last", "Avg", "Best", "Wrst", "StDev", "Javg", "Jmax")


def _t(key: str, **params: Any) -> str:
    return _(TEMPLATES[key]).format(**params)


def _ms(seconds: float) -> float:
    # Rounded to the nanosecond, the value is exactly the milliseconds the JSON carries.
    return round(seconds * 1000, 6)


# -- the layouts ----------------------------------------------------------------------------------


def header(result: TraceResult) -> str:
    where = result.protocol
    if result.port:
        where = _t("where-port", protocol=result.protocol, port=result.port)
    flow = _t("flow-constant") if result.flow_constant else _t("flow-varies")
    name = result.address
    if result.target != result.address:
        name = TEMPLATES["name"].format(target=result.target, address=result.address)
    return _t("header", name=name, max_ttl=result.max_ttl, where=where, flow=flow)


def one_shot(result: TraceResult) -> Iterator[str]:
    """traceroute's layout: the responder, then each probe's time or `*`."""
    yield header(result)
    for hop in result.hops:
        parts = [f"{hop.ttl:2d} "]
        shown: str | None = None
        for probe in hop.probes:
            if probe.address is None:
                parts.append(" *")
                continue
            if probe.address != shown:
                parts.append(f" {probe.address}")
                shown = probe.address
            note = f" {probe.annotation}" if probe.annotation else ""
            parts.append(f"  {fmt_ms(_ms(probe.rtt or 0.0))} ms{note}")
        yield "".join(parts)


def _cell(value: float | None) -> str:
    return f"{_ms(value):6.1f}" if value is not None else f"{'':>6}"


def report(result: TraceResult, host: str) -> Iterator[str]:
    """mtr -r's layout; several responders on one TTL are listed under it."""
    yield header(result)
    yield f"{'HOST: ' + host:<35}" + "".join(f"{c:>6}" for c in _COLUMNS)
    for hop in result.hops:
        yield _report_line(hop)
        for other in hop.responders[1:]:
            yield f"    |  `|-- {other}"


def _report_line(hop: Hop) -> str:
    s = hop.stats
    name = hop.address or "???"
    return (
        f"{hop.ttl:3d}.|-- {name:<27}{s.loss_pct:5.1f}%{s.sent:6d}"
        f"{_cell(s.last)}{_cell(s.avg)}{_cell(s.best)}{_cell(s.worst)}"
        f"{_cell(s.stdev)}{_cell(s.javg)}{_cell(s.jmax)}"
    ).rstrip()


def verdict_lines(result: TraceResult) -> Iterator[str]:
    v = result.verdict
    yield paint(_t("verdict-line", text=verdict_text(v)), _COLOURS.get(v.kind, "red"))
    for quiet in v.quiet.hops:
        yield _t("note-line", text=note(quiet.ttl, quiet.loss_pct))


# -- the sentences --------------------------------------------------------------------------------


def sentence(obj: object) -> Any:
    """The JSON sentence of a record (output.to_jsonable calls it): a probe's detail, the
    verdict's text, the quiet hops' notes (a list)."""
    if isinstance(obj, ProbeResult):
        return detail(obj)
    if isinstance(obj, PathVerdict):
        return verdict_text(obj)
    if isinstance(obj, QuietHops):
        return [note(q.ttl, q.loss_pct) for q in obj.hops]
    raise TypeError(f"no sentence for {type(obj).__name__}")


def detail(probe: ProbeResult) -> str:
    """What answered a probe: "time exceeded", "SYN-ACK (open)", the ICMP error's name …
    ("" for silence)."""
    answer = probe.answer
    if answer == "icmp-error":
        return error_text(probe.version, probe.icmp_type or 0, probe.icmp_code or 0)
    if answer == "too-big":
        return _t("too-big", mtu=probe.info)
    if answer == "connect-error":
        return os.strerror(probe.info)
    if not answer:
        return ""
    return _t(answer)


def note(ttl: int, loss_pct: float) -> str:
    return _t("quiet", ttl=ttl, loss_pct=loss_pct)


def _name(hop: HopRef) -> str:
    if hop.address:
        return _t("hop-address", ttl=hop.ttl, address=hop.address)
    return _t("hop", ttl=hop.ttl)


def _latency(rise: Rise) -> str:
    return _t("latency", added_ms=_ms(rise.added), before=_name(rise.before), at=_name(rise.at))


def _names(members: tuple[str, ...]) -> str:
    if len(members) == 2:
        return _t("two", first=members[0], last=members[1])
    return _t("series", items=", ".join(members[:-1]), last=members[-1])


def verdict_text(v: PathVerdict) -> str:
    """The verdict's sentence, from the finding and the evidence it names."""
    finding = v.finding
    if finding == "unreachable":
        assert v.last is not None and v.error is not None
        where = _t("hop-address", ttl=v.last.ttl, address=v.last.address)
        said = detail(v.error) or _t("unreachable-detail")
        return _t("unreachable", where=where, detail=said, annotation=v.error.annotation).rstrip()
    if finding == "loop":
        assert v.hop is not None and v.upto is not None
        key = "loop-between" if len(v.loop) == 2 else "loop-through"
        last = v.hop + len(v.loop) - 1
        return _t(key, names=_names(v.loop), first=v.hop, last=last, upto=v.upto)
    if finding == "max-ttl":
        assert v.last is not None
        return _t("max-ttl", ttl=v.last.ttl, last=_name(v.last))
    if finding == "silence":
        assert v.last is not None
        text = _t("silence", last=_name(v.last), next=v.last.ttl + 1)
        if v.protocol == "tcp" and v.port is not None:
            text += _t("silence-tcp", port=v.port)
        return text
    if finding == "loss":
        loss = v.loss
        assert loss is not None
        at = _name(loss.at)
        if loss.before is not None:
            where = _t("loss-between", before=_name(loss.before), at=at)
        else:
            where = _t("loss-at", at=at)
        text = _t(
            "loss",
            where=where,
            loss_pct=loss.loss_pct,
            ttl=loss.at.ttl,
            destination_pct=loss.destination_loss_pct,
        )
        if v.protocol == "udp" and loss.at_destination:
            text += _t("loss-udp")
        if v.rise is not None:
            text += _t("loss-also", latency=_latency(v.rise))
        return text
    if finding == "latency":
        assert v.rise is not None
        return _latency(v.rise)
    if finding == "ok":
        assert v.last is not None
        figure = _t("ok-figure", rtt_ms=_ms(v.rtt)) if v.rtt is not None else ""
        return _t("ok", ttl=v.last.ttl, figure=figure)
    return _t("nothing")
