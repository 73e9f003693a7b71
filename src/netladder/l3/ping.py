"""The echo engine behind `netladder ping`, and its programmatic API.

A `PingSession` is the per-target state machine: it decides when to send, matches what the
socket returns (identifier, sequence, per-run cookie, source), counts replies, duplicates,
corrupted replies and ICMP errors the way iputils does, and decides when to stop (`-c`, `-w`,
`-W` with iputils' meaning).  `run_sessions` is the one I/O loop: a `poll()` over one socket per
target.  It is synchronous on purpose: `netladder ping -c 1` is a one-shot command whose cost is
interpreter start-up, and importing asyncio alone would add a large share of it.  The async API
(`ping`) runs the same loop in a worker thread, so `diagnose` can await it inside its own loop.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import os
import select
import socket
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from netladder.errors import UsageError, from_oserror
from netladder.l3.stats import IputilsRtt, RttStats, iputils_rtt, loss_percent, rtt_stats
from netladder.net.sockets import IcmpSocket, Kind, Received, open_icmp, receive, route_source
from netladder.net.targets import Target, scope_index
from netladder.proto.icmp import build_echo, echo_payload, error_text, parse_icmp

__all__ = [
    "COOKIE_SIZE",
    "Corrupted",
    "PingOptions",
    "PingResult",
    "PingSession",
    "ProbeError",
    "Sample",
    "ping",
    "ping_many",
    "run_sessions",
]

COOKIE_SIZE = 8
# iputils times a probe only when its data can hold a struct timeval (16 bytes on 64-bit Linux);
# below that it prints no time= and no rtt line (ping.c: `rts->timing`).
TIMING_MIN_SIZE = 16
MAX_PAYLOAD = {4: 65507, 6: 65527}  # 65535 − IPv4 header (20) − ICMP header (8); IPv6: − 8
DEFAULT_LINGER = 10.0  # iputils MAXWAIT: how long to wait for a first reply after the last probe
NS = 1_000_000_000


class PingOptions(NamedTuple):
    """The options of iputils ping that netladder keeps, with their meaning there."""

    # -c: stop after this many probes and their answers; with -w, after this many answers
    # (iputils keeps sending until then or until the deadline)
    probes: int | None = None
    interval: float = 1.0  # -i seconds between probes
    wait: float = DEFAULT_LINGER  # -W: after the last probe, while nothing came back
    deadline: float | None = None  # -w: stop after this many seconds whatever happens
    size: int = 56  # -s data bytes
    ttl: int | None = None  # -t
    device: str | None = None  # -I interface
    source: str | None = None  # -I address
    prefer: Kind | None = None  # force "dgram" or "raw"
    broadcast: bool = False  # -b: allowed to ping a broadcast address


class Sample(NamedTuple):
    """One echo reply (or duplicate) that was ours."""

    seq: int
    rtt_us: int  # whole microseconds, as iputils keeps them
    rtt_ms: float
    ttl: int | None
    size: int  # ICMP bytes (header + data), as ping prints them
    duplicate: bool = False
    truncated: bool = False
    source: str | None = None  # who answered, when not the target itself (-b)


class Corrupted(NamedTuple):
    """An echo reply to one of our probes whose ICMP checksum is wrong (not counted as a reply)."""

    seq: int
    size: int


class ProbeError(NamedTuple):
    """An ICMP error caused by one of our probes, naming the router that sent it."""

    seq: int
    source: str
    icmp_type: int
    icmp_code: int
    text: str


Event = Sample | Corrupted | ProbeError


class PingResult(NamedTuple):
    """Everything one target's run produced; statistics are derived, the evidence is kept."""

    target: Target
    socket_kind: str
    identifier: int
    size: int
    transmitted: int
    received: int
    duplicates: int
    corrupted: int
    errors: int
    time_ms: float  # from the start to the last probe sent, as iputils' summary "time"
    pipe: int
    samples: tuple[Sample, ...] = ()
    error_events: tuple[ProbeError, ...] = ()
    interrupted: bool = False
    probes: int | None = None
    deadline: float | None = None
    interval: float = 1.0

    @property
    def loss_percent(self) -> float:
        return loss_percent(self.transmitted, self.received)

    @property
    def timed(self) -> bool:
        """Whether iputils would time these probes (data of at least 16 bytes)."""
        return self.size >= TIMING_MIN_SIZE

    @property
    def iputils(self) -> IputilsRtt | None:
        """min/avg/max/mdev exactly as iputils prints them (replies and duplicates)."""
        return iputils_rtt([s.rtt_us for s in self.samples])

    @property
    def rtt(self) -> RttStats | None:
        return rtt_stats([s.rtt_ms for s in self.samples])

    @property
    def reply_ttls(self) -> tuple[int, ...]:
        return tuple(sorted({s.ttl for s in self.samples if s.ttl is not None}))

    @property
    def success(self) -> bool:
        """iputils' exit status: a reply came, and with -c and -w, all of them did."""
        if not self.received:
            return False
        return not (
            self.deadline is not None and self.probes is not None and self.received < self.probes
        )

    @property
    def verdict(self) -> str:
        """What the evidence says about reachability, for `diagnose`.

        "reachable": echo replies came back.  "prohibited": a filter answered for it (ICMP
        administratively prohibited).  "unreachable": a router said there is no way there.
        "ttl-exceeded": the probes died on the way.  "silent": nothing at all came back — the
        host may be down *or* a firewall drops ICMP; echo alone cannot tell these apart.
        """
        if self.received:
            return "reachable"
        kinds = {(e.icmp_type, e.icmp_code) for e in self.error_events}
        version = self.target.version
        prohibited = {(3, 9), (3, 10), (3, 13)} if version == 4 else {(1, 1), (1, 5), (1, 6)}
        if kinds & prohibited:
            return "prohibited"
        if any(t == (11 if version == 4 else 3) for t, _ in kinds):
            return "ttl-exceeded"
        if kinds:
            return "unreachable"
        return "silent"


class PingSession:
    """One target's probes and what came back, driven by `run_sessions` (mutable state; a
    plain slotted class because start-up time counts on this path)."""

    __slots__ = (
        "_address",
        "_answered",
        "_check",
        "_payload",
        "_sent_at",
        "cookie",
        "corrupted",
        "duplicates",
        "error_events",
        "errors",
        "finished",
        "identifier",
        "interrupted",
        "is_broadcast",
        "last_sent_ns",
        "linger_end_ns",
        "next_send_ns",
        "on_event",
        "options",
        "pipe",
        "received",
        "samples",
        "scope_name",
        "sock",
        "source",
        "started_ns",
        "target",
        "tmax_us",
        "transmitted",
    )

    def __init__(
        self,
        target: Target,
        options: PingOptions,
        sock: IcmpSocket,
        cookie: bytes,
        on_event: Callable[[PingSession, Event], None] | None = None,
    ) -> None:
        self.target = target
        # The local address probes leave from (the header's "from"), when known.
        self.source: str | None = None
        self.is_broadcast = False  # the target is a broadcast address (and -b allowed it)
        self.options = options
        self.sock = sock
        self.cookie = cookie
        self.on_event = on_event
        kernel_id = sock.identifier
        self.identifier = kernel_id if kernel_id is not None else _random_identifier()
        self.transmitted = self.received = self.duplicates = self.corrupted = 0
        self.errors = self.pipe = self.tmax_us = 0
        self.started_ns = self.last_sent_ns = self.next_send_ns = 0
        self.linger_end_ns: int | None = None
        self.finished = self.interrupted = False
        self.samples: list[Sample] = []
        self.error_events: list[ProbeError] = []
        self._sent_at: dict[int, int] = {}
        self._answered: set[int] = set()
        self._payload = echo_payload(cookie, options.size)
        self._check = self._payload[:COOKIE_SIZE]
        # A link-local IPv6 target needs its interface (`fe80::1%eth0` or -I eth0): in the
        # sockaddr to send, and in every address printed, as iputils prints them (getnameinfo).
        scope = target.scope or (options.device if _link_local(target) else None)
        self.scope_name: str | None = None
        self._address: tuple[str, int] | tuple[str, int, int, int] = (target.address, 0)
        if scope is not None and target.version == 6:
            index = scope_index(scope)
            self.scope_name = socket.if_indextoname(index)
            self._address = (target.address, 0, 0, index)

    # -- sending ------------------------------------------------------------------------------

    def start(self, now_ns: int) -> None:
        self.started_ns = self.next_send_ns = self.last_sent_ns = now_ns

    def _deadline_ns(self) -> int | None:
        if self.options.deadline is None:
            return None
        return self.started_ns + int(self.options.deadline * NS)

    def tick(self, now_ns: int) -> None:
        """Send what is due and decide whether the run is over (iputils main_loop order)."""
        if self.finished:
            return
        if not self._over(now_ns) and self._may_send() and now_ns >= self.next_send_ns:
            self._send(now_ns)
        self.finished = self._over(now_ns)

    def answered_enough(self) -> bool:
        """The run is over whatever the clock says (iputils main_loop's first checks)."""
        opts = self.options
        if opts.probes and self.received + self.errors >= opts.probes:
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
        return not opts.probes or opts.deadline is not None or self.transmitted < opts.probes

    def _send(self, now_ns: int) -> None:
        seq = (self.transmitted + 1) & 0xFFFF
        packet = build_echo(self.target.version, self.identifier, seq, self._payload)
        sent_ns = time.monotonic_ns()
        try:
            self._sendto(packet)
        except OSError as exc:
            self._send_failed(seq, exc)
        self.transmitted += 1
        self._sent_at[seq] = sent_ns
        self._answered.discard(seq)  # the sequence wrapped: a reply to it is new again
        # iputils' summary "time" runs to the last send (cur_time, set in pinger()).
        self.last_sent_ns = sent_ns
        self.next_send_ns += int(self.options.interval * NS)
        if not self._may_send() and self.options.deadline is None:
            # iputils schedule_exit(): once the last probe is out, wait twice the longest RTT
            # (at least one interval) if anything came back, else -W.
            if self.received:
                linger_us = max(2 * self.tmax_us, int(self.options.interval * 1_000_000))
            else:
                linger_us = int(self.options.wait * 1_000_000)
            self.linger_end_ns = sent_ns + linger_us * 1000

    def _sendto(self, packet: bytes) -> None:
        address = self._address
        try:
            self.sock.sock.sendto(packet, address)
        except OSError as exc:
            # The socket keeps the last ICMP error (sk_err) and fails the next send with it,
            # once, before sending; that error was counted from the ICMP message itself (or
            # the error queue): send again.
            if exc.errno not in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                raise
            self.sock.sock.sendto(packet, address)

    def _send_failed(self, seq: int, exc: OSError) -> None:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM):
            text = os.strerror(exc.errno or 0)
            self._error(ProbeError(seq, "local", 0, 0, f"sendmsg: {text}"))
        elif exc.errno not in (errno.ENOBUFS, errno.EAGAIN):
            raise from_oserror(exc, f"cannot send to {self.target.address}") from None

    def next_wakeup_ns(self) -> int | None:
        candidates = []
        if self._may_send():
            candidates.append(self.next_send_ns)
        if self.linger_end_ns is not None:
            candidates.append(self.linger_end_ns)
        if (deadline := self._deadline_ns()) is not None:
            candidates.append(deadline)
        return min(candidates) if candidates else None

    # -- receiving ----------------------------------------------------------------------------

    def on_receive(self, r: Received) -> None:
        """A datagram from the socket (or its error queue); anything not ours is ignored."""
        version = self.target.version
        if r.error is not None:
            self._on_queued_error(r)
            return
        message = parse_icmp(r.data, version, self.sock.includes_ip_header)
        if message is None:
            return  # too short to be an ICMP message: nothing to match it with
        source = message.source or r.source
        if message.is_echo_reply:
            # A broadcast is answered by every host that hears it (-b).
            if source != self.target.address and not self.options.broadcast:
                return
            if self.sock.kind == "raw" and message.identifier != self.identifier:
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
                self._emit(Corrupted(seq, size))
                return
            rtt_ns = max(r.monotonic_ns - sent_ns, 0)
            self._acknowledge(seq)
            duplicate = seq in self._answered
            if duplicate:
                self.duplicates += 1
            else:
                self._answered.add(seq)
                self.received += 1
            rtt_us = rtt_ns // 1000
            self.tmax_us = max(self.tmax_us, rtt_us)
            sample = Sample(
                seq,
                rtt_us,
                rtt_ns / 1e6,
                r.ttl if r.ttl is not None else message.ttl,
                size,
                duplicate,
                len(data) < len(self._payload),
                source if source != self.target.address else None,
            )
            self.samples.append(sample)
            self._emit(sample)
        elif message.is_error and message.quoted is not None:
            quoted = message.quoted
            if quoted.dst != self.target.address or quoted.protocol not in (1, 58):
                return
            if self.sock.kind == "raw" and quoted.field_a != self.identifier:
                return
            if quoted.field_b not in self._sent_at:
                return
            self._error(
                ProbeError(quoted.field_b, source, message.type, message.code, message.text)
            )

    def _on_queued_error(self, r: Received) -> None:
        """Datagram sockets: the error queue gives back our own probe and the offender."""
        error = r.error
        assert error is not None
        if not error.is_icmp:
            return
        probe = parse_icmp(r.data, self.target.version)
        if probe is None or probe.sequence not in self._sent_at:
            return
        version = self.target.version
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
        self._emit(event)

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(self, event)

    def display(self, address: str) -> str:
        """An address as iputils prints it: link-local ones with their interface."""
        if self.scope_name is not None and address.lower().startswith("fe"):
            if ipaddress.ip_address(address).is_link_local:
                return f"{address}%{self.scope_name}"
        return address

    def result(self) -> PingResult:
        end = max(self.last_sent_ns, self.started_ns)
        return PingResult(
            target=self.target,
            socket_kind=self.sock.kind,
            identifier=self.identifier,
            size=self.options.size,
            transmitted=self.transmitted,
            received=self.received,
            duplicates=self.duplicates,
            corrupted=self.corrupted,
            errors=self.errors,
            time_ms=(end - self.started_ns) / 1e6,
            pipe=self.pipe,
            samples=tuple(self.samples),
            error_events=tuple(self.error_events),
            interrupted=self.interrupted,
            probes=self.options.probes,
            interval=self.options.interval,
            deadline=self.options.deadline,
        )


def _random_identifier() -> int:
    return int.from_bytes(os.urandom(2), "big")


def _link_local(target: Target) -> bool:
    return target.version == 6 and ipaddress.ip_address(target.address).is_link_local


BROADCAST_REFUSED = (
    "Do you want to ping broadcast? Then -b. If not, check your local firewall rules"
)


def _local_source(session: PingSession) -> str | None:
    """Where the probes leave from, looked up as iputils does before its first probe — which
    is also how a broadcast target is told: the kernel refuses to route to one (EACCES) on a
    socket without SO_BROADCAST (ip_route_connect)."""
    opts = session.options
    try:
        try:
            found = route_source(session._address, device=opts.device)
        except OSError as exc:
            if exc.errno != errno.EACCES:
                raise
            if not opts.broadcast:
                raise UsageError(BROADCAST_REFUSED) from None
            session.is_broadcast = True
            found = route_source(session._address, device=opts.device, broadcast=True)
    except OSError:
        return opts.source  # no route: each probe's send says so (`sendmsg: …`)
    return opts.source or found


def new_cookie() -> bytes:
    return os.urandom(COOKIE_SIZE)


def open_sessions(
    targets: Sequence[Target],
    options: PingOptions,
    on_event: Callable[[PingSession, Event], None] | None = None,
) -> list[PingSession]:
    """One socket per target (each datagram socket gets its own kernel identifier)."""
    cookie = new_cookie()
    sessions: list[PingSession] = []
    try:
        for target in targets:
            sock = open_icmp(
                target.version,
                options.prefer,
                ttl=options.ttl,
                device=options.device,
                source=options.source,
            )
            session = PingSession(target, options, sock, cookie, on_event)
            sessions.append(session)
            session.source = _local_source(session)
            if options.broadcast:
                sock.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    except BaseException:
        for s in sessions:
            s.sock.close()
        raise
    return sessions


def run_sessions(sessions: Sequence[PingSession]) -> None:
    """Drive sessions until each is finished.  KeyboardInterrupt marks them interrupted and is
    re-raised, so the caller can print what was gathered before exiting."""
    poller = select.poll()
    by_fd = {}
    for s in sessions:
        poller.register(s.sock.fileno(), select.POLLIN | select.POLLERR)
        by_fd[s.sock.fileno()] = s
    now = time.monotonic_ns()
    for s in sessions:
        s.start(now)
    try:
        while True:
            now = time.monotonic_ns()
            for s in sessions:
                s.tick(now)
            active = [s for s in sessions if not s.finished]
            if not active:
                return
            wakeups = [w for s in active if (w := s.next_wakeup_ns()) is not None]
            timeout_ms = -1
            if wakeups:
                timeout_ms = max(0, math.ceil((min(wakeups) - time.monotonic_ns()) / 1e6))
            for fd, _mask in poller.poll(timeout_ms):
                s = by_fd[fd]
                _drain(s)
    except KeyboardInterrupt:
        for s in sessions:
            s.interrupted = not s.finished
        raise
    finally:
        for s in sessions:
            s.sock.close()


def _drain(session: PingSession) -> None:
    # Reading stops at the answer that ends the run, as iputils' does: what is queued behind
    # it (a broadcast's other repliers, a duplicate) is not counted.
    sock = session.sock.sock
    if session.sock.kind == "dgram":
        while not session.answered_enough() and (r := receive(sock, errqueue=True)) is not None:
            session.on_receive(r)
    for _ in range(100_000):
        if session.answered_enough():
            break
        try:
            r = receive(sock)
        except OSError:
            continue  # a raw socket reports a pending ICMP error once (sk_err); read on
        if r is None:
            break
        session.on_receive(r)


def ping_many(targets: Sequence[Target], options: PingOptions) -> list[PingResult]:
    """Synchronous: ping targets concurrently, return a result per target."""
    sessions = open_sessions(targets, options)
    run_sessions(sessions)
    return [s.result() for s in sessions]


async def ping(
    target: str | Target,
    count: int = 3,
    *,
    interval: float = 0.2,
    wait: float = 1.0,
    deadline: float | None = None,
    size: int = 56,
    ttl: int | None = None,
    version: int | None = None,
) -> PingResult:
    """The programmatic API: ping `target` `count` times and return the evidence.

    Runs the same engine as the CLI in a worker thread (no event loop is started here).
    """
    import asyncio

    from netladder.net.targets import resolve

    resolved = target if isinstance(target, Target) else resolve(target, version)
    options = PingOptions(
        probes=count, interval=interval, wait=wait, deadline=deadline, size=size, ttl=ttl
    )
    results = await asyncio.to_thread(ping_many, [resolved], options)
    return results[0]
