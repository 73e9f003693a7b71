"""Does a full-size packet get through?  The path-MTU check behind L3's small echoes.

A link with a smaller MTU on the way is normal: its router drops a larger packet that may not be
fragmented (DF; IPv6 routers never fragment) and says so with ICMP "fragmentation needed" /
ICMPv6 "packet too big", and the sender lowers its packet size — path MTU discovery (RFC 1191,
RFC 8201).  When that ICMP is filtered, the larger packets vanish without a word: the PMTU black
hole (RFC 2923 §2.1).  Pings, handshakes and a HEAD pass; the first full-size segment of a real
transfer never arrives.

`PmtuProbe` is a sans-IO session (net/session.py).  Its first look is one small echo (the
control) and up to three echoes of the kernel's path MTU with DF set, 50 ms apart; the first
full-size reply ends it, a round trip after it began.  If every full-size echo vanishes while
the control is answered, it searches for the largest size that gets through, in rounds of
echoes spread over the unknown range (each size twice, a control in every round) — what
`ping -M do -s SIZE` finds one size at a time.

It must not run beside another raw ICMP socket of this process: a "fragmentation needed" about
any ICMP packet of this host sets the pending error of every raw ICMP socket (raw_icmp_error()
in net/ipv4/raw.c), and their next send fails with EMSGSIZE.  `diagnose` runs it after L3.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence

from netladder.diagnose.model import PmtuResult, header_size
from netladder.net.linux import SO_EE_ORIGIN_LOCAL
from netladder.net.session import ChannelSpec, Opened, Send, Session, Step
from netladder.net.sockets import Received
from netladder.proto.icmp import build_echo, echo_payload, parse_icmp

__all__ = ["PmtuProbe", "PmtuResult", "header_size"]

MS = 1_000_000
COOKIE_SIZE = 8
CONTROL_DATA = 56  # the data size of L3's echoes (iputils' default)
FIRST_LOOK = 3  # full-size echoes before the search
FIRST_LOOK_GAP_NS = 50 * MS
PACE_NS = 2 * MS  # between the echoes of a search round: no burst for a slow link to drop
COPIES = 2  # each searched size is sent twice: one random loss does not move the bound
ROUND_SIZES = 24
MAX_ROUNDS = 4
# MTUs met in the field; the first search round tries those inside the unknown range, so a
# common one is found exactly in two rounds.
COMMON_MTUS = (
    1492,  # PPPoE (RFC 2516)
    1480,  # IP in IP
    1476,  # GRE
    1460,
    1450,  # VXLAN
    1440,
    1420,  # WireGuard
    1400,
    1380,
    1360,
    1300,
    1280,  # the IPv6 minimum (RFC 8200 §5)
    1200,
    1024,
    576,  # the IPv4 datagram every host must accept (RFC 791)
)


def _too_big(version: int, icmp_type: int, code: int) -> bool:
    # RFC 792: type 3 code 4, fragmentation needed and DF set; RFC 4443 §3.2: type 2.
    return (icmp_type, code) == (3, 4) if version == 4 else icmp_type == 2


class PmtuProbe(Session[PmtuResult]):
    def __init__(self, address: str, version: int, full_size: int, wait: float = 1.0) -> None:
        self.channels = (ChannelSpec("icmp", version, dont_fragment=True),)
        self.address = address
        self.version = version
        self.full = full_size
        self.control = CONTROL_DATA + header_size(version)
        self.wait_ns = int(wait * 1e9)
        self.cookie = os.urandom(COOKIE_SIZE)
        self.ident = int.from_bytes(os.urandom(2), "big")
        self.includes_ip_header = False
        self.kind = "raw"
        self.seq = 0
        self.size_of: dict[int, int] = {}  # seq -> packet size
        self.answered: set[int] = set()  # sizes that got an answer
        self.round_sizes: set[int] = set()
        self.round_answered: set[int] = set()
        self.queue: list[tuple[int, int]] = []  # (due ns, size), in order
        self.round_end: int | None = None
        self.rounds = 0
        self.lo = self.control  # the largest size known to get through
        self.hi = full_size  # the smallest size known to vanish
        self.outcome: str | None = None
        self.reported_mtu: int | None = None
        self.reporter: str | None = None
        self.started = self.ended = 0

    # -- the session contract ---------------------------------------------------------------

    def bind(self, opened: Sequence[Opened]) -> None:
        channel = opened[0]
        self.kind = channel.kind
        self.includes_ip_header = channel.includes_ip_header
        if channel.identifier is not None:
            self.ident = channel.identifier

    def start(self, now: int) -> None:
        self.started = now
        if self.full <= self.control:
            self._finish("fits", now)  # nothing larger than L3's echoes to try
            return
        self.queue = [(now, self.control)] + [
            (now + i * FIRST_LOOK_GAP_NS, self.full) for i in range(FIRST_LOOK)
        ]
        self.round_sizes = {self.control, self.full}

    def poll(self, now: int) -> Step:
        actions: list[Send] = []
        while self.outcome is None and self.queue and self.queue[0][0] <= now:
            _, size = self.queue.pop(0)
            if size == self.full and self.full in self.answered:
                continue  # the first look is over once a full-size echo came back
            self.seq = (self.seq + 1) & 0xFFFF
            self.size_of[self.seq] = size
            data = echo_payload(self.cookie, size - header_size(self.version))
            packet = build_echo(self.version, self.ident, self.seq, data)
            actions.append(Send(0, packet, (self.address, 0), token=self.seq))
            self.round_end = max(self.round_end or 0, now + self.wait_ns)
        if self.outcome is None and not self.queue and self.round_end is not None:
            if now >= self.round_end or self.round_sizes <= self.round_answered:
                self._judge(now)
        if self.outcome is not None:
            return Step(actions, None, (), True)
        wake = self.queue[0][0] if self.queue else self.round_end
        return Step(actions, wake, (), False)

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        if error == errno.EMSGSIZE and self.outcome is None:
            # The kernel refused it: it already knows a smaller path MTU (it learnt it from
            # a "fragmentation needed" since the size was chosen).
            self._finish("told", at)
        elif error is None and self.round_end is not None:
            self.round_end = max(self.round_end, at + self.wait_ns)

    def on_packet(self, channel: int, packet: Received) -> None:
        if self.outcome is not None:
            return
        if packet.error is not None:
            self._queued_error(packet)
            return
        message = parse_icmp(packet.data, self.version, self.includes_ip_header)
        if message is None:
            return
        source = message.source or packet.source
        if message.is_echo_reply:
            if source != self.address or (self.kind == "raw" and message.identifier != self.ident):
                return
            size = self.size_of.get(message.sequence)
            if size is None or not message.payload.startswith(self.cookie):
                return
            if len(message.payload) < size - header_size(self.version):
                return  # cut short on the way back: not proof that this size got through
            self.answered.add(size)
            self.round_answered.add(size)
            if size >= self.full:
                self._finish("fits", packet.monotonic_ns)
        elif message.is_error and message.quoted is not None:
            quoted = message.quoted
            if quoted.dst != self.address or quoted.protocol not in (1, 58):
                return
            if self.kind == "raw" and quoted.field_a != self.ident:
                return
            if quoted.field_b in self.size_of and _too_big(
                self.version, message.type, message.code
            ):
                self._told(message.mtu, source, packet.monotonic_ns)

    def _queued_error(self, packet: Received) -> None:
        """Datagram sockets: the error queue hands back our own echo and who objected."""
        error = packet.error
        assert error is not None
        if error.origin == SO_EE_ORIGIN_LOCAL and error.errno == errno.EMSGSIZE:
            self._told(error.info or None, None, packet.monotonic_ns)
            return
        if not error.is_icmp or not _too_big(self.version, error.icmp_type, error.icmp_code):
            return
        probe = parse_icmp(packet.data, self.version)
        if probe is not None and probe.sequence in self.size_of:
            self._told(error.info or None, error.offender, packet.monotonic_ns)

    def interrupt(self) -> None:
        if self.outcome is None:  # a search cut short proves no edge
            self._finish("fits" if self.full in self.answered else "interrupted", self.started)

    def result(self) -> PmtuResult:
        outcome = self.outcome or "no-echo"
        black_hole = outcome == "black-hole"
        return PmtuResult(
            self.version,
            outcome,
            self.full,
            max(self.answered) if self.answered else None,
            self.hi if black_hole else None,
            self.reported_mtu,
            self.reporter,
            len(self.size_of),
            max(self.ended - self.started, 0) / 1e9,
        )

    # -- deciding ---------------------------------------------------------------------------

    def _told(self, mtu: int | None, reporter: str | None, at: int) -> None:
        self.reported_mtu, self.reporter = mtu, reporter
        self._finish("told", at)

    def _finish(self, outcome: str, at: int) -> None:
        self.outcome = outcome
        self.ended = max(at, self.started)

    def _judge(self, now: int) -> None:
        """A round is over: move the bounds, then search on or decide."""
        self.round_end = None
        if self.lo not in self.round_answered:
            # Not even the size known to pass came back: the losses of this round say
            # nothing about size.  One more try, then stop.
            self.rounds += 1
            if self.rounds >= MAX_ROUNDS or not self.answered:
                self._judge_final(now)
                return
            self._queue_round(now)
            return
        self.lo = max(s for s in self.answered if s < self.full)
        lost = [s for s in self.round_sizes if s > self.lo and s not in self.answered]
        self.hi = min([self.hi, *lost])
        self.rounds += 1
        if self.hi - self.lo <= 1 or self.rounds >= MAX_ROUNDS:
            self._judge_final(now)
            return
        self._queue_round(now)

    def _judge_final(self, now: int) -> None:
        if self.full in self.answered:
            self._finish("fits", now)
        elif self.control in self.answered:
            self._finish("black-hole", now)
        else:
            self._finish("no-echo", now)

    def _queue_round(self, now: int) -> None:
        sizes = _spread(self.lo, self.hi, first=self.rounds == 1)
        self.round_sizes = {self.lo, *sizes}
        self.round_answered = set()
        at = now
        self.queue = [(at, self.lo)]
        for size in sizes:
            for _ in range(COPIES):
                at += PACE_NS
                self.queue.append((at, size))


def _spread(lo: int, hi: int, first: bool) -> list[int]:
    """Sizes strictly between lo (gets through) and hi (vanishes) for one search round: every
    one when few are left, else evenly spread (with the common MTUs in the first round)."""
    if hi - lo - 1 <= ROUND_SIZES:
        return list(range(lo + 1, hi))
    common = {m for m in COMMON_MTUS if lo < m < hi} if first else set()
    steps = ROUND_SIZES - len(common)
    picks = {lo + (hi - lo) * i // (steps + 1) for i in range(1, steps + 1)}
    return sorted(p for p in picks | common if lo < p < hi)
