"""UDP port scan as a sans-IO session: one connected UDP channel per port in flight, with the
error queue on (unprivileged).

A datagram back means open; ICMP port unreachable from the target (from the error queue, with
its exact type, code and sender) means closed; the same from a router, or any other
unreachable code, means filtered — a firewall on the way answers for the target, as nmap -sU
says ("port-unreach from ROUTER"); a time exceeded (a routing loop, a path longer than the TTL)
is filtered too; silence after the retries is open|filtered — an open UDP service may simply
not answer an empty datagram.  Each answer's round trip is its own: the kernel's receive
timestamp less the time its probe was sent.

Linux rate-limits ICMP errors per destination (net.ipv4.icmp_ratelimit, 1/s after a burst of
6 by default), so closed ports beyond the burst answer only later retries.  Once closed ports
have answered while others stay silent, retries are spaced a second apart and go on while
errors keep trickling in: many closed UDP ports take about a second each, as with nmap,
instead of being called open|filtered.
"""

from __future__ import annotations

import errno
from typing import Any

from netladder.errors import N_
from netladder.l4.engine import Tally, Timing, summarize
from netladder.l4.model import Note, PortState, ScanProgress, ScanResult
from netladder.net.linux import SO_EE_ORIGIN_ICMP6
from netladder.net.session import (
    ChannelSpec,
    CloseChannel,
    OpenChannel,
    Opened,
    Send,
    Session,
    Step,
)
from netladder.net.sockets import Received
from netladder.proto.tcp import icmp_reason

__all__ = ["PAYLOADS", "UdpScanSession", "udp_outcome"]

# What to send so that a service answers (nmap-payloads does the same); empty otherwise.
PAYLOADS: dict[int, bytes] = {
    7: b"\r\n\r\n",  # echo (RFC 862) echoes anything
    # DNS (RFC 1035 §4.1): a query for the root's NS records, id 0x4e4c
    53: bytes.fromhex("4e4c 0100 0001 0000 0000 0000 00 0002 0001"),
    # NTP (RFC 5905 §7.3): a version 4 client packet, everything else zero
    123: b"\x23" + bytes(47),
}

ICMP_REFILL = 1.0  # net.ipv4.icmp_ratelimit default: one more error per second
ICMP_STALL = 2.5  # no ICMP error for this long while rate limited: the rest are silent
UDP_TRIES = 3
DEFAULT_WINDOW = 256
NS = 1_000_000_000
# A send that failed with these still counts as sent: an ICMP error about an earlier try
# fails the next send once (sk_err), and the error itself waits on the error queue.
_SEND_ERRORS_OF_EARLIER_TRIES = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENOBUFS, errno.EAGAIN}
)


def udp_outcome(answer: Received, target: str) -> tuple[PortState, str, str | None] | None:
    """(state, nmap's reason, who sent the ICMP error) for what came back on a probe's socket;
    None for what says nothing about the port (an ICMP message of another kind)."""
    error = answer.error
    if error is None:
        return PortState.OPEN, "udp-response", None
    if not error.is_icmp:
        return None
    version = 6 if error.origin == SO_EE_ORIGIN_ICMP6 else 4
    reason = icmp_reason(version, error.icmp_type, error.icmp_code)
    if reason is None:
        return None
    if reason == "port-unreach" and error.offender in (None, target):
        return PortState.CLOSED, reason, error.offender
    # A router's port unreachable (a REJECT in its FORWARD chain), another unreachable code,
    # or a time exceeded: something on the way stops the probe (nmap -sU: filtered).
    return PortState.FILTERED, reason, error.offender


class UdpScanSession(Session[ScanResult]):
    """A UDP scan of `ports` at `address`, `window` ports in flight at once."""

    def __init__(
        self,
        target: str,
        address: str,
        ports: tuple[int, ...],
        *,
        timeout: float | None = None,
        window: int = DEFAULT_WINDOW,
        notes: tuple[Note, ...] = (),
    ) -> None:
        self.target = target
        self.address = address
        self.version = 6 if ":" in address else 4
        self.tally = Tally(ports)
        self.timing = Timing(timeout)
        self.window = window
        self.notes = notes
        self.pending = list(reversed(range(len(self.tally.ports))))
        self.opening = 0  # channels asked for, not yet opened
        self.channel: dict[int, int] = {}  # port index -> its channel
        self.index: dict[int, int] = {}  # channel -> port index
        self.inflight: dict[int, int] = {}  # port index -> last send (ns), oldest first
        self.unsent: list[int] = []  # opened, the first probe still to send
        self.closing: list[int] = []  # decided: their channels go
        self.icmp_seen = False
        self.limited = False  # the target's ICMP rate limit is pacing our answers
        self.last_icmp = 0
        self.probes_sent = 0
        # (errno, what) that ended the scan: `what` a template of {address} (l4.scan says it)
        self.failure: tuple[int, str] | None = None
        self.started = self.ended = self.now = self.reported = 0
        self.interrupted = False
        self.done = False

    def start(self, now: int) -> None:
        self.started = self.now = now

    def _timeout_ns(self, silent: int) -> int:
        """The adaptive timeout; but once closed ports have answered while others stay
        silent, the silence may be the target's rate limit (its burst may have been spent
        before we came): wait for its token bucket to refill between retries."""
        timeout = self.timing.timeout
        if self.timing.fixed is None and self.icmp_seen and silent:
            self.limited = True
        if self.limited:
            timeout = max(timeout, ICMP_REFILL)
        return round(timeout * NS)

    def poll(self, now: int) -> Step:
        self.now = now
        actions: list[Any] = [CloseChannel(c) for c in self.closing]
        self.closing.clear()
        for i in self.unsent:
            self._send(i, actions)
        self.unsent.clear()
        t = self.tally
        timeout = self._timeout_ns(len(self.inflight))
        inflight = self.inflight
        while inflight:
            i, sent = next(iter(inflight.items()))
            if now - sent < timeout:
                break
            del inflight[i]
            # Rate limited: closed ports answer one a second, so keep asking while answers
            # still trickle in (as nmap slows down); stop when they dry up.
            if t.tries[i] < UDP_TRIES or (
                self.limited and now - self.last_icmp < round(ICMP_STALL * NS)
            ):
                self._send(i, actions)
            else:
                t.decide(i, PortState.OPEN_FILTERED, "no-response")
                actions.append(CloseChannel(self.channel.pop(i)))
        while self.pending and len(self.channel) + self.opening < self.window:
            if self.failure is not None or self.interrupted:
                break
            i = self.pending.pop()
            self.opening += 1
            spec = ChannelSpec("udp", self.version, connect=(self.address, t.ports[i]))
            actions.append(OpenChannel(i, spec))
        events: tuple[Any, ...] = ()
        decided = t.decided
        self.done = self.failure is not None or not (
            self.pending or self.opening or self.channel or self.unsent
        )
        if decided > self.reported:
            events = (ScanProgress(decided - self.reported),)
            self.reported = decided
        if self.done:
            self.ended = self.ended or now
            return Step(actions, None, events, True)
        wake = None
        if inflight:
            wake = next(iter(inflight.values())) + self._timeout_ns(len(inflight))
        return Step(actions, wake, events)

    def _send(self, i: int, actions: list[Any]) -> None:
        port = self.tally.ports[i]
        actions.append(Send(self.channel[i], PAYLOADS.get(port, b""), (self.address, port), i))
        # In flight from now until on_sent says when it left: the driver polls again only
        # when asked to, so this poll's wake-up must already count it.
        self.inflight.pop(i, None)
        self.inflight[i] = self.now

    def on_opened(self, token: int, channel: int, opened: Opened | int) -> None:
        self.opening -= 1
        if isinstance(opened, int):
            if self.failure is None:
                self.failure = (opened, N_("cannot reach {address}"))
            return
        self.channel[token] = channel
        self.index[channel] = token
        self.unsent.append(token)

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        i = token
        if i not in self.channel:
            return
        self.tally.tries[i] += 1
        self.probes_sent += 1
        self.inflight.pop(i, None)
        self.inflight[i] = at
        if (
            error is not None
            and error not in _SEND_ERRORS_OF_EARLIER_TRIES
            and self.failure is None
        ):
            self.failure = (error, N_("cannot send to {address}"))

    def on_packet(self, channel: int, packet: Received) -> None:
        i = self.index.get(channel)
        if i is None or i not in self.channel:
            return
        outcome = udp_outcome(packet, self.address)
        if outcome is None:
            return
        state, reason, reporter = outcome
        sent = self.inflight.pop(i, None)
        # The kernel's receive time less this probe's own send time.
        rtt = (packet.monotonic_ns - sent) / NS if sent is not None else None
        if rtt is not None and rtt < 0:
            rtt = None  # an answer to an earlier try, read after the retry
        if self.tally.decide(i, state, reason, rtt, reporter):
            if rtt is not None and state is not PortState.FILTERED:
                self.timing.sample(rtt)
            if packet.error is not None:
                self.icmp_seen = True
                self.last_icmp = packet.monotonic_ns
        del self.channel[i]
        self.closing.append(channel)

    def interrupt(self) -> None:
        self.interrupted = True
        self.ended = self.now

    def result(self) -> ScanResult:
        return summarize(
            self.tally,
            target=self.target,
            address=self.address,
            proto="udp",
            method="udp",
            timing=self.timing,
            elapsed=max(0, (self.ended or self.now) - self.started) / NS,
            probes_sent=self.probes_sent,
            notes=self.notes,
            interrupted=self.interrupted,
        )
