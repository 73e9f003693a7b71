"""`netladder http`'s words: the response as curl -I shows it, the TLS details, the redirect
chain, the phase timings, the lint, and every failure — from the typed `HttpCheck`
(`l7/model.py`).  `sentence(obj)` words a `Failure`, a lint `Finding` or a `LintUnchecked`;
JSON carries those sentences in English (`output.to_jsonable`).

Templates have named placeholders only and pass through `_()` when used (issue 16 translates
them); a server's text is escaped for the terminal here, never in the engine.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from netladder.i18n import N_, _, ngettext
from netladder.output import escape_controls, fmt_ms, ljust, paint
from netladder.render.tls import describe_validity

if TYPE_CHECKING:
    from netladder.l7.lint import Finding
    from netladder.l7.model import Failure, Hop, HttpCheck, LintUnchecked, Timings

__all__ = [
    "FAILURES",
    "LINT",
    "error_line",
    "head_lines",
    "http2_note",
    "interrupted_lines",
    "lines",
    "sentence",
]

# -- lint findings: one template per rule (and case), the values the rule saw -----------------

LINT: dict[str, str] = {
    "www-authenticate": N_("401 Unauthorized without a WWW-Authenticate challenge"),
    "proxy-authenticate": N_("407 Proxy Authentication Required without Proxy-Authenticate"),
    "allow": N_("405 Method Not Allowed without Allow"),
    "upgrade": N_("{status} without Upgrade"),
    "redirect-location": N_("{status} redirect without Location"),
    "see-other-location": N_("303 See Other without Location: the client has nowhere to go"),
    "created-location": N_(
        "201 Created without Location: the new resource is taken to be the target URI"
    ),
    "no-content": N_("{status} response carried {bytes} bytes of content"),
    "no-content-length": N_("{status} response with Content-Length: {value!r}"),
    "reset-content": N_("205 Reset Content carried {bytes} bytes of content"),
    "head-content": N_("the HEAD response carried {bytes} bytes of content"),
    "head-like-get:status": N_("HEAD answered {head} but GET answers {get}"),
    "head-like-get:fields": N_("HEAD header fields differ from GET: {parts}"),
    "content-range": N_("206 Partial Content (single part) without Content-Range"),
    "unsatisfied-range:missing": N_("416 without Content-Range: bytes */LEN"),
    "unsatisfied-range:form": N_("416 Content-Range {value!r} is not of the form bytes */LEN"),
    "retry-after": N_("malformed Retry-After: {value!r} (neither seconds nor an HTTP-date)"),
    "date": N_("{status} response without Date"),
    "error-explained": N_("{status} error with no content to explain it"),
    "retry-after-missing": N_("{status} without Retry-After: clients cannot tell when to retry"),
    "content-length-with-transfer-encoding": N_(
        "both Transfer-Encoding: {te!r} and Content-Length: {cl!r} (the length is ignored; a "
        "proxy that uses it can be desynchronised)"
    ),
    "content-length:invalid": N_("invalid Content-Length: {value!r}"),
    "content-length:conflicting": N_("conflicting Content-Length values: {values}"),
    "location:character": N_("Location {value!r} has a character a URI cannot contain ({char!r})"),
    "location:reference": N_("Location {value!r} is not a URI reference ({reason})"),
}

# -- failures: one template per cause --------------------------------------------------------

FAILURES: dict[str, str] = {
    "setup": N_("cannot set up TLS: {reason}"),
    "timeout": N_("timed out {where} after {timeout:g} s"),
    "timeout-seen": N_("timed out {where} after {timeout:g} s ({received} bytes received)"),
    "reset": N_("connection reset by the server {where} ({received} bytes received)"),
    "os": N_("{words}: {reason}"),
    "resolve": N_("could not resolve {host!r}: {reason}"),
    "family": N_("{host} is not an IPv{version} address (-{version} was asked)"),
    "connect": N_("connect to {address} port {port} failed: {reason} ({name})"),
    "certificate": N_("certificate verify failed: {reason}"),
    "handshake": N_("TLS handshake failed: {reason}"),
    "closed-tls": N_("TLS handshake failed: the server closed the connection"),
    "protocol": N_("{detail}"),
    "interim": N_("more than {limit} informational (1xx) responses"),
    "closed-head-empty": N_("the server closed the connection before sending anything"),
    "closed-head": N_(
        "the server closed the connection after {received} bytes, in the middle of the "
        "response head"
    ),
    "chunked": N_("invalid chunked content: {detail}"),
    "closed-body": N_(
        "the server closed the connection after {bytes} bytes of content, before its end"
    ),
    "h2-closed-head": N_("the server closed the connection before the response"),
    "h2-closed-body": N_("the server closed the connection in the middle of the content"),
    "h2-head": N_("no response head within {limit} KiB"),
    "h2-protocol": N_("HTTP/2 protocol error: {detail}"),
    "h2-preface": N_(
        "HTTP/2 protocol error: the server's first frame is not SETTINGS (RFC 9113 §3.4); it "
        "starts with {first!r}"
    ),
    "h2-reset": N_("the server reset the stream (error code {code})"),
    "h2-goaway": N_("the server ended the connection (GOAWAY, error code {code})"),
    "h2-status": N_("invalid :status {status!r}"),
    "invalid": N_("invalid response: {detail}"),
    "too-many": N_("more than {limit} redirects"),
    "bad-target": N_("cannot follow the redirect: {detail}"),
    "loop": N_("redirect loop: {chain}"),
}

PHASE_WORDS: dict[str, str] = {
    "dns": N_("resolving the name"),
    "connect": N_("connecting"),
    "tls": N_("in the TLS handshake"),
    "request": N_("sending the request"),
    "response": N_("waiting for the response head"),
    "body": N_("reading the content"),
}
_RESET_WHERE = {
    "response": N_("in the middle of the response head"),
    "body": N_("in the middle of the content"),
}
_OS_WORDS = {"connect": N_("connect failed"), "tls": N_("TLS handshake failed")}


def failure_text(failure: Failure) -> str:
    params: dict[str, Any] = dict(failure.params)
    cause = failure.cause
    phase = params.get("during", failure.phase)  # a timeout's phase is when it struck
    if cause == "timeout":
        params["where"] = _(PHASE_WORDS.get(phase, phase))
        if phase in ("response", "body"):
            cause = "timeout-seen"
    elif cause == "reset":
        where = _RESET_WHERE.get(phase) or PHASE_WORDS.get(phase)
        params["where"] = _(where) if where else ""
    elif cause == "os":
        words = _OS_WORDS.get(phase)
        params["words"] = _(words) if words else phase
    elif cause == "loop":
        params["chain"] = " → ".join(params["chain"])
    return _(FAILURES[cause]).format(**params)


def finding_text(finding: Finding) -> str:
    params: dict[str, Any] = dict(finding.params)
    key = f"{finding.rule}:{finding.case}" if finding.case else finding.rule
    if key == "head-like-get:fields":
        parts = []
        if params["missing"]:
            parts.append(_("missing {names}").format(names=", ".join(params["missing"])))
        if params["extra"]:
            parts.append(_("extra {names}").format(names=", ".join(params["extra"])))
        for name, head, get in params["differ"]:
            parts.append(_("{name} {head!r} vs GET {get!r}").format(name=name, head=head, get=get))
        params = {"parts": "; ".join(parts)}
    elif key == "content-length:conflicting":
        params = {"values": ", ".join(repr(v) for v in params["values"])}
    return _(LINT[key]).format(**params)


def unchecked_text(unchecked: LintUnchecked) -> str:
    if unchecked.cause == "get-failed":
        why = failure_text(unchecked.failure) if unchecked.failure else _("no response")
        return _("the GET to compare with HEAD failed: {why}").format(why=why)
    assert unchecked.failure is not None
    return _("the check stopped before the GET to compare with HEAD ({why})").format(
        why=failure_text(unchecked.failure)
    )


def sentence(obj: object) -> str:
    """The sentence of a record that JSON carries as text (a Failure's message, a Finding's
    message, lint_unchecked)."""
    from netladder.l7.lint import Finding
    from netladder.l7.model import Failure, LintUnchecked

    if isinstance(obj, Failure):
        return failure_text(obj)
    if isinstance(obj, Finding):
        return finding_text(obj)
    if isinstance(obj, LintUnchecked):
        return unchecked_text(obj)
    raise TypeError(f"no sentence for {type(obj).__name__}")


# -- the terminal ----------------------------------------------------------------------------


def http2_note() -> str:
    return _("netladder http: note: --http2 is offered by TLS ALPN; http:// uses HTTP/1.1")


def head_lines(hop: Hop) -> Iterator[str]:
    """The status line and header fields, as curl -I prints them — with the server's control
    characters (an ESC sequence in the reason phrase or a value) escaped, as `port --banner`
    shows a greeting."""
    if hop.status is None:
        return
    reason = escape_controls(hop.reason)
    line = f"{hop.http_version} {hop.status}" + (f" {reason}" if reason else "")
    yield paint(line, "bold")
    for name, value in hop.headers:
        yield f"{paint(escape_controls(name), 'cyan')}: {escape_controls(value)}"
    yield ""


def interrupted_lines(check: HttpCheck) -> Iterator[str]:
    """Ctrl-C: the heads of the hops done so far (stdout)."""
    for hop in check.hops:
        yield from head_lines(hop)


def interrupted_note() -> str:
    return _("interrupted")


def lines(check: HttpCheck, *, body: bool, lint: bool, tty: bool) -> Iterator[str]:
    """The report on stdout: heads, content (`body`), TLS, redirects, timings, lint, SLOs."""
    for hop in check.hops:
        yield from head_lines(hop)
        if body and hop is check.final and hop.body:
            text = hop.body.decode("utf-8", "replace")
            if tty:  # escape sequences in the content must not drive the terminal
                text = escape_controls(text, keep="\n\t")
            # print() ends the line: a content that ends its last line keeps one newline
            yield text[:-1] if hop.body.endswith(b"\n") else text
    final = check.final
    if final.tls is not None:
        yield from _tls_lines(final)
    if len(check.hops) > 1:
        yield paint(_("redirects"), "bold")
        for i, hop in enumerate(check.hops, 1):
            status = "---" if hop.status is None else str(hop.status)
            arrow = (
                f"  → {escape_controls(hop.location)}" if hop.location and hop is not final else ""
            )
            total = hop.timings.total
            took = "" if total is None else f"  {fmt_ms(total * 1000)} ms"
            server = hop.timings.server
            detail = (
                "" if server is None else _(" (server {ms} ms)").format(ms=fmt_ms(server * 1000))
            )
            yield f"  {i:>2}  {status}  {hop.url}{arrow}{took}{detail}"
        yield ""
    yield from _timing_lines(final.timings, final.tls is not None)
    if final.status is not None and final.method != "HEAD":
        size = ngettext("{count} bytes", "{count} bytes", final.body_bytes).format(
            count=final.body_bytes
        ) + (_(" (stopped at the read limit)") if final.body_truncated else "")
        hint = "" if body else _(" (--body to print it)")
        yield _("content: {size}{hint}").format(size=size, hint=hint)
    if len(check.hops) > 1:
        yield _("total over {count} requests: {ms} ms").format(
            count=len(check.hops), ms=fmt_ms(check.total * 1000)
        )
    yield from _lint_lines(final, lint, check.lint_unchecked)
    for v in check.slo_violations:
        yield paint(
            _("SLO exceeded: {key} {actual} ms > {limit} ms").format(
                key=v.key, actual=fmt_ms(v.actual * 1000), limit=fmt_ms(v.limit * 1000)
            ),
            "red",
        )
    if check.error is None and not check.status_expected:
        yield paint(
            _("FAIL: status {status} is not expected ({expect})").format(
                status=final.status, expect=",".join(check.expect)
            ),
            "red",
        )


def error_line(check: HttpCheck) -> str | None:
    """The failure that stopped the check, for stderr."""
    if check.error is None:
        return None
    return paint(
        _("netladder http: {message}").format(message=escape_controls(sentence(check.error))),
        "red",
        stream=sys.stderr,
    )


def _tls_lines(hop: Hop) -> Iterator[str]:
    tls = hop.tls
    assert tls is not None
    alpn = _(", ALPN {alpn}").format(alpn=escape_controls(tls.alpn)) if tls.alpn else ""
    yield f"{paint('TLS', 'bold')}      {tls.version}, {tls.cipher}{alpn}"
    subject = escape_controls(tls.subject) or _("(no subject)")
    cert = _("cert")  # padded to TLS's column by the width a terminal gives it
    yield (
        paint(cert, "bold")
        + ljust(cert, 9)[len(cert) :]
        + _("{subject}  issuer {issuer}").format(
            subject=subject, issuer=escape_controls(tls.issuer)
        )
    )
    when, bad = describe_validity(tls.not_before, tls.not_after)
    if bad:
        when = paint(when, "red")
    match = (
        _("hostname matches") if tls.hostname_match else paint(_("hostname does NOT match"), "red")
    )
    verified = "" if tls.verified else _(", not verified (--insecure)")
    sans = escape_controls(", ".join(tls.sans)) or _("no SANs")
    yield f"         {sans}; {when}; {match}{verified}"
    yield ""


_PHASES = (
    (N_("DNS lookup"), "dns", "cyan"),
    (N_("TCP connect"), "tcp", "blue"),
    (N_("TLS handshake"), "tls", "magenta"),
    (N_("server processing"), "server", "yellow"),
    (N_("content transfer"), "transfer", "green"),
)
_BAR = 40
_POINTS = ("namelookup", "connect", "appconnect", "pretransfer", "starttransfer", "total")


def _timing_lines(t: Timings, tls: bool) -> Iterator[str]:
    total = t.total
    if total is None:
        reached = [
            (label, getattr(t, attr))
            for label, attr, _colour in _PHASES
            if getattr(t, attr) is not None and (tls or attr != "tls")
        ]
        if reached:
            yield _("timings before the failure: {phases}").format(
                phases=", ".join(
                    _("{label} {ms} ms").format(label=_(label), ms=fmt_ms(v * 1000))
                    for label, v in reached
                )
            )
        return
    total_ms = total * 1000
    scale = _BAR / total_ms if total_ms > 0 else 0.0
    start = 0.0
    for label, attr, colour in _PHASES:
        value: float | None = getattr(t, attr)
        if attr == "tls" and not tls:
            yield f"  {ljust(_(label), 18)} {'-':>8}"
            continue
        if value is None:
            continue
        value *= 1000
        offset = round(start * scale)
        width = max(1 if value > 0 else 0, round(value * scale))
        width = min(width, _BAR - min(offset, _BAR - 1)) if width else 0
        bar = " " * min(offset, _BAR - 1) + paint("█" * width, colour)
        yield f"  {ljust(_(label), 18)} {fmt_ms(value):>8} ms  |{bar}"
        start += value
    total_label = _("total")
    yield f"  {ljust(total_label, 18)} {fmt_ms(total_ms):>8} ms"
    points = [(k, getattr(t, k)) for k in _POINTS]
    yield paint(
        "  "
        + "  ".join(f"{k} {fmt_ms(v * 1000)}" for k, v in points if v is not None)
        + _(" ms (cumulative, as curl -w)"),
        "dim",
    )


def _lint_lines(hop: Hop, full: bool, unchecked: LintUnchecked | None = None) -> Iterator[str]:
    from netladder.l7.lint import RULES

    findings = hop.lint
    if not full:
        if findings:
            first = findings[0]
            more = (
                _(" and {count} more").format(count=len(findings) - 1) if len(findings) > 1 else ""
            )
            yield paint(
                _("lint: {message} ({level}, {section}){more} — --lint for details").format(
                    message=escape_controls(finding_text(first)),
                    level=first.level,
                    section=first.section,
                    more=more,
                ),
                "yellow",
            )
        return
    if hop.status is None or hop.error is not None:
        # Only a response that arrived whole is linted: say so, not "no findings".
        yield _("lint: not run (no complete response to check)")
        return
    checked = len(RULES) - (1 if unchecked else 0)
    if not findings:
        of = (
            _("{checked} of {total}").format(checked=checked, total=len(RULES))
            if unchecked
            else f"{len(RULES)}"
        )
        yield _("lint: no findings ({of} rules checked, RFC 9110 and RFC 9112)").format(of=of)
    else:
        yield paint(
            ngettext("lint: {count} finding", "lint: {count} findings", len(findings)).format(
                count=len(findings)
            ),
            "bold",
        )
        for f in findings:
            colour = "red" if f.failing else "yellow"
            yield (
                f"  {paint(f.level, colour):<9} {escape_controls(finding_text(f))}  "
                f"[{f.rule}, {f.section}]"
            )
    if unchecked:
        yield paint(
            _("lint: head-like-get not checked: {why}").format(
                why=escape_controls(unchecked_text(unchecked))
            ),
            "yellow",
        )
