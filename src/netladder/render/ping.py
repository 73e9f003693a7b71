"""Every line of `netladder ping`, in iputils ping's words: the header, one line per reply or
error, the statistics block.  iputils' words are not translated: scripts parse them, and a
line here must stay byte-for-byte the line iputils prints for the same evidence."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from netladder.l3.model import Corrupted, PingEvent, PingResult, PingStarted, Sample
from netladder.l3.stats import ewma_us, fmt_loss, fmt_reply_us
from netladder.output import paint

__all__ = ["TEMPLATES", "event_line", "header", "label", "summary"]

TEMPLATES: dict[str, str] = {
    "broadcast": "WARNING: pinging broadcast address",
    # ping.c ping4_run / ping6_run; `from` only with -I.
    "header4": "PING {label} ({address}) {frm}{size}({packet}) bytes of data.",
    "header6": "PING {label}({address}) {frm}{size} data bytes",
    "from": "from {source} {device}: ",
    "reply": "{size} bytes from {who}: icmp_seq={seq}",
    "ttl": " ttl={ttl}",
    "truncated": " (truncated)",
    "time": " time={time} ms",
    "dup": " (DUP!)",
    "corrupted": "{size} bytes from {who}: icmp_seq={seq}",
    "bad-checksum": " (BAD CHECKSUM!)",
    "error": "From {source} icmp_seq={seq} {text}",
    # ping_common.c finish()
    "title": "--- {label} ping statistics ---",
    "counts": "{transmitted} packets transmitted, {received} received",
    "duplicates": ", +{n} duplicates",
    "corrupted-count": ", +{n} corrupted",
    "errors": ", +{n} errors",
    "loss": ", {loss}% packet loss, time {time}ms",
    "pipe": "pipe {pipe}",
    "ipg": "ipg/ewma {ipg}/{ewma} ms",
    "who": "{name} ({address})",
    "scoped": "{address}%{scope}",
}


def label(target: object) -> str:
    """The target as typed, with the scope it was typed with (iputils' hostname)."""
    name, scope = target.name, target.scope  # type: ignore[attr-defined]
    return f"{name}%{scope}" if scope else str(name)


def _display(run: PingStarted, address: str) -> str:
    """An address as iputils prints it: link-local ones with their interface."""
    if run.scope_name is not None and address.lower().startswith("fe"):
        if ipaddress.ip_address(address).is_link_local:
            return TEMPLATES["scoped"].format(address=address, scope=run.scope_name)
    return address


def header(run: PingStarted) -> str:
    """iputils' first line (ping.c ping4_run/ping6_run): with -I, the source address the
    probes leave from and the interface — empty when -I named an address."""
    target = run.target
    t = TEMPLATES
    frm = ""
    if run.bound:
        source = run.source or ("0.0.0.0" if target.version == 4 else "::")
        frm = t["from"].format(source=source, device=run.device or "")
    # The address with its interface only when the target was typed with one: -I alone does
    # not put a scope into iputils' destination (replies do carry it).
    address = _display(run, target.address) if target.scope else target.address
    if target.version == 6:
        return t["header6"].format(label=label(target), address=address, frm=frm, size=run.size)
    return t["header4"].format(
        label=label(target), address=address, frm=frm, size=run.size, packet=run.size + 28
    )


def _who(run: PingStarted, source: str | None = None) -> str:
    target = run.target
    if source is not None or target.is_literal:
        return _display(run, source or target.address)
    return TEMPLATES["who"].format(name=target.name, address=target.address)


def event_line(run: PingStarted, event: PingEvent) -> str:
    """The line for one event of `run` (api.ping's on_event); the header for PingStarted."""
    t = TEMPLATES
    if isinstance(event, PingStarted):
        return header(event)
    if isinstance(event, Sample):
        line = t["reply"].format(size=event.size, who=_who(run, event.source), seq=event.seq)
        if event.ttl is not None:
            line += t["ttl"].format(ttl=event.ttl)
        if event.truncated:
            return line + t["truncated"]  # iputils prints nothing after it
        if run.timed:
            line += t["time"].format(time=fmt_reply_us(event.rtt_us))
        # iputils marks a duplicate only where one reply per probe is expected.
        if event.duplicate and not run.allow_broadcast:
            line += paint(t["dup"], "yellow")
        return line
    if isinstance(event, Corrupted):
        line = t["corrupted"].format(size=event.size, who=_who(run), seq=event.seq)
        return line + paint(t["bad-checksum"], "red")
    text = t["error"].format(source=_display(run, event.source), seq=event.seq, text=event.text)
    return paint(text, "red")


def _ms(us: int) -> str:
    return f"{us // 1000}.{us % 1000:03d}"


def summary(r: PingResult) -> Iterator[str]:
    """iputils' statistics block (ping_common.c: finish()); its last line may be empty:
    iputils ends the block with a newline of its own."""
    t = TEMPLATES
    line = t["counts"].format(transmitted=r.transmitted, received=r.received)
    if r.duplicates:
        line += t["duplicates"].format(n=r.duplicates)
    if r.corrupted:
        line += t["corrupted-count"].format(n=r.corrupted)
    if r.errors:
        line += t["errors"].format(n=r.errors)
    if r.transmitted:
        # Rounded half up, as iputils: (ns + 500000) / 1000000.
        time_ms = (r.time_ns + 500_000) // 1_000_000
        line += t["loss"].format(loss=fmt_loss(r.loss_percent), time=time_ms)
    yield t["title"].format(label=label(r.target))
    yield line
    rtt = r.iputils if r.timed else None
    parts = []
    if r.received and rtt is not None:
        parts.append(rtt.line())
    if r.pipe > 1:
        parts.append(t["pipe"].format(pipe=r.pipe))
    if r.interval == 0 and r.received and r.transmitted > 1:
        # iputils adds the inter-packet gap and its smoothed RTT when flooding (-i 0).
        ipg = r.time_ns // 1000 // (r.transmitted - 1)
        ewma = ewma_us([s.rtt_us for s in r.samples]) if r.timed else 0
        parts.append(t["ipg"].format(ipg=_ms(ipg), ewma=_ms(ewma)))
    yield ", ".join(parts)
