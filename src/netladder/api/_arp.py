"""`api.arp`: an ARP or NDP probe of a neighbour (ArpOptions) — arping's answers, conflicts and
duplicate-address detection as an ArpResult."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netladder.errors import N_, UsageError
from netladder.l2.model import ArpOptions, ArpResult, Claim, ProbeSetup, Reply
from netladder.l2.probe import ArpSession, prepare, require_raw
from netladder.net.driver import run

__all__ = ["ArpOptions", "ArpResult", "Claim", "ProbeSetup", "Reply", "arp"]

OnEvent = Callable[[ProbeSetup | Reply], None]


async def arp(options: ArpOptions, *, on_event: OnEvent | None = None) -> ArpResult:
    """Probe `options.target` on its link.  `on_event` hears the ProbeSetup (where and as whom
    the probe goes) before anything is sent, then each Reply as it comes.  Bad input — not a
    neighbour on an Ethernet link — raises UsageError, no CAP_NET_RAW EnvError; a send that
    fails ends the probe with `send_error` set; Ctrl-C (or cancellation under the CLI's
    selector) ends it with what it gathered, `interrupted` set."""
    if options.count is not None and options.count < 1:
        raise UsageError("the count must be at least 1, not {count}", count=options.count)
    for name in ("interval", "wait", "deadline"):
        value = getattr(options, name)
        if value is not None and not value > 0:
            raise UsageError("{name} must be more than 0 s, not {value}", name=name, value=value)
    count = options.count if options.count is not None or options.deadline else 3
    setup = prepare(options.target, options.iface, dad=options.dad)
    if on_event is not None:
        on_event(setup)
    require_raw(N_("arp needs CAP_NET_RAW to send ARP/NDP frames (AF_PACKET)"))
    session = ArpSession(
        setup,
        count=count,
        interval=options.interval,
        wait=options.wait,
        deadline=options.deadline,
        until_reply=options.until_reply,
    )

    def heard(_session: Any, event: Any) -> None:
        if on_event is not None:
            on_event(event)

    await run([session], heard)
    return session.result()
