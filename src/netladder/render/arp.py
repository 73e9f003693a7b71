"""Every line of `netladder arp`, in arping's manner: the header, one line per reply, the
summary with conflicts, unsolicited claims, drops and the duplicate-address verdict."""

from __future__ import annotations

from collections.abc import Iterator

from netladder.i18n import N_, _
from netladder.l2.model import ArpResult, ProbeSetup, Reply
from netladder.output import fmt_ms, paint

__all__ = ["event_line", "header", "reply_line", "summary"]

TEMPLATES: dict[str, str] = {
    "header": "{proto} {target} from {source} {iface}",
    "reply": "{how} {what} from {address} [{mac}]  {ms}ms",
    "mismatch": N_("  (frame from {frame_src}: ethernet mismatch)"),
    "sent": N_("Sent {sent} probes ({sent} {cast}(s))"),
    "received": N_("Received {received} response(s)"),
    "duplicates": N_("  +{n} duplicate(s): a station answering one request again, not counted"),
    "dropped": N_(
        "the kernel dropped {n} frame(s), the socket's buffer full (a flood): stations that "
        "answered may be missing"
    ),
    "unsolicited": N_(
        "unsolicited: {mac} claims {target} in {frames} {proto} frame(s) that do not answer us "
        "(gratuitous, or to other stations): a duplicate address or spoofing"
    ),
    "conflict": N_(
        "conflict: {n} stations answer for {target}: {macs} (a duplicate address on {iface})"
    ),
    "duplicate": N_("duplicate: {target}{mine} is in use by {macs}"),
    "own": N_(", this host's own address,"),
    "free": N_("{target} is free on {iface} (no station answered the duplicate-address probe)"),
    "no-reply": N_("no reply: nothing on {iface} answers for {target}"),
}
# arping's words: not translated (scripts parse them).
_HOW = {False: "Unicast", True: "Broadcast"}
_WHAT = {"reply": "reply", "advert": "reply", "request": "request", "probe": "probe"}


def header(setup: ProbeSetup) -> str:
    """arping's first line: `ARPING 203.0.113.1 from 203.0.113.2 to-r1`."""
    proto = "ARPING" if setup.version == 4 else "NDPING"
    return TEMPLATES["header"].format(
        proto=proto, target=setup.target, source=setup.source, iface=setup.iface
    )


def reply_line(reply: Reply) -> str:
    """arping's line: `Unicast reply from 203.0.113.1 [02:AA:BB:CC:DD:EE]  0.688ms`."""
    line = TEMPLATES["reply"].format(
        how=_HOW[reply.broadcast],
        what=_WHAT[reply.kind],
        address=reply.address,
        mac=reply.mac.upper(),
        ms=fmt_ms(reply.rtt * 1000),
    )
    if reply.ethernet_mismatch:
        line += _(TEMPLATES["mismatch"]).format(frame_src=reply.frame_src.upper())
    return line


def event_line(event: ProbeSetup | Reply) -> str:
    """The line for what api.arp's on_event hears."""
    return header(event) if isinstance(event, ProbeSetup) else reply_line(event)


def summary(result: ArpResult) -> Iterator[str]:
    t = TEMPLATES
    setup = result.setup
    cast = "broadcast" if setup.version == 4 else "multicast"
    yield _(t["sent"]).format(sent=result.sent, cast=cast)
    yield _(t["received"]).format(received=result.received)
    if result.duplicates:
        yield _(t["duplicates"]).format(n=result.duplicates)
    proto = "ARP" if setup.version == 4 else "NDP"
    if result.dropped:
        yield paint(_(t["dropped"]).format(n=result.dropped), "yellow")
    for claim in result.unsolicited:
        text = _(t["unsolicited"]).format(
            mac=claim.mac, target=setup.target, frames=claim.frames, proto=proto
        )
        yield paint(text, "red")
    if result.conflict:
        text = _(t["conflict"]).format(
            n=len(result.macs), target=setup.target, macs=", ".join(result.macs), iface=setup.iface
        )
        yield paint(text, "red")
    if setup.dad:
        if result.replies:
            mine = _(t["own"]) if setup.own else ""
            text = _(t["duplicate"]).format(
                target=setup.target, mine=mine, macs=", ".join(result.macs)
            )
            yield paint(text, "red")
        elif not result.interrupted:
            yield paint(_(t["free"]).format(target=setup.target, iface=setup.iface), "green")
    elif not result.replies and not result.interrupted:
        yield paint(_(t["no-reply"]).format(iface=setup.iface, target=setup.target), "red")
