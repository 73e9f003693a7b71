"""Every line of `netladder sweep`, in fping's words: `HOST is alive` / `HOST is unreachable`,
fping -c's per-target summary, the bare lists of -a and -u, the ICMP errors and refused sends
on stderr, and the totals block (fping -s).  fping's words are not translated: scripts parse
them, and a line here must stay the line fping prints for the same evidence."""

from __future__ import annotations

import os
from collections.abc import Iterator

from netladder.l3.stats import fping_loss
from netladder.l3.sweep_model import Sweep, SweepResult, Unresolved
from netladder.output import fmt_ms
from netladder.proto.icmp import error_text

__all__ = [
    "FPING_TYPES",
    "FPING_UNREACHABLE",
    "TEMPLATES",
    "alive_lines",
    "count_lines",
    "listing",
    "stderr_lines",
    "target_line",
    "totals",
    "unresolved_line",
]

TEMPLATES: dict[str, str] = {
    "unresolved": "{target}: {reason}",
    "alive": "{target} is alive",
    "unreachable": "{target} is unreachable",
    # fping.c print_per_system_stats
    "per-target": "{target:<{width}} : xmt/rcv/%loss = {sent}/{received}/{loss}%",
    "rtt": ", min/avg/max = {min}/{avg}/{max}",
    "send-error": "{target}: error while sending ping: {reason}",
    "icmp-error": "{text} from {sender} for ICMP Echo sent to {target}",
    "invalid-code": "ICMP Unreachable (Invalid Code)",
    "icmp-type": "ICMP {type}",
    # fping -s
    "targets": "{n:>9} targets",
    "alive-count": "{n:>9} alive",
    "unreachable-count": "{n:>9} unreachable",
    "sent": "{n:>9} ICMP Echos sent",
    "received": "{n:>9} ICMP Echo Replies received",
    "duplicates": "{n:>9} duplicate replies",
    "corrupted": "{n:>9} corrupted replies",
    "with-errors": "{n:>9} targets with ICMP errors",
    "elapsed": "{seconds:>9.2f} sec (elapsed real time)",
}

# fping's words for ICMP errors about a probe (fping.c: icmp_type_str, icmp_unreach_str;
# RFC 792 types and codes).  fping mislabels ICMPv6, so IPv6 errors use netladder's names.
FPING_UNREACHABLE = (
    "ICMP Network Unreachable",
    "ICMP Host Unreachable",
    "ICMP Protocol Unreachable",
    "ICMP Port Unreachable",
    "ICMP Unreachable (Fragmentation Needed)",
    "ICMP Unreachable (Source Route Failed)",
    "ICMP Unreachable (Destination Network Unknown)",
    "ICMP Unreachable (Destination Host Unknown)",
    "ICMP Unreachable (Source Host Isolated)",
    "ICMP Unreachable (Communication with Network Prohibited)",
    "ICMP Unreachable (Communication with Host Prohibited)",
    "ICMP Unreachable (Network Unreachable For Type Of Service)",
    "ICMP Unreachable (Host Unreachable For Type Of Service)",
    "ICMP Unreachable (Communication Administratively Prohibited)",
    "ICMP Unreachable (Host Precedence Violation)",
    "ICMP Unreachable (Precedence cutoff in effect)",
)
FPING_TYPES = {
    4: "ICMP Source Quench",
    5: "ICMP Redirect",
    11: "ICMP Time Exceeded",
    12: "ICMP Parameter Problem",
}


def unresolved_line(name: Unresolved) -> str:
    """fping names each target that does not resolve as it reads them."""
    return TEMPLATES["unresolved"].format(target=name.target, reason=name.reason)


def target_line(r: SweepResult, i: int, width: int) -> str:
    """fping's per-target summary: `host : xmt/rcv/%loss = 3/3/0%, min/avg/max = a/b/c`."""
    sent, rcvd = r.sent[i], r.received[i]
    line = TEMPLATES["per-target"].format(
        target=r.targets.label(i),
        width=width,
        sent=sent,
        received=rcvd,
        loss=fping_loss(sent, rcvd),
    )
    rtt = r.rtt_ms(i)
    if rtt is not None:
        line += TEMPLATES["rtt"].format(min=fmt_ms(rtt[0]), avg=fmt_ms(rtt[1]), max=fmt_ms(rtt[2]))
    return line


def _icmp_text(version: int, icmp_type: int, code: int) -> str:
    if version != 4:
        return error_text(6, icmp_type, code)
    if icmp_type == 3:
        if code < len(FPING_UNREACHABLE):
            return FPING_UNREACHABLE[code]
        return TEMPLATES["invalid-code"]
    return FPING_TYPES.get(icmp_type) or TEMPLATES["icmp-type"].format(type=icmp_type)


def stderr_lines(sweep: Sweep) -> Iterator[str]:
    """One line per probe the kernel refused to send and per ICMP error about a probe, in
    order, as fping prints them: `H: error while sending ping: Permission denied`, `ICMP
    Network Unreachable from 203.0.113.1 for ICMP Echo sent to 198.51.100.200`."""
    t = TEMPLATES
    for r in sweep.results:
        label = r.targets.label
        for i, err in zip(r.send_error_index, r.send_error_errno, strict=True):
            yield t["send-error"].format(target=label(i), reason=os.strerror(err))
    for r in sweep.results:
        label = r.targets.label
        version = r.targets.version
        for i, icmp_type, code, sender in r.error_events():
            text = _icmp_text(version, icmp_type, code)
            yield t["icmp-error"].format(text=text, sender=sender, target=label(i))


def listing(sweep: Sweep, alive: bool) -> Iterator[str]:
    """fping -a (the alive) or -u (the unreachable): bare names, one a line."""
    for r in sweep.results:
        wanted = r.alive_indices() if alive else r.unreachable_indices()
        label = r.targets.label
        for i in wanted:
            yield label(i)


def alive_lines(sweep: Sweep) -> Iterator[str]:
    """fping's default output: the alive first (it prints each at its first reply, so in
    target order when replies come in order), the unreachable at the end."""
    t = TEMPLATES
    for r in sweep.results:
        label = r.targets.label
        for i in r.alive_indices():
            yield t["alive"].format(target=label(i))
    for r in sweep.results:
        label = r.targets.label
        for i in r.unreachable_indices():
            yield t["unreachable"].format(target=label(i))


def count_lines(sweep: Sweep) -> Iterator[str]:
    """fping -c's per-target summary lines, the names aligned."""
    for r in sweep.results:
        n = len(r.targets)
        width = max((len(r.targets.label(i)) for i in range(min(n, 4096))), default=0)
        for i in range(n):
            yield target_line(r, i, width)


def totals(sweep: Sweep) -> Iterator[str]:
    """A totals block like fping -s."""
    t = TEMPLATES
    s = sweep.totals
    yield t["targets"].format(n=s.targets)
    yield t["alive-count"].format(n=s.alive)
    yield t["unreachable-count"].format(n=s.unreachable)
    yield t["sent"].format(n=s.sent)
    yield t["received"].format(n=s.received)
    yield t["duplicates"].format(n=s.duplicates)
    yield t["corrupted"].format(n=s.corrupted)
    yield t["with-errors"].format(n=s.with_errors)
    yield t["elapsed"].format(seconds=s.elapsed_ms / 1000)
