"""Every line of `netladder forward`: what add applied (or would), the list of forwards and the
other tables' NAT rules, what delete removed, verify's two connections and its verdict, and the
userspace proxy's counters — and each caveat of an add as a sentence (also JSON's `warnings`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from netladder.i18n import N_, _, ngettext
from netladder.nat.forwards import Added, Caveat, Deleted, DryRun, Listing
from netladder.nat.model import Finding, ProxyCounters, ProxyStats, VerifyResult
from netladder.nat.rules import TABLE, ForwardSpec
from netladder.output import fmt_ms, paint

__all__ = [
    "added_lines",
    "counters_line",
    "deleted_lines",
    "describe",
    "finding_sentence",
    "listing_lines",
    "proxy_lines",
    "ready_line",
    "sentence",
    "verify_lines",
    "warning_lines",
]

TEMPLATES: dict[str, str] = {
    "redirect": N_("{proto} port {port} -> local port {to_port} (REDIRECT)"),
    "dnat": N_("{proto} port {port} -> {target} (DNAT + masquerade)"),
    "hooks-both": N_("from other hosts and from this machine"),
    "hooks-prerouting": N_("from other hosts"),
    "forward": N_("forward {id}: {what}"),
    "dry-run": N_("# forward {id}: {what} (dry run: nothing applied)"),
    "dry-nft": N_("# nft, one atomic transaction (nft -f -):"),
    "dry-iptables": N_("# the same with iptables:"),
    "dry-warning": N_("# warning: {warning}"),
    "warning": N_("warning: {warning}"),
    # the caveats of an add (Caveat.kind)
    "shadowed": N_("{where} ({rule}) may catch {proto} port {port} before this forward"),
    "forwarding-off": N_("{sysctl} is 0: forwarded packets will be dropped (sysctl -w {sysctl}=1)"),
    "not-local": N_(
        "connections made on this machine itself are not forwarded (add --local to cover them)"
    ),
    "route-localnet": N_(
        "connections to 127.0.0.1 cannot be sent to another host: the kernel does "
        "not route loopback addresses out (connect to this machine's own address, or "
        "sysctl -w net.ipv4.conf.all.route_localnet=1)"
    ),
    "loopback6": N_(
        "connections to ::1 cannot be sent to another host (IPv6 never routes "
        "loopback out): connect to this machine's own address"
    ),
    "unread": N_("could not read the ruleset (no privilege): the id may differ"),
    # list
    "no-forwards-empty": N_("no netladder forwards (table {table} is empty)"),
    "no-forwards-absent": N_("no netladder forwards (table {table} does not exist)"),
    "incomplete": N_(
        "     incomplete: a rule of this forward was removed by hand (delete it and add it again)"
    ),
    "shadowed-by": N_("     may be shadowed by {where}: {rule}"),
    "others": N_("NAT rules in other tables (read-only):"),
    "forwarding-disabled": N_(
        "forwarding is disabled for {families}: DNAT forwards to other hosts will not pass"
    ),
    # delete
    "nothing-deleted": N_("no netladder forwards: nothing to delete"),
    # verify
    "said-reset": N_("accepted, then reset the connection ({error})"),
    "said-answer": N_("answered {line!r}"),
    "said-nothing": N_("said nothing"),
    "connected": N_("  {label}: {where} {said} (connected in {ms} ms)"),
    "answered-udp": N_("  {label}: {where} {said} (the answer came in {ms} ms)"),
    "hit-once": N_("  from {vantage}; the rule was hit once during the check ({hook} hook)"),
    "hit-times": N_(
        "  from {vantage}; the rule was hit {hits} times during the check ({hook} hook)"
    ),
    "ok": N_("OK: {detail}"),
    "fail": N_("FAIL ({cause}): {detail}"),
    # proxy
    "proxy-ready": N_(
        "netladder forward proxy: listening on {bound} -> {to} ({how}); "
        "Ctrl-C or SIGTERM stops, SIGUSR1 shows the counters"
    ),
    "proxy-udp": N_("udp sessions"),
    "proxy-splice": N_("tcp, zero-copy splice"),
    "proxy-copy": N_("tcp, copying"),
    "proxy-counters": N_(
        "netladder forward proxy: {connections} {what} ({active} open, "
        "{failed} failed), {up} bytes up, {down} bytes down"
    ),
    "proxy-sessions": N_("sessions"),
    "proxy-connections": N_("connections"),
    "proxy-tcp": N_(
        "{connections} connections ({failed} failed to reach the target, "
        "{active} open at stop) in {seconds:.1f} s"
    ),
    "proxy-udp-stats": N_(
        "{connections} UDP sessions, {up} datagrams to the target, "
        "{down} back, {dropped} dropped, in {seconds:.1f} s"
    ),
    "proxy-bytes": N_("{up} bytes to {target}, {down} bytes back"),
}

# What verify concluded (nat.model.Finding.kind), each sentence whole so a translation may
# order it freely.  {where}: the forward's target, or "port N here" for a REDIRECT;
# {evidence}: " (the system's error; ICMP ... from ...)" when there is one.
FINDINGS: dict[str, str] = {
    "no-rule": N_("netladder has no forward for {proto} port {port}"),
    "no-rule-elsewhere": N_(
        "netladder has no forward for {proto} port {port}; {where} handles it ({rule})"
    ),
    "no-route": N_("{vantage} has no route to this machine"),
    "output-hook": N_(
        "connections made on this machine take the OUTPUT hook, which this "
        "forward does not cover: add it with --local, or verify --from a "
        "namespace or host"
    ),
    "shadowed": N_("{where} ({rule}) catches {proto} port {port} before netladder's rule"),
    "not-reached": N_(
        "no connection reached the rule ({outcome} from {via}): "
        "a wrong address, or a filter before NAT?"
    ),
    "not-sent-firewall": N_(
        "no connection reached the rule: {vantage} could not send it ({error}): its own "
        "firewall refuses it (an OUTPUT rule there)"
    ),
    "not-sent-no-route": N_(
        "no connection reached the rule: {vantage} could not send it ({error}): it has no "
        "route to {via}"
    ),
    "elsewhere": N_("the connection was answered, but not through netladder's rule"),
    "forwarding-off": N_(
        "the rule was hit but {sysctl} is 0, so the kernel drops the translated "
        "packets (sysctl -w {sysctl}=1)"
    ),
    "target-rejected": N_(
        "the rule was hit, but the target {where} itself is filtered: a firewall rejects "
        "it with an ICMP error, not a reset{evidence}"
    ),
    "target-closed": N_("the rule was hit, but the target {where} itself is closed{evidence}"),
    "target-refused": N_(
        "the rule was hit, but the target {where} itself refused the connection{evidence}: "
        "closed, nothing listens"
    ),
    "target-silent": N_(
        "the rule was hit, but the target {where} itself sent no reply and no ICMP error "
        "within {wait:g} s: open|filtered (the service may ignore this probe, or something "
        "drops it)"
    ),
    "target-dropped": N_(
        "the rule was hit, but the target {where} itself is filtered: no SYN-ACK, reset or "
        "ICMP error within {wait:g} s (something drops the packets, or no host has that "
        "address)"
    ),
    "target-local-firewall": N_(
        "the rule was hit, but the target {where} itself is filtered by this machine's own "
        "firewall{evidence}"
    ),
    "target-prohibited": N_(
        "the rule was hit, but the target {where} itself is filtered{evidence}"
    ),
    "target-no-route": N_(
        "the rule was hit, but the target {where} itself is unreachable{evidence}: no route "
        "from this machine"
    ),
    "target-unreachable": N_(
        "the rule was hit, but the target {where} itself is unreachable{evidence}"
    ),
    "no-answer": N_(
        "the rule was hit and the target answers directly, but not through the "
        "forward ({outcome}): a filter on the way, or replies that do not "
        "come back through this machine?"
    ),
    "wrong-answer": N_(
        "something else answered: {through!r} through the forward, {direct!r} from the target"
    ),
    "ok": N_("the intended target {where} answered through the forward"),
}
# A REDIRECT's target, where a sentence names it.
_HERE = N_("port {port} here")

_VERIFY_LABELS = (N_("through the forward"), N_("direct to the target"))
# How an attempt that got no connection ended (nat.verify's Attempt.outcome), in the language;
# nmap's states (filtered) are said as nmap says them, as `port` says them.
_OUTCOMES = {
    "refused": N_("refused"),
    "unreachable": N_("unreachable"),
    "timeout": N_("timeout"),
    "error": N_("error"),
}


def _outcome(outcome: str | None) -> str | None:
    word = _OUTCOMES.get(outcome or "")
    return _(word) if word else outcome


# The columns of `forward list` (not translated: scripts read them).
_HEADER = (
    f"{'ID':<4} {'PROTO':<5} {'PORT':>5}  {'TARGET':<24} {'HOOKS':<19} {'HITS':>6} {'BYTES':>8}"
)


def describe(spec: ForwardSpec) -> str:
    """What a forward does and for whom: `tcp port 80 -> local port 8080 (REDIRECT), from
    other hosts`."""
    t = TEMPLATES
    if spec.dest is None:
        what = _(t["redirect"]).format(proto=spec.proto, port=spec.port, to_port=spec.to_port)
    else:
        what = _(t["dnat"]).format(proto=spec.proto, port=spec.port, target=spec.target)
    hooks = _(t["hooks-both"]) if spec.local else _(t["hooks-prerouting"])
    return f"{what}, {hooks}"


def sentence(caveat: object) -> str:
    """A caveat of an add (JSON's `warnings`) or what verify found (JSON's `detail`) as one
    sentence."""
    if isinstance(caveat, Finding):
        return finding_sentence(caveat)
    assert isinstance(caveat, Caveat)
    template = _(TEMPLATES[caveat.kind])
    if caveat.rule is not None:
        rule = caveat.rule
        return template.format(
            where=rule.where,
            rule=rule.text or rule.statement,
            proto=caveat.proto,
            port=caveat.port,
        )
    return template.format(sysctl=caveat.sysctl)


def finding_sentence(found: Finding) -> str:
    """What verify concluded, with the evidence it cites."""
    rule = found.rule
    where = found.target or _(_HERE).format(port=found.to_port)
    if rule is not None:
        where, cited = rule.where, rule.text or rule.statement
    else:
        cited = ""
    return _(FINDINGS[found.kind]).format(
        proto=found.proto,
        port=found.port,
        where=where,
        rule=cited,
        vantage=found.vantage,
        via=found.via,
        outcome=_outcome(found.outcome),
        evidence=f" ({found.error})" if found.error else "",
        error=found.error,
        sysctl=found.sysctl,
        wait=found.wait or 0.0,
        through=found.through,
        direct=found.direct,
    )


def added_lines(result: Added | DryRun) -> Iterator[str]:
    """stdout of an add: the forward made, or the dry run's scripts and caveats."""
    t = TEMPLATES
    what = describe(result.spec)
    if isinstance(result, Added):
        yield _(t["forward"]).format(id=result.id, what=what)
        return
    yield _(t["dry-run"]).format(id=result.id, what=what)
    yield _(t["dry-nft"])
    yield result.nft.removesuffix("\n")
    yield _(t["dry-iptables"])
    yield from result.iptables
    for caveat in result.warnings:
        yield _(t["dry-warning"]).format(warning=sentence(caveat))


def warning_lines(result: Added | DryRun) -> Iterator[str]:
    """stderr of an applied add: its caveats (a dry run says them on stdout)."""
    if isinstance(result, DryRun):
        return
    for caveat in result.warnings:
        text = _(TEMPLATES["warning"]).format(warning=sentence(caveat))
        yield paint(text, "yellow", stream=sys.stderr)


def listing_lines(result: Listing) -> Iterator[str]:
    t = TEMPLATES
    if not result.forwards:
        key = "no-forwards-empty" if result.table_exists else "no-forwards-absent"
        yield _(t[key]).format(table=TABLE)
    else:
        yield paint(_HEADER, "bold")
        for listed in result.forwards:
            f = listed.forward
            hooks = ",".join(f.spec.hooks)
            yield (
                f"{f.id:<4} {f.spec.proto:<5} {f.spec.port:>5}  {f.spec.target:<24} "
                f"{hooks:<19} {f.packets:>6} {f.bytes:>8}"
            )
            if not f.complete:
                yield paint(_(t["incomplete"]), "yellow")
            for rule in listed.shadows:
                text = _(t["shadowed-by"]).format(
                    where=rule.where, rule=rule.text or rule.statement
                )
                yield paint(text, "yellow")
    if result.others:
        yield ""
        yield paint(_(t["others"]), "bold")
        for rule in result.others:
            where = f"table {rule.family} {rule.table} chain {rule.chain}"
            hook = f" (hook {rule.hook}, priority {rule.priority})" if rule.hook else ""
            yield f"  {where}{hook} handle {rule.handle}: {rule.text or rule.statement}"
    if result.blocked:
        text = _(t["forwarding-disabled"]).format(families=", ".join(result.blocked))
        yield paint(text, "yellow")


def deleted_lines(result: Deleted) -> Iterator[str]:
    if not result.deleted:
        yield _(TEMPLATES["nothing-deleted"])
        return
    ids = ", ".join(str(i) for i in result.deleted)
    yield ngettext("deleted forward {ids}", "deleted forwards {ids}", len(result.deleted)).format(
        ids=ids
    )


def verify_lines(result: VerifyResult) -> Iterator[str]:
    t = TEMPLATES
    f = result.forward
    if f is not None:
        yield _(t["forward"]).format(id=f.id, what=describe(f.spec))
    for label, attempt in zip(_VERIFY_LABELS, (result.through, result.direct), strict=True):
        if attempt is None:
            continue
        where = f"{attempt.address}:{attempt.port}"
        if attempt.connected:
            if attempt.outcome == "reset":
                said = _(t["said-reset"]).format(error=attempt.error)
            elif attempt.first_line:
                said = _(t["said-answer"]).format(line=attempt.first_line)
            else:
                said = _(t["said-nothing"])
            took = attempt.connect_time if attempt.connect_time is not None else attempt.elapsed
            # UDP connects nothing: the time is the exchange's, send to answer.
            line = t["answered-udp"] if result.proto == "udp" else t["connected"]
            yield _(line).format(label=_(label), where=where, said=said, ms=fmt_ms(took * 1000))
        else:
            error = f" ({attempt.error})" if attempt.error else ""
            yield f"  {_(label)}: {where} {_outcome(attempt.outcome)}{error}"
    if f is not None:
        hit = _(t["hit-once"]) if result.hits == 1 else _(t["hit-times"])
        yield hit.format(vantage=result.vantage, hits=result.hits, hook=result.hook)
    if result.ok:
        yield paint(_(t["ok"]).format(detail=finding_sentence(result.finding)), "green")
    else:
        detail = finding_sentence(result.finding)
        text = _(t["fail"]).format(cause=result.cause.value, detail=detail)
        yield paint(text, "red")


def ready_line(bound: str, to: str, *, udp: bool, zero_copy: bool) -> str:
    """The proxy's first line on stderr, once it listens."""
    t = TEMPLATES
    how = _(t["proxy-udp"]) if udp else _(t["proxy-splice"] if zero_copy else t["proxy-copy"])
    return _(t["proxy-ready"]).format(bound=bound, to=to, how=how)


def counters_line(c: ProxyCounters, *, udp: bool) -> str:
    """The proxy's counters (SIGUSR1), on stderr."""
    t = TEMPLATES
    return _(t["proxy-counters"]).format(
        connections=c.connections,
        what=_(t["proxy-sessions"] if udp else t["proxy-connections"]),
        active=c.active,
        failed=c.failed,
        up=c.bytes_up,
        down=c.bytes_down,
    )


def proxy_lines(stats: ProxyStats) -> Iterator[str]:
    """What the proxy carried, when it stops."""
    t = TEMPLATES
    seconds = stats.duration_ms / 1000
    if stats.proto == "tcp":
        yield _(t["proxy-tcp"]).format(
            connections=stats.connections,
            failed=stats.failed,
            active=stats.active_at_stop,
            seconds=seconds,
        )
    else:
        yield _(t["proxy-udp-stats"]).format(
            connections=stats.connections,
            up=stats.datagrams_up,
            down=stats.datagrams_down,
            dropped=stats.dropped,
            seconds=seconds,
        )
    yield _(t["proxy-bytes"]).format(up=stats.bytes_up, target=stats.target, down=stats.bytes_down)
