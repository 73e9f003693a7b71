"""Every line of `netladder port`, in nmap's shape: the notes, the scan's summary line, the
collapsed states ("Not shown: …"), then one line per port with its reason, and under it a
forged reset, the banner and the TLS details.  `sentence` says a note for JSON; `forged_reset`
and `banner_text` are said alike by `diagnose`."""

from __future__ import annotations

from collections.abc import Iterator

from netladder.i18n import N_, _, ngettext
from netladder.l4.model import Banner, Note, PortResult, PortState, ScanResult
from netladder.output import escape_controls, fmt_ms, paint

__all__ = ["TEMPLATES", "banner_text", "forged_reset", "hops_text", "lines", "sentence", "text"]

TEMPLATES: dict[str, str] = {
    "unprivileged-connect": N_("not privileged for a SYN scan (raw sockets): using a connect scan"),
    "note": N_("note: {note}"),
    "timeout": N_("timeout {timeout} ms"),
    "rtt": N_("rtt {rtt} ms, {timing}"),
    "seconds": N_("{seconds:.2f} s"),
    "ms": N_("{ms} ms"),
    "not-shown": N_("Not shown: {groups}"),
    "group": N_("{count} {state} {proto} ports ({reason}{before})"),
    "group-before": N_(", {hops} before the host"),
    "from": N_("{reason} from {reporter}"),
    "reason-rtt": N_("{reason} ({ms} ms)"),
    "try": N_("{reason} [try {tries}]"),
    "no-banner": N_("(no banner: {error})"),
    "tls-failed": N_("TLS: handshake failed: {error}"),
    "tls": N_("TLS: {version} {cipher}{alpn}"),
    "certificate": N_("certificate: {subject} (issuer {issuer}), {when}"),
    "nothing": N_("no ports scanned"),
    "interrupted": N_("interrupted: ports not probed to the end are 'unknown'"),
    "forged": N_(
        "the reset came from {hops} before the host (TTL {ttl}{theirs}): something on the "
        "path rejects the connection in the host's name"
    ),
    "forged-host": N_("; the host's own answers: TTL {host_ttl}"),
    # After what the service said: how its greeting ended, when not with a line end.
    "cut-limit": N_("(1 KiB without an end of line: cut there)"),
    "cut-timeout": N_("(no end of line within the wait: what came so far)"),
    "cut-closed": N_("(then the service closed the connection)"),
    "cut-reset": N_("(then the service reset the connection)"),
    "cut-error": N_("(then the connection failed)"),
    # When it said nothing at all.
    "nothing-reset": N_("(the service reset the connection before saying anything)"),
    "nothing-closed": N_("(the service closed the connection without a word)"),
    "nothing-error": N_("(the connection failed before the service said anything)"),
    "nothing-said": N_("(the service said nothing)"),
    "banner-cut": "{text} {cut}",
}
# The scan methods as the summary line names them.
_KIND = {"syn": N_("SYN scan"), "connect": N_("connect scan"), "udp": N_("UDP scan")}
_STATE_STYLE = {
    PortState.OPEN: ("green",),
    PortState.CLOSED: ("red",),
    PortState.FILTERED: ("yellow",),
    PortState.OPEN_FILTERED: ("yellow",),
    PortState.UNKNOWN: ("dim",),
}


def _t(key: str, **params: object) -> str:
    return _(TEMPLATES[key]).format(**params)


def _ms(seconds: float) -> float:
    """A duration as JSON has it (ms, 3 decimals): the text rounds the same value."""
    return round(seconds * 1000, 3)


def sentence(obj: object) -> str:
    """A note of the scan, said (JSON's `notes`)."""
    assert isinstance(obj, Note)
    return _t(obj.kind)


def banner_text(banner: Banner) -> str:
    """What a user would have seen in telnet, and how it ended when that matters."""
    if not banner.text:
        return _t(
            f"nothing-{banner.end}"
            if banner.end in ("reset", "closed", "error")
            else "nothing-said"
        )
    if banner.end in ("limit", "timeout", "closed", "reset", "error"):
        return TEMPLATES["banner-cut"].format(text=banner.text, cut=_t(f"cut-{banner.end}"))
    return banner.text


def hops_text(n: int) -> str:
    return ngettext("about {n} hop", "about {n} hops", n).format(n=n)


def forged_reset(row: PortResult, host_ttl: int | None) -> str:
    """What a reset from nearer than the host means: its TTL said it came from before the host
    (a router's `REJECT --reject-with tcp-reset`), so it is no proof that nothing listens."""
    theirs = _t("forged-host", host_ttl=host_ttl) if host_ttl else ""
    return _t("forged", hops=hops_text(row.reset_hops_before or 0), ttl=row.ttl, theirs=theirs)


def _reason(row: PortResult) -> str:
    text = row.reason
    if row.reporter:
        text = _t("from", reason=text, reporter=row.reporter)
    if row.rtt is not None and row.state is not PortState.FILTERED:
        text = _t("reason-rtt", reason=text, ms=fmt_ms(_ms(row.rtt)))
    if row.tries > 1:
        text = _t("try", reason=text, tries=row.tries)
    return text


def text(result: ScanResult) -> str:
    """The whole human output, newline-terminated."""
    return "\n".join(lines(result)) + "\n"


def lines(result: ScanResult) -> Iterator[str]:
    """Human text in nmap's shape: the summary of collapsed states, then one line per port."""
    name = (
        result.target if result.target == result.address else f"{result.target} ({result.address})"
    )
    for note in result.notes:
        yield paint(_t("note", note=sentence(note)), "dim")
    timing = _t("timeout", timeout=fmt_ms(_ms(result.timeout)))
    if result.srtt is not None:
        timing = _t("rtt", rtt=fmt_ms(_ms(result.srtt)), timing=timing)
    elapsed = _ms(result.elapsed)
    took = (
        _t("seconds", seconds=elapsed / 1000) if elapsed >= 1000 else _t("ms", ms=fmt_ms(elapsed))
    )
    yield ngettext(
        "{name}: {kind} of {scanned} {proto} port in {took} ({timing}, {probes} probes)",
        "{name}: {kind} of {scanned} {proto} ports in {took} ({timing}, {probes} probes)",
        result.scanned,
    ).format(
        name=name,
        kind=_(_KIND[result.method]),
        scanned=result.scanned,
        proto=result.proto,
        took=took,
        timing=timing,
        probes=result.probes_sent,
    )
    if result.not_shown:
        groups = ", ".join(
            _t(
                "group",
                count=g.count,
                state=g.state.value,
                proto=result.proto,
                reason=g.reason,
                before=_t("group-before", hops=hops_text(g.reset_hops_before))
                if g.reset_hops_before
                else "",
            )
            for g in result.not_shown
        )
        yield _t("not-shown", groups=groups)
    if result.ports:
        yield from _rows(result)
    elif not result.not_shown:
        yield _t("nothing")
    if result.interrupted:
        yield paint(_t("interrupted"), "yellow")


def _rows(result: ScanResult) -> Iterator[str]:
    width = max(9, *(len(f"{p.port}/{p.proto}") + 1 for p in result.ports))
    # Wide enough for the longest name (nmap-services has 15-letter ones), one space after.
    named = max(12, *(len(p.service) + 1 for p in result.ports))
    # nmap's column titles: not translated (scripts read them).
    yield f"{'PORT':<{width}}{'STATE':<14}{'SERVICE':<{named}}REASON"
    for row in result.ports:
        state = paint(f"{row.state.value:<14}", *_STATE_STYLE[row.state])
        where = f"{row.port}/{row.proto}"
        yield f"{where:<{width}}{state}{row.service or '-':<{named}}{_reason(row)}"
        pad = " " * width
        if row.reset_hops_before:
            yield pad + paint(forged_reset(row, result.host_ttl), "yellow")
        if row.banner is not None:
            yield f"{pad}{paint(banner_text(row.banner), 'cyan')}"
        elif row.banner_error:
            yield pad + _t("no-banner", error=row.banner_error)
        if row.tls is not None:
            tls = row.tls
            if tls.error:
                yield pad + _t("tls-failed", error=tls.error)
                continue
            alpn = f" alpn={tls.alpn}" if tls.alpn else ""
            yield pad + _t("tls", version=tls.version, cipher=tls.cipher, alpn=alpn)
            from netladder.render.tls import describe_validity  # as http shows it

            when, bad = describe_validity(tls.not_before, tls.not_after_offset)
            yield pad + _t(
                "certificate",
                subject=escape_controls(tls.subject) or "?",
                issuer=escape_controls(tls.issuer) or "?",
                when=paint(when, "red") if bad else when,
            )
