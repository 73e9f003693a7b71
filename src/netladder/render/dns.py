"""Every sentence of `netladder dns`: the resolution's outcome, each attempt's detail, the
comparison with the system resolver, and the human output around them.

`sentence(obj)` fills the JSON sentences (`output.to_jsonable(doc, sentence)`): a Resolution's
or a Chase's `message`, an Attempt's `detail`, a SystemLookup's `error` (None when it
succeeded) and a Comparison's `explanations` (a list, one sentence per reason).
"""

from __future__ import annotations

import errno as errno_mod
import os
from collections.abc import Iterator
from typing import Any

from netladder.i18n import N_, _, ngettext
from netladder.names.model import (
    Attempt,
    Chase,
    Comparison,
    Finding,
    Reason,
    Record,
    Resolution,
    Status,
    Stray,
    SystemLookup,
)
from netladder.output import fmt_ms, paint

__all__ = ["comparison_lines", "lines", "sentence"]

SLOW_MS = 1000.0  # an answer slower than this is flagged: many clients give up around here

# What each response code means, plainly (RFC 1035 §4.1.1, RFC 6895 §2.3).
RCODE_MEANINGS: dict[str, str] = {
    "NOERROR": N_("the query succeeded"),
    "FORMERR": N_("the server could not understand the query"),
    "SERVFAIL": N_(
        "the server failed to produce an answer (a broken upstream, a lame delegation or a "
        "DNSSEC failure)"
    ),
    "NXDOMAIN": N_("the name does not exist"),
    "NOTIMP": N_("the server does not implement this kind of query"),
    "REFUSED": N_(
        "the server refuses to answer this query (not its zone, or no recursion for this client)"
    ),
}

# A resolution's outcome, by Finding.kind ({where}: "answer from SERVER", or "authoritative
# answer from SERVER").
TEMPLATES: dict[str, str] = {
    "nxdomain": N_("NXDOMAIN: {name} does not exist ({where})"),
    "nxdomain-alias": N_(
        "NXDOMAIN: {name} is an alias of {target}, which does not exist ({where})"
    ),
    "cname-loop": N_("CNAME loop: {path} ({where}): the name leads to no records"),
    "cname-incomplete": N_(
        "incomplete answer from {server}: it ends at the CNAME to {target} without its {type} "
        "records or a negative answer for it"
    ),
    "referral": N_(
        "referral from {server}: no answer for {name}, only the servers of {zone} ({names}); "
        "ask a recursive resolver or one of those"
    ),
    "nodata": N_("no {type} records: {target} exists but has none of that type ({where})"),
    "rcode": N_("{rcode}: {meaning} ({server})"),
    "not-asked": N_("no server asked before the deadline"),
    "malformed": N_("malformed answer from {server}: {said}"),
    "tc-over-tcp": N_("incomplete answer from {server}: {said}"),
    "timeout": N_("timeout: no answer from {servers} ({said})"),
    "unreachable": N_("no server reachable ({servers}): {said}"),
    "unreachable-tcp": N_("{server} could not be asked over TCP: {said}"),
    "no-resolver": N_("no resolver configured: {problem}"),
    "unreadable": N_("cannot read {path}: {why}"),
    "no-nameserver": N_("{path} names no nameserver"),
    "said-after-tc": N_("its UDP answer was truncated (TC), and over TCP: {detail}"),
    "lead": N_("incomplete answer from {server}: it ends at the CNAME to {target}"),
    "chase-no-time": N_("{lead}, and no time was left to ask for it"),
    "chase-loop": N_(
        "CNAME loop: {path} (asking for each target in turn): the name leads to no records"
    ),
    "asked": N_("asked for {name}"),
    "asked-along": N_("following the CNAMEs, asked for {name}"),
    "chased-nodata": N_("{server} says {name} exists but has no {type} records (NODATA)"),
    "chased-nxdomain": N_("{server} says {name} does not exist (NXDOMAIN)"),
    "chased-found": N_("{lead}; {asked}, {found}"),
    "chased-failed": N_("{lead}; {asked}: {message}"),
    "answer": N_("answer from {server}"),
    "authoritative": N_("authoritative answer from {server}"),
}

# An attempt's detail, by its cause.
DETAILS: dict[str, str] = {
    "refused": N_("nothing listens there (connection refused / ICMP port unreachable)"),
    "no-route": N_("no route to the server ({strerror})"),
    "os": "{strerror} {name}",
    "garbage": N_("{size} bytes that do not parse as a DNS message ({why})"),
    "closed": N_("the server closed the connection after {size} bytes of the answer"),
    "tc-over-tcp": N_("the answer has TC set over TCP: the server says it is incomplete"),
    "timeout-tcp": N_("no answer in {took:.1f} s over TCP"),
    "with-strays": "{detail}; {strays}",
}

# Replies waited past, by Stray.kind.
STRAYS: dict[str, str] = {
    "short": N_("a {size}-byte message, shorter than a DNS header"),
    "id": N_("ID mismatch (expected ID {expected}, got {got})"),
    "query": N_("a query, not a response (QR clear)"),
    "opcode": N_("opcode {text}, not QUERY"),
    "question": N_("question mismatch (got {text})"),
}

# Why getaddrinfo and the direct query disagree, by Reason.kind.
REASONS: dict[str, str] = {
    "direct-incomplete": N_("the direct {type} query settled nothing: {message}"),
    "chased": N_(
        "{after} answered {name} {type} with the CNAME to {target} but neither its records nor "
        "a negative answer: an incomplete answer"
    ),
    "chased-glibc": N_(
        "; getaddrinfo (glibc) does not ask for the target itself, so it gets no {type} record "
        "from that answer"
    ),
    "chased-found": N_("; asked for {name} directly, {server} gives {addresses}"),
    "hosts-file-before": N_(
        "{path} maps {name} to {where}; nsswitch.conf '{order}' reads it before DNS, and the "
        "direct query never reads it"
    ),
    "hosts-file-after": N_(
        "{path} maps {name} to {where}; nsswitch.conf '{order}' reads it after DNS, and the "
        "direct query never reads it"
    ),
    "hosts-line": N_("{address} (line {line})"),
    "no-dns-source": N_("nsswitch.conf '{order}' does not consult DNS at all"),
    "other-sources": N_("nsswitch.conf also consults {others}, which may have answered"),
    "other-servers": N_(
        "the system resolver asks {servers} ({path}); the direct query asked {asked}"
    ),
    "search-list": N_(
        "getaddrinfo applied the search list ({path}: search {search}, ndots:{ndots}) and "
        "resolved {name} as {candidate}; the direct query asks for {name}. only"
    ),
    "system-failed": N_(
        "getaddrinfo failed ({error}) where the direct query succeeded: its own "
        "timeout/attempts (options timeout:{timeout:g} attempts:{attempts}) or another "
        "nsswitch source may be the cause"
    ),
    "direct-failed": N_("getaddrinfo found {addresses} but the direct query did not ({failures})"),
    "differ": N_(
        "the answers differ without a local cause: the server may rotate or vary its answers "
        "(load balancing, geo DNS), or a cache on the way holds an older answer"
    ),
    "none": N_("none"),
}

# The human output around them.
LINES: dict[str, str] = {
    "head": "{name} {type}: ",
    "more": N_(" (+{n} more)"),
    "slow": N_("  slow: over {seconds:g} s"),
    "authoritative": N_(", authoritative"),
    "answered": N_("  {rcode} from {server} over {transport} in {when}{aa}{slow}"),
    "took": N_("{ms} ms"),
    "asked": N_("  asked for {name}: {answer}"),
    "asked-answer": N_("{rcode} from {server} over {transport}{took}"),
    "asked-took": N_(" in {ms} ms"),
    "retried": N_(" (truncated: retried over TCP)"),
    "tried": N_("  tried {server} {transport}: {what} in {took}{detail}"),
    # An attempt without an answer, by its outcome: whole sentences, not the outcome's English
    # word in "tried"'s {what} (a Korean line said "timeout").
    "tried-timeout": N_("  tried {server} {transport}: timeout in {took}{detail}"),
    "tried-unreachable": N_("  tried {server} {transport}: unreachable in {took}{detail}"),
    "tried-malformed": N_("  tried {server} {transport}: malformed in {took}{detail}"),
    "tried-incomplete": N_("  tried {server} {transport}: incomplete in {took}{detail}"),
    "system-ok": N_("system resolver (getaddrinfo): {addresses}{canonical} in {ms} ms"),
    "system-canonical": N_(" (canonical name {name})"),
    "system-failed": N_("system resolver (getaddrinfo): {failed}: {error} after {ms} ms"),
    "failed": N_("failed"),
    "direct": N_("direct DNS query {type:<4}: {what}{via}{took}{note}"),
    "direct-via": N_(" from {server}"),
    "direct-note": N_(
        " (that answer ended at the CNAME to {target}; asked for {name}, {server} gave the records)"
    ),
    "agree": N_("they agree"),
    "disagree": N_("they disagree:"),
    "explanation": "  - {text}",
}


def _ms(seconds: float | None) -> float | None:
    """The milliseconds JSON shows (rounded to the microsecond), for the same text as before."""
    return None if seconds is None else round(seconds * 1000, 3)


# -- sentences ---------------------------------------------------------------------------------


def sentence(obj: object) -> Any:
    """The JSON sentence of a record (see the module docstring), in the current language."""
    if isinstance(obj, Resolution):
        return resolution_text(obj)
    if isinstance(obj, Chase):
        assert obj.resolution is not None
        return resolution_text(obj.resolution)
    if isinstance(obj, Attempt):
        return attempt_text(obj)
    if isinstance(obj, SystemLookup):
        return system_error(obj)
    if isinstance(obj, Comparison):
        return [reason_text(r) for r in obj.reasons]
    raise TypeError(f"no sentence for {type(obj).__name__}")


def _where(r: Resolution) -> str:
    key = "authoritative" if r.authoritative else "answer"
    return _(TEMPLATES[key]).format(server=r.server)


def _plural(n: int, text: str, **params: Any) -> str:
    """`text` is ngettext's choice for `n` (a plural entry of the catalog: Korean has one form)."""
    return text.format(n=n, **params)


def _said(finding: Finding) -> str:
    attempt = finding.attempt
    assert attempt is not None
    detail = attempt_text(attempt)
    if finding.after_tc:
        return _(TEMPLATES["said-after-tc"]).format(detail=detail)
    return detail


def _lead(r: Resolution) -> str:
    target = r.chased[0].name if r.chased else r.chain[-1].value
    return _(TEMPLATES["lead"]).format(server=r.server, target=target)


def resolution_text(r: Resolution) -> str:
    """What the resolution came to (JSON `message`)."""
    f = r.finding
    kind = f.kind
    t = TEMPLATES
    if kind == "records":
        n = len(r.answers)
        text = _plural(n, ngettext("{n} {type} record", "{n} {type} records", n), type=r.type)
        return f"{text} ({_where(r)})"
    if kind == "nxdomain":
        if r.chain:
            text = _(t["nxdomain-alias"]).format(
                name=r.name, target=r.chain[-1].value, where=_where(r)
            )
        else:
            text = _(t["nxdomain"]).format(name=r.name, where=_where(r))
        return text + _ignored(r.answers, r.type)
    if kind == "cname-loop":
        path = " -> ".join([r.name, *(c.value for c in r.chain)])
        return _(t["cname-loop"]).format(path=path, where=_where(r))
    if kind == "cname-incomplete":
        return _(t["cname-incomplete"]).format(
            server=r.server, target=r.chain[-1].value, type=r.type
        )
    if kind == "referral":
        return _(t["referral"]).format(
            server=r.server, name=r.name, zone=f.zone, names=", ".join(f.names)
        )
    if kind == "nodata":
        target = r.chain[-1].value if r.chain else r.name
        text = _(t["nodata"]).format(type=r.type, target=target, where=_where(r))
        if f.others:
            text += _plural(
                f.others,
                ngettext(
                    "; the answer section holds {n} record for other names, ignored",
                    "; the answer section holds {n} records for other names, ignored",
                    f.others,
                ),
            )
        return text
    if kind == "rcode":
        meaning = _(RCODE_MEANINGS[r.rcode]) if r.rcode in RCODE_MEANINGS else _("an error")
        return _(t["rcode"]).format(rcode=r.rcode, meaning=meaning, server=r.server)
    if kind == "not-asked":
        return _(t["not-asked"])
    if kind in ("malformed", "tc-over-tcp"):
        assert f.attempt is not None
        return _(t[kind]).format(server=f.attempt.server, said=_said(f))
    if kind == "timeout":
        return _(t["timeout"]).format(servers=_servers(r), said=_said(f))
    if kind == "unreachable":
        assert f.attempt is not None
        if any(a.truncated and a.transport == "udp" for a in r.attempts):
            return _(t["unreachable-tcp"]).format(server=f.attempt.server, said=_said(f))
        return _(t["unreachable"]).format(servers=_servers(r), said=_said(f))
    if kind == "no-resolver":
        return _(t["no-resolver"]).format(problem=_problem(r))
    if kind == "chase-no-time":
        return _(t["chase-no-time"]).format(lead=_lead(r))
    if kind == "chase-loop":
        path = " -> ".join([r.name, *(c.value for c in r.chain)])
        return _(t["chase-loop"]).format(path=path)
    if kind == "chased":
        return _chased(r)
    raise ValueError(f"unknown finding {kind!r}")


def _ignored(answers: tuple[Record, ...], rdtype: str) -> str:
    """An NXDOMAIN answer that lists records all the same (a broken or hostile server): they
    are kept and shown as evidence, and said to count for nothing."""
    if not answers:
        return ""
    n = len(answers)
    return _plural(
        n,
        ngettext(
            "; yet its answer section holds {n} {type} record, ignored: NXDOMAIN says the "
            "name does not exist",
            "; yet its answer section holds {n} {type} records, ignored: NXDOMAIN says the "
            "name does not exist",
            n,
        ),
        type=rdtype,
    )


def _servers(r: Resolution) -> str:
    return ", ".join(dict.fromkeys(a.server for a in r.attempts))


def _problem(r: Resolution) -> str:
    config = r.config
    path = config.path if config is not None else r.servers_from
    if config is not None and config.unreadable is not None:
        return _(TEMPLATES["unreadable"]).format(path=path, why=config.unreadable)
    return _(TEMPLATES["no-nameserver"]).format(path=path)


def _chased(r: Resolution) -> str:
    t = TEMPLATES
    step = r.chased[-1]
    last = step.resolution
    assert last is not None
    key = "asked" if len(r.chased) == 1 else "asked-along"
    asked = _(t[key]).format(name=step.name)
    lead = _lead(r)
    if last.status is Status.OK:
        n = len(last.answers)
        found = _plural(
            n,
            ngettext("{server} gives {n} {type} record", "{server} gives {n} {type} records", n),
            server=step.server,
            type=r.type,
        )
    elif last.status is Status.NODATA:
        found = _(t["chased-nodata"]).format(server=step.server, name=last.canonical, type=r.type)
    elif last.status is Status.NXDOMAIN:
        found = _(t["chased-nxdomain"]).format(server=step.server, name=last.canonical)
        found += _ignored(last.answers, r.type)
    else:
        return _(t["chased-failed"]).format(lead=lead, asked=asked, message=resolution_text(last))
    return _(t["chased-found"]).format(lead=lead, asked=asked, found=found)


def stray_text(stray: Stray) -> str:
    text = stray.text or (_("no question") if stray.kind == "question" else "")
    return _(STRAYS[stray.kind]).format(
        size=stray.size, expected=stray.expected, got=stray.got, text=text
    )


def strays_text(attempt: Attempt) -> str:
    if not attempt.ignored:
        return ""
    more = "; ..." if attempt.ignored > len(attempt.strays) else ""
    reasons = "; ".join(stray_text(s) for s in attempt.strays)
    return _plural(
        attempt.ignored,
        ngettext(
            "ignored {n} reply that is not an answer to this query: {reasons}{more}",
            "ignored {n} replies that are not an answer to this query: {reasons}{more}",
            attempt.ignored,
        ),
        reasons=reasons,
        more=more,
    )


def attempt_text(a: Attempt) -> str:
    """How one exchange went, beyond its outcome (JSON `detail`)."""
    d = DETAILS
    if a.outcome == "answer":
        return strays_text(a)
    if a.cause == "tc-over-tcp":
        return _(d["tc-over-tcp"])
    if a.outcome == "unreachable":
        code = a.errno or 0
        strerror = os.strerror(code) if code else ""
        if a.cause == "refused":
            return _(d["refused"])
        if a.cause == "no-route":
            return _(d["no-route"]).format(strerror=strerror)
        return d["os"].format(strerror=strerror, name=errno_mod.errorcode.get(code, "")).strip()
    if a.outcome == "malformed":
        return _(d[a.cause]).format(size=a.size, why=a.why)
    took = a.time or 0.0
    if a.transport == "tcp":
        text = _(d["timeout-tcp"]).format(took=took)
    else:
        text = _plural(
            a.sent,
            ngettext(
                "no answer in {took:.1f} s ({n} query sent)",
                "no answer in {took:.1f} s ({n} queries sent)",
                a.sent,
            ),
            took=took,
        )
    if a.ignored:
        text = d["with-strays"].format(detail=text, strays=strays_text(a))
    return text


def system_error(s: SystemLookup) -> str | None:
    """Why getaddrinfo gave nothing (JSON `error`), None when it answered."""
    if s.ok:
        return None
    if s.waited is not None:
        return _("no result in {wait:.0f} s").format(wait=s.waited)
    if s.code is not None:
        return f"{s.reason} ({s.code})"
    return s.reason


def reason_text(reason: Reason) -> str:
    """One explanation of a disagreement."""
    t = REASONS
    kind = reason.kind
    r = reason.resolution
    if kind == "direct-incomplete":
        assert r is not None
        return _(t[kind]).format(type=r.type, message=resolution_text(r))
    if kind == "chased":
        assert r is not None
        first, step = r.chased[0], r.chased[-1]
        text = _(t["chased"]).format(after=first.after, name=r.name, type=r.type, target=first.name)
        if reason.configured:
            text += _(t["chased-glibc"]).format(type=r.type)
        return text + _(t["chased-found"]).format(
            name=step.name, server=step.server, addresses=", ".join(r.addresses)
        )
    order = "hosts: " + " ".join(reason.order)
    if kind == "hosts-file":
        where = ", ".join(
            _(t["hosts-line"]).format(address=a, line=line) for a, line in reason.hosts
        )
        key = "hosts-file-before" if reason.before else "hosts-file-after"
        return _(t[key]).format(path=reason.path, name=reason.name, where=where, order=order)
    if kind == "no-dns-source":
        return _(t[kind]).format(order=order)
    if kind == "other-sources":
        return _(t[kind]).format(others=", ".join(reason.others))
    if kind == "other-servers":
        servers = ", ".join(reason.servers) or _(t["none"])
        return _(t[kind]).format(servers=servers, path=reason.path, asked=", ".join(reason.asked))
    if kind == "search-list":
        config = reason.config
        assert config is not None
        return _(t[kind]).format(
            path=config.path,
            search=" ".join(config.search),
            ndots=config.ndots,
            name=reason.name,
            candidate=reason.candidate,
        )
    if kind == "system-failed":
        assert reason.config is not None and reason.system is not None
        return _(t[kind]).format(
            error=system_error(reason.system),
            timeout=reason.config.timeout_s,
            attempts=reason.config.attempts,
        )
    if kind == "direct-failed":
        assert reason.system is not None
        return _(t[kind]).format(
            addresses=", ".join(reason.system.addresses),
            failures="; ".join(resolution_text(d) for d in reason.direct),
        )
    return _(t["differ"])


# -- the human output --------------------------------------------------------------------------


def _rows(result: Resolution) -> list[str]:
    records = list(result.chain) + list(result.answers)
    if not records:
        return []
    name_w = max(len(r.name) for r in records)
    ttl_w = max(len(str(r.ttl)) for r in records)
    type_w = max(len(r.type) for r in records)
    return [
        f"  {r.name:<{name_w}}  {r.ttl:>{ttl_w}}  {r.type:<{type_w}}  {r.value}" for r in records
    ]


def lines(result: Resolution) -> Iterator[str]:
    """`netladder dns NAME`: the answer, who gave it and how fast, the records, the tries."""
    lt = LINES
    colour = "green" if result.ok else ("yellow" if result.status is Status.NODATA else "red")
    head = lt["head"].format(name=result.name, type=result.type)
    if result.ok:
        values = ", ".join(r.value for r in result.answers[:4])
        more = _(lt["more"]).format(n=len(result.answers) - 4) if len(result.answers) > 4 else ""
        head += paint(values + more, "bold")
    else:
        head += paint(resolution_text(result), colour)
    yield head
    time_ms = _ms(result.time)
    if result.server is not None and result.rcode is not None:
        when = _(lt["took"]).format(ms=fmt_ms(time_ms)) if time_ms is not None else "?"
        slow = ""
        if time_ms is not None and time_ms > SLOW_MS:
            slow = paint(_(lt["slow"]).format(seconds=SLOW_MS / 1000), "yellow")
        aa = _(lt["authoritative"]) if result.authoritative else ""
        yield _(lt["answered"]).format(
            rcode=result.rcode,
            server=result.server,
            transport=result.transport,
            when=when,
            aa=aa,
            slow=slow,
        )
    if result.incomplete and result.ok:
        yield paint(f"  {resolution_text(result)}", "yellow")
    for step in result.chased:
        step_ms = _ms(step.time)
        took = _(lt["asked-took"]).format(ms=fmt_ms(step_ms)) if step_ms is not None else ""
        answer = (
            _(lt["asked-answer"]).format(
                rcode=step.rcode, server=step.server, transport=step.transport, took=took
            )
            if step.rcode is not None
            else sentence(step)
        )
        yield _(lt["asked"]).format(name=step.name, answer=answer)
    yield from _rows(result)
    attempts = list(result.attempts) + [a for step in result.chased for a in step.attempts]
    if (
        len(attempts) > 1 + len(result.chased)
        or result.rcode is None
        or any(a.ignored for a in attempts)
    ):
        for a in attempts:
            a_ms = _ms(a.time)
            took = _(lt["took"]).format(ms=fmt_ms(a_ms)) if a_ms is not None else "-"
            what = (a.rcode or "?") if a.outcome == "answer" else a.outcome
            if a.truncated and a.outcome == "answer":
                what += _(lt["retried"])
            text = attempt_text(a)
            detail = f": {text}" if text else ""
            colour = "yellow" if a.ignored else "dim"
            template = lt.get(f"tried-{a.outcome}", lt["tried"])
            tried = _(template).format(
                server=a.server, transport=a.transport, what=what, took=took, detail=detail
            )
            yield paint(tried, colour)


def comparison_lines(c: Comparison) -> Iterator[str]:
    """`netladder dns NAME --compare`: getaddrinfo, each direct query, and whether they agree."""
    lt = LINES
    s = c.system
    s_ms = fmt_ms(_ms(s.time) or 0.0)
    if s.ok:
        canonical = (
            _(lt["system-canonical"]).format(name=s.canonical)
            if s.canonical and s.canonical != c.name.rstrip(".")
            else ""
        )
        yield _(lt["system-ok"]).format(
            addresses=", ".join(s.addresses), canonical=canonical, ms=s_ms
        )
    else:
        yield _(lt["system-failed"]).format(
            failed=paint(_(lt["failed"]), "red"), error=system_error(s), ms=s_ms
        )
    for r in c.direct:
        r_ms = _ms(r.time)
        took = _(lt["asked-took"]).format(ms=fmt_ms(r_ms)) if r_ms is not None and r.rcode else ""
        what = ", ".join(r.addresses) if r.ok else resolution_text(r)
        via = _(lt["direct-via"]).format(server=r.server) if r.server and r.ok else ""
        note = ""
        if r.ok and r.incomplete and r.chased:
            note = _(lt["direct-note"]).format(
                target=r.chased[0].name, name=r.chased[-1].name, server=r.chased[-1].server
            )
        yield _(lt["direct"]).format(type=r.type, what=what, via=via, took=took, note=note)
    if c.agree:
        yield paint(_(lt["agree"]), "green")
    else:
        yield paint(_(lt["disagree"]), "yellow")
        for text in sentence(c):
            yield lt["explanation"].format(text=text)
