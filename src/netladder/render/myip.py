"""`netladder myip`'s words: the verdict (behind a NAT or not, sources that disagree), a line
per source with its address or why it has none, the notes, where the endpoints came from —
from the typed `MyIp` (its records are `names/model.py`'s; `names/myip.py` makes them).
`sentence(obj)` words a `Verdict`, a `Note`, a `SourceFailure` and a source's detail; JSON
carries them in English."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from netladder.i18n import N_, _
from netladder.output import fmt_ms, paint

if TYPE_CHECKING:
    from netladder.names.model import MyIp, Note, Part, SourceFailure, SourceResult, Verdict

__all__ = ["FAILURES", "NOTES", "failure_text", "lines", "sentence"]

FAILURES: dict[str, str] = {
    # HTTP echoes
    "resolve": N_("cannot resolve {host}: {reason}"),
    "family": N_("{host} is not an IPv{version} address (-{version} was asked)"),
    "connect": N_("cannot connect to {address} port {port}: {reason}"),
    "tls": N_("cannot connect to {address} port {port}: {http}"),
    "http": N_("not a valid HTTP answer: {http}"),
    "os": N_("{reason}"),
    "status": N_("HTTP {status}: no address"),
    "too-large": N_("the body is larger than {limit} KiB: not an echo"),
    "unusable": N_("unusable answer: {detail}"),
    "still-resolving": N_("still resolving {host}"),
    "still-connecting": N_("still connecting to {server} port {port}"),
    "still-waiting": N_("still waiting for the answer of {server}"),
    # STUN servers
    "send": N_("cannot send to {server}: {reason}"),
    "refused": N_("nothing listens on {server} port {port} (ICMP port unreachable)"),
    "recv": N_("{server}: {reason}"),
    "malformed": N_("malformed STUN answer: {detail}"),
    "fingerprint": N_("malformed STUN answer: FINGERPRINT does not match"),
    "stun-error": N_("STUN error {code} {reason}"),
    "stun-error-bare": N_("STUN error"),
    "echo": N_("the server sent our own Binding request back: an echo service, not a STUN server"),
    "unexpected": N_("unexpected STUN message type 0x{type:04x}"),
    "no-mapped": N_("the STUN answer carries no (XOR-)MAPPED-ADDRESS"),
    "no-answer": N_("no answer to {sent} Binding request(s)"),
    "no-answer-ignored": N_(
        "no answer to {sent} Binding request(s); {ignored} unrelated or unparsable datagram(s) "
        "ignored"
    ),
}
CUTS: dict[str, str] = {
    "timeout": N_("timeout after {after:g} s: {what}"),
    "interrupted": N_("interrupted after {after:.1f} s: {what}"),
}
PARTS: dict[str, str] = {
    "nat": N_("behind NAT: local {local}, public {public}"),
    "no-nat": N_("not behind NAT: public address {public} is this host's own"),
    "disagree": N_("IPv{version} sources disagree: {said}"),
}
NOTES: dict[str, str] = {
    "inside": N_(
        "{endpoints} saw this host's own address: that endpoint is reached without the NAT (it "
        "is on the inside, or on another path)"
    ),
    "pool": N_(
        "different public addresses: the HTTP request may go through a proxy, or the NAT uses "
        "a pool of outside addresses (CGNAT), or an echo service reports a proxy's address"
    ),
    "translator": N_(
        "{endpoint} answered a request from IPv{local_version} address {local} with "
        "IPv{version} address {address}: a translator (NAT64, SIIT) is on the way, or the "
        "server answers wrongly"
    ),
    "port-preserved": N_("{endpoint}: port preserved ({port})"),
    "port-translated": N_("{endpoint}: port translated {local} -> {mapped}"),
}


def failure_text(failure: SourceFailure) -> str:
    from netladder.render import http

    params: dict[str, Any] = dict(failure.params)
    kind = failure.kind
    if kind == "still":
        kind = f"still-{params['stage']}"
    elif kind == "no-answer" and params.get("ignored"):
        kind = "no-answer-ignored"
    if failure.http is not None:
        params["http"] = http.sentence(failure.http)
    text = _(FAILURES[kind]).format(**params)
    if kind == "stun-error":
        text = text.rstrip()  # a reason phrase may be empty
    if failure.cut is not None:
        return _(CUTS[failure.cut]).format(after=failure.after or 0.0, what=text)
    return text


def _part(part: Part) -> str:
    if part.kind == "disagree":
        said = "; ".join(
            _("{endpoint} says {address}").format(endpoint=e, address=a) for e, a in part.said
        )
        return _(PARTS["disagree"]).format(version=part.version, said=said)
    return _(PARTS[part.kind]).format(local=", ".join(part.local), public=part.public)


def verdict_text(verdict: Verdict) -> str:
    if not verdict.parts:
        return _("no source gave an address") if verdict.total else _("no endpoints to ask")
    text = "; ".join(_part(p) for p in verdict.parts)
    if verdict.failed:
        text += _(" ({failed} of {total} sources failed)").format(
            failed=verdict.failed, total=verdict.total
        )
    return text


def note_text(note: Note) -> str:
    params: dict[str, Any] = dict(note.params)
    if note.kind == "inside":
        params["endpoints"] = ", ".join(params["endpoints"])
    return _(NOTES[note.kind]).format(**params)


def detail_text(source: SourceResult) -> str:
    if not source.ok:
        return ""
    if source.kind == "http":
        return _("HTTP {status}").format(status=source.status)
    return _("{count} request(s)").format(count=source.requests)


def sentence(obj: object) -> str:
    """The sentence of a record JSON carries as text."""
    from netladder.names.model import Note, SourceFailure, SourceResult, Verdict

    if isinstance(obj, SourceFailure):
        return failure_text(obj)
    if isinstance(obj, Verdict):
        return verdict_text(obj)
    if isinstance(obj, Note):
        return note_text(obj)
    if isinstance(obj, SourceResult):
        return detail_text(obj)
    raise TypeError(f"no sentence for {type(obj).__name__}")


def lines(result: MyIp) -> Iterator[str]:
    out = sys.stdout
    colour = "green" if result.ok and result.agree else ("yellow" if result.ok else "red")
    yield paint(verdict_text(result.verdict), colour, "bold", stream=out)
    width = max((len(s.endpoint) for s in result.sources), default=0)
    for s in result.sources:
        took = f"{fmt_ms(s.time * 1000)} ms" if s.time is not None else "-"
        label = f"  {s.kind:<4} {s.endpoint:<{width}}  "
        if s.ok:
            mapped = f":{s.mapped_port}" if s.mapped_port is not None else ""
            local = ""
            if s.local_address:
                port = f":{s.local_port}" if s.mapped_port is not None else ""
                local = _("  (local {address})").format(address=f"{s.local_address}{port}")
            yield f"{label}{s.address}{mapped}{local}  {took}"
        else:
            error = failure_text(s.error) if s.error is not None else ""
            yield (
                label
                + paint(_("failed: {error}").format(error=error), "red", stream=out)
                + f"  {took}"
            )
    for note in result.notes:
        yield paint(_("  note: {note}").format(note=note_text(note)), "dim", stream=out)
    yield paint(
        _("  endpoints from {source}").format(source=result.endpoints_from), "dim", stream=out
    )
