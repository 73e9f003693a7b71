"""The echo engine behind `netladder ping` and `api.ping`: one sans-IO session per target.

A `PingSession` is iputils ping's main loop as a state machine (net/session.py): it decides
when to send, matches what the socket returns (identifier, sequence, per-run cookie, source),
counts replies, duplicates, corrupted replies and ICMP errors the way iputils does, and decides
when to stop (`-c`, `-w`, `-W` with iputils' meaning).  It touches no socket and no clock: the
driver (net/driver.py) sends what it asks for, stamps each send right before the syscall and
hands back every datagram with the kernel's receive stamp.  `prepare` is the set-up iputils
does before its first probe (the route's source address, a broadcast refused without -b).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Sequence

from netladder.errors import UsageError
from netladder.l3.model import (
    Corrupted,
    PingEvent,
    PingOptions,
    PingResult,
    PingStarted,
    ProbeError,
    Sample,
)
from netladder.net.session import ChannelSpec, Opened, Send, Session, Step
from netladder.net.sockets import Received, route_source
from netladder.net.targets import Target, scope_index
from netladder.proto.icmp import build_echo, echo_payload, error_text, parse_icmp

__all__ = [
    "BROADCAST_REFUSED",
    "COOKIE_SIZE",
    "PingSession",
    "PingSetup",
    "new_cookie",
    "prepare",
    "sessions",
]

COOKIE_SIZE = 8
NS = 1_000_000_000
# A send that fails with these is the probe's fate (iputils prints `sendmsg: …` and counts an
# error); ENOBUFS / EAGAIN lose the probe silently, as a full queue on a wire would.
_PROBE_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM})
_LOST_ERRNOS = frozenset({errno.ENOBUFS, errno.EAGAIN})

BROADCAST_REFUSED = (
    "Do you want to ping broadcast? Then -b. If not, check your local firewall rules"
)


class PingSetup:
    """Where a target's probes go and leave from, found before the first probe."""

    __slots__ = ("address", "broadcast", "scope_name", "source", "target")

    def __init__(
        self,
        target: Target,
        address: tuple[str, int] | tuple[str, int, int, int],
        scope_name: str | None,
        source: str | None,
        broadcast: bool,
    ) -> None:
        self.target = target
        self.address = address  # the sockaddr to send to (with the interface index, scoped)
        self.scope_name = scope_name
        self.source = source
        self.broadcast = broadcast  # the target is a broadcast address (and -b allowed it)


def _link_local(target: Target) -> bool:
    return target.version == 6 and ipaddress.ip_address(target.address).is_link_local


def prepare(target: Target, options: PingOptions) -> PingSetup:
    """The sockaddr, the interface of a link-local target and the source address, looked up
    as iputils does before its first probe — which is also how a broadcast target is told:
    the kernel refuses to route to one (EACCES) on a socket without SO_BROADCAST
    (ip_route_connect).  UsageError for a broadcast target without -b (iputils' words)."""
    # A link-local IPv6 target needs its interface (`fe80::1%eth0` or -I eth0): in the
    # sockaddr to send, and in every address printed, as iputils prints them (getnameinfo).
    scope = target.scope or (options.device if _link_local(target) else None)
    scope_name: str | None = None
    address: tuple[str, int] | tuple[str, int, int, int] = (target.address, 0)
    if scope is not None and target.version == 6:
        index = scope_index(scope)
        scope_name = socket.if_indextoname(index)
        address = (target.address, 0, 0, index)
    broadcast = False
    try:
        try:
            found = route_source(address, device=options.device)
        except OSError as exc:
            if exc.errno != errno.EACCES:
                raise
            if not options.broadcast:
                raise UsageError(BROADCAST_REFUSED) from None
            broadcast = True
            found = route_source(address, device=options.device, broadcast=True)
    except OSError:
        found = None  # no route: each probe's send says so (`sendmsg: …`)
    return PingSetup(target, address, scope_name, options.source or found, broadcast)


def new_cookie() -> bytes:
    return os.urandom(COOKIE_SIZE)


def sessions(targets: Sequence[Target], options: PingOptions) -> list[PingSession]:
    """A session per target, sharing one cookie (a reply to another run is never ours); the
    route lookups of `prepare` first, so bad input is refused before any socket opens."""
    cookie = new_cookie()
    return [PingSession(prepare(target, options), options, cookie) for target in targets]


def _random_identifier() -> int:
    return int.from_bytes(os.urandom(2), "big")


class PingSession(Session[PingResult]):
    """One target's probes and what came back (mutable state; a plain slotted class because
    start-up time counts on this path).  Events: `PingStarted` with the first probe, then
    every `Sample`, `Corrupted` and `ProbeError` as it comes."""

    __slots__ = (
        "_answered",
        "_check",
        "_events",
        "_payload",
        "_sent_at",
        "channels",
        "cookie",
        "corrupted",
        "duplicates",
        "error_events",
        "errors",
        "finished",
        "identifier",
        "includes_ip_header",
        "interrupted",
        "kind",
        "last_sent_ns",
        "linger_end_ns",
        "next_send_ns",
        "options",
        "pipe",
        "received",
        "samples",
        "send_error",
        "setup",
        "started",
        "started_ns",
        "tmax_us",
        "transmitted",
    )

    def __init__(self, setup: PingSetup, options: PingOptions, cookie: bytes) -> None:
        target = setup.target
        self.setup = setup
        self.options = options
        self.cookie = cookie
        # Chosen now so a raw socket filters other pings' replies in the kernel; a datagram
        # socket's kernel owns the identifier (the bound "port") and `bind` takes that.
        self.identifier = _random_identifier()
        self.channels = (
            ChannelSpec(
                "icmp",
                target.version,
                prefer=options.socket,
                ttl=options.ttl,
                device=options.device,
                source=options.source,
                broadcast=options.broadcast,
                echo_id=self.identifier,
            ),
        )
        self.kind = "raw"
        self.includes_ip_header = False
        self.transmitted = self.received = self.duplicates = self.corrupted = 0
        self.errors = self.pipe = self.tmax_us = 0
        self.started_ns = self.last_sent_ns = self.next_send_ns = 0
        self.linger_end_ns: int | None = None
        self.finished = self.interrupted = self.started = False
        self.send_error: int | None = None
        self.samples: list[Sample] = []
        self.error_events: list[ProbeError] = []
        self._events: list[PingEvent] = []
        self._sent_at: dict[int, int] = {}
        self._answered: set[int] = set()
        self._payload = echo_payload(cookie, options.size)
        self._check = self._payload[:COOKIE_SIZE]

    # -- the session contract ----------------------------------------------------------------

    def bind(self, opened: Sequence[Opened]) -> None:
        channel = opened[0]
        self.kind = channel.kind
        self.includes_ip_header = channel.includes_ip_header
        if channel.identifier is not None:
            self.identifier = channel.identifier

    def start(self, now: int) -> None:
        self.started_ns = self.next_send_ns = self.last_sent_ns = now

    def poll(self, now: int) -> Step:
        """Send what is due and decide whether the run is over (iputils main_loop order)."""
        actions: list[Send] = []
        if not self.started:
            self.started = True
            self._events.insert(0, self._started())
        if not self.finished:
            if not self._over(now) and self._may_send() and now >= self.next_send_ns:
                actions.append(self._send(now))
            self.finished = self._over(now)
        events, self._events = self._events, []
        if actions:
            # Polled again at once: by then on_sent has stamped the probe (its linger).
            return Step(actions, now, events)
        return Step((), self._next_wakeup_ns(), events, self.finished)

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        seq = token
        if error is not None:
            self._send_failed(seq, error)
        self._sent_at[seq] = at
        # iputils' summary "time" runs to the last send (cur_time, set in pinger()).
        self.last_sent_ns = at
        if not self._may_send() and self.options.deadline is None:
            # iputils schedule_exit(): once the last probe is out, wait twice the longest RTT
            # (at least one interval) if anything came back, else -W.
            if self.received:
                linger_us = max(2 * self.tmax_us, int(self.options.interval * 1_000_000))
            else:
                linger_us = int(self.options.wait * 1_000_000)
            self.linger_end_ns = at + linger_us * 1000

    def on_packet(self, channel: int, packet: Received) -> None:
        """A datagram from the socket (or its error queue); anything not ours is ignored, and
        so is what comes after the answer that ends the run, as iputils stops reading there
        (a broadcast's other repliers, a duplicate queued behind it)."""
        if self.finished or self.answered_enough():
            return
        if packet.error is not None:
            self._on_queued_error(packet)
            return
        version = self.setup.target.version
        message = parse_icmp(packet.data, version, self.includes_ip_header)
        if message is None:
            return  # too short to be an ICMP message: nothing to match it with
        source = message.source or packet.source
        target = self.setup.target.address
        if message.is_echo_reply:
            # A broadcast is answered by every host that hears it (-b).
            if source != target and not self.options.broadcast:
                return
            if self.kind == "raw" and message.identifier != self.identifier:
                return
            seq = message.sequence
            sent_ns = self._sent_at.get(seq)
            if sent_ns is None:
                return
            data = message.payload
            if data[: len(self._check)] != self._check:
                return  # another run's cookie, or cut off before it: not provably ours
            size = 8 + len(data)
            if not message.checksum_ok:
                self.corrupted += 1
                self._events.append(Corrupted(seq, size))
                return
            rtt_ns = max(packet.monotonic_ns - sent_ns, 0)
            self._acknowledge(seq)
            duplicate = seq in self._answered
            if duplicate:
                self.duplicates += 1
            else:
                self._answered.add(seq)
                self.received += 1
            self.tmax_us = max(self.tmax_us, rtt_ns // 1000)
            sample = Sample(
                seq,
                rtt_ns,
                packet.ttl if packet.ttl is not None else message.ttl,
                size,
                duplicate,
                len(data) < len(self._payload),
                source if source != target else None,
            )
            self.samples.append(sample)
            self._events.append(sample)
        elif message.is_error and message.quoted is not None:
            quoted = message.quoted
            if quoted.dst != target or quoted.protocol not in (1, 58):
                return
            if self.kind == "raw" and quoted.field_a != self.identifier:
                return
            if quoted.field_b not in self._sent_at:
                return
            self._error(
                ProbeError(quoted.field_b, source, message.type, message.code, message.text)
            )

    def interrupt(self) -> None:
        self.interrupted = not self.finished
        self.finished = True

    def result(self) -> PingResult:
        end = max(self.last_sent_ns, self.started_ns)
        options = self.options
        return PingResult(
            target=self.setup.target,
            socket_kind=self.kind,
            identifier=self.identifier,
            size=options.size,
            transmitted=self.transmitted,
            received=self.received,
            duplicates=self.duplicates,
            corrupted=self.corrupted,
            errors=self.errors,
            time_ns=end - self.started_ns,
            pipe=self.pipe,
            samples=tuple(self.samples),
            error_events=tuple(self.error_events),
            interrupted=self.interrupted,
            count=options.count,
            deadline=options.deadline,
            interval=options.interval,
            send_error=self.send_error,
        )

    # -- iputils' rules ----------------------------------------------------------------------

    def _started(self) -> PingStarted:
        setup, options = self.setup, self.options
        return PingStarted(
            setup.target,
            self.kind,
            self.identifier,
            options.size,
            setup.source,
            options.device,
            options.device is not None or options.source is not None,
            setup.broadcast,
            options.broadcast,
            setup.scope_name,
        )

    def _deadline_ns(self) -> int | None:
        if self.options.deadline is None:
            return None
        return self.started_ns + int(self.options.deadline * NS)

    def answered_enough(self) -> bool:
        """The run is over whatever the clock says (iputils main_loop's first checks)."""
        opts = self.options
        if self.send_error is not None:
            return True
        if opts.count and self.received + self.errors >= opts.count:
            return True
        return opts.deadline is not None and self.errors > 0  # with -w, the first error ends it

    def _over(self, now_ns: int) -> bool:
        if self.answered_enough():
            return True
        if (deadline := self._deadline_ns()) is not None and now_ns >= deadline:
            return True
        return self.linger_end_ns is not None and now_ns >= self.linger_end_ns

    def _may_send(self) -> bool:
        # iputils pinger(): with -w, -c no longer limits what is sent, only the answers that
        # end the run — a lost probe is made up for until the deadline.
        opts = self.options
        return not opts.count or opts.deadline is not None or self.transmitted < opts.count

    def _send(self, now_ns: int) -> Send:
        seq = (self.transmitted + 1) & 0xFFFF
        packet = build_echo(self.setup.target.version, self.identifier, seq, self._payload)
        self.transmitted += 1
        self._answered.discard(seq)  # the sequence wrapped: a reply to it is new again
        self.next_send_ns += int(self.options.interval * NS)
        return Send(0, packet, self.setup.address, seq)

    def _send_failed(self, seq: int, error: int) -> None:
        if error in _PROBE_ERRNOS:
            self._error(ProbeError.refused(seq, error))
        elif error not in _LOST_ERRNOS:
            self.send_error = error  # not this probe's fate: the run stops (the API raises)

    def _next_wakeup_ns(self) -> int | None:
        if self.finished:
            return None
        candidates = []
        if self._may_send():
            candidates.append(self.next_send_ns)
        if self.linger_end_ns is not None:
            candidates.append(self.linger_end_ns)
        if (deadline := self._deadline_ns()) is not None:
            candidates.append(deadline)
        return min(candidates) if candidates else None

    def _on_queued_error(self, packet: Received) -> None:
        """Datagram sockets: the error queue gives back our own probe and the offender."""
        error = packet.error
        assert error is not None
        if not error.is_icmp:
            return
        version = self.setup.target.version
        probe = parse_icmp(packet.data, version)
        if probe is None or probe.sequence not in self._sent_at:
            return
        text = error_text(version, error.icmp_type, error.icmp_code)
        self._error(
            ProbeError(
                probe.sequence, error.offender or "?", error.icmp_type, error.icmp_code, text
            )
        )

    def _acknowledge(self, seq: int) -> None:
        # iputils acknowledge(): "pipe" is the most probes that were out when one was answered.
        diff = (self.transmitted - seq) & 0xFFFF
        if diff <= 0x7FFF:
            self.pipe = max(self.pipe, diff + 1)

    def _error(self, event: ProbeError) -> None:
        self._acknowledge(event.seq)
        self.errors += 1
        self.error_events.append(event)
        self._events.append(event)
