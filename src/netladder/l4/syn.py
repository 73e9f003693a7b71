"""TCP SYN ("half-open") scan as a sans-IO session: crafted SYNs out of a raw socket, answers in
from raw sockets, every time the driver's.

No connection is ever made: a SYN/ACK means open, and this host's kernel — which has no socket
for our source port — answers it with RST itself; an RST means closed; an ICMP unreachable or
time exceeded quoting our probe (RFC 792) means filtered with the type/code as reason; silence
past the adaptive timeout is retried, then filtered (no-response).  The source port is reserved
with a bound TCP socket (a "hold" channel) so no local connection can pick it while the scan
runs.  Probes to one port always carry the same sequence number, so an answer to any try is
recognised by its ACK number.  Each answer's round trip is its own: the kernel's receive
timestamp less the time the driver read right before its probe's send.  Each answer's TTL is
kept, and one ICMP echo asks the host for its own: a reset that arrives from fewer hops away
than the host's echo reply was sent by something on the path (`REJECT --reject-with tcp-reset`
on a router), not by the host.  Needs CAP_NET_RAW.

Sends go out as SendBursts of at most BURST probes a turn, so answers are read between them;
with a rate, one probe whenever the next is due.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from typing import Any

from netladder.errors import N_
from netladder.l4.engine import Tally, Timing, Window, summarize
from netladder.l4.model import Note, PortState, ScanProgress, ScanResult
from netladder.net.session import ChannelSpec, Opened, Packet, Send, SendBurst, Session, Step
from netladder.net.sockets import Received
from netladder.proto.icmp import build_echo, echo_payload, parse_icmp
from netladder.proto.tcp import ACK, HEAD, RST, SYN, build_syn, icmp_reason

__all__ = ["SynScanSession"]

DEFAULT_WINDOW = 4096
RCVBUF = 32 << 20
BURST = 128  # probes a turn at full speed: the answers are read between bursts
NS = 1_000_000_000
RAW, ICMP, HOLD = 0, 1, 2  # channels
ECHO = -1  # the echo request's token
_SEQ_STEP = 0x9E3779B1  # one sequence number per port, spread over the space
_PROGRESS_STEP = 256


class SynScanSession(Session[ScanResult]):
    """A SYN scan of `ports` at `address` from `source` (the address the route picks).
    `seed`: 32 random bits, for the sequence numbers and the echo's identifier."""

    def __init__(
        self,
        target: str,
        address: str,
        source: str,
        ports: tuple[int, ...],
        seed: int,
        *,
        timeout: float | None = None,
        rate: float | None = None,
        window: int = DEFAULT_WINDOW,
        notes: tuple[Note, ...] = (),
    ) -> None:
        self.target = target
        self.address = address
        self.v6 = ":" in address
        self.version = 6 if self.v6 else 4
        family = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.src_b = socket.inet_pton(family, source)
        self.dst_b = socket.inet_pton(family, address)
        self.dest = (address, 0)
        # IPv4's TTL is in the header a raw socket hands over (one ancillary item less per
        # answer, and batches); IPv6 has no header there, so its hop limit is ancillary data.
        self.channels = (
            ChannelSpec(
                "raw_tcp",
                self.version,
                rcvbuf=RCVBUF,
                rcvbuf_force=True,
                recv_ttl=self.v6,
                fast=not self.v6,
            ),
            ChannelSpec("icmp", self.version, "raw", rcvbuf=RCVBUF, rcvbuf_force=True),
            ChannelSpec("hold", self.version, source=source),
        )
        self.tally = Tally(ports)
        self.timing = Timing(timeout)
        self.window = Window(window)
        self.interval = round(NS / rate) if rate else 0
        self.notes = notes
        self.base = seed & 0xFFFFFFFF
        self.echo_id = (seed >> 8) & 0xFFFF
        self.sport = 0
        self.inflight: dict[int, int] = {}  # port index -> last send (ns), oldest first
        self.pending = list(range(len(self.tally.ports)))
        self.pending.reverse()  # pop() from the end: ascending order
        self.retry: list[int] = []
        self.parked: list[int] = []  # silent after the tries allowed so far
        self.queue: list[int] = []  # what each SendBurst index k stands for
        self.next_send = 0
        self.probes_sent = 0
        self.echo_asked = False
        self.echo_sent: int | None = None
        self.echo_wait = True  # until its reply came, or it no longer matters
        self.host_ttl: int | None = None
        # TTLs the resets and the SYN/ACKs came with: a reset whose TTL no SYN/ACK shares is
        # worth waiting a moment for the echo reply's TTL to weigh it against.
        self.reset_ttls: set[int] = set()
        self.synack_ttls: set[int] = set()
        # (errno, what) that ended the scan: `what` a template of {address} (l4.scan says it)
        self.failure: tuple[int, str] | None = None
        self.started = 0
        self.ended = 0
        self.reported = 0
        self.interrupted = False
        self.done = False
        self.now = 0

    # -- Session --------------------------------------------------------------------------------

    def bind(self, opened: Sequence[Opened]) -> None:
        local = opened[HOLD].local
        assert local is not None
        self.sport = int(local[1])

    def start(self, now: int) -> None:
        self.started = self.next_send = self.now = now

    def seq(self, port: int) -> int:
        return (self.base + port * _SEQ_STEP) & 0xFFFFFFFF

    def poll(self, now: int) -> Step:
        self.now = now
        actions: list[Any] = []
        if not self.echo_asked:
            # One echo request to the target first, to learn the TTL its own answers have.
            self.echo_asked = True
            message = build_echo(self.version, self.echo_id, 1, echo_payload(b"netladder", 16))
            actions.append(Send(ICMP, message, self.dest, ECHO))
        self._expire(now)
        more = self._schedule(now, actions)
        events = self._progress()
        if self.done:
            return Step(actions, None, events, True)
        wake: int | None = now if more else None
        if self.inflight:
            due = next(iter(self.inflight.values())) + self._timeout_ns()
            wake = due if wake is None else min(wake, due)
        if self.interval and (self.pending or self.retry):
            wake = self.next_send if wake is None else min(wake, self.next_send)
        if self.echo_wait and self.echo_sent is not None:
            # Past due, the echo is weighed when the ports in flight end (their own wake-up):
            # asking for a wake-up now would turn this poll into a busy loop until then.
            due = self.echo_sent + self._timeout_ns()
            if due > now:
                wake = due if wake is None else min(wake, due)
        if actions:
            # What goes out now is in flight only once the driver reports it sent (after this
            # poll), and is not polled for again unless asked: its timeout from now.
            due = now + self._timeout_ns()
            wake = due if wake is None else min(wake, due)
        return Step(actions, wake, events)

    def _timeout_ns(self) -> int:
        return round(self.timing.timeout * NS)

    def _schedule(self, now: int, actions: list[Any]) -> bool:
        """Queue this turn's probes as one SendBurst; True when more could go at once."""
        t = self.tally
        start = len(self.queue)
        room = min(BURST, self.window.size - len(self.inflight))
        while (self.retry or self.pending) and room > 0:
            if self.interval:
                if now < self.next_send:
                    break
                self.next_send = max(self.next_send + self.interval, now - NS // 20)
            i = self.retry.pop() if self.retry else self.pending.pop()
            if t.state[i]:
                continue
            self.queue.append(i)
            room -= 1
        queued = len(self.queue) - start
        if queued:
            actions.append(SendBurst(RAW, self, start, len(self.queue)))
        return (
            bool(self.retry or self.pending)
            and not self.interval
            and len(self.inflight) + queued < self.window.size
        )

    # -- Burst: the driver builds and sends each probe ------------------------------------------

    def build(self, k: int, now_ns: int, ip_header: bool) -> tuple[bytes, tuple[Any, ...]]:
        port = self.tally.ports[self.queue[k]]
        seq = (self.base + port * _SEQ_STEP) & 0xFFFFFFFF
        return build_syn(self.src_b, self.dst_b, self.sport, port, seq), self.dest

    def sent(self, k: int, at_ns: int, error: int | None) -> None:
        i = self.queue[k]
        t = self.tally
        if error is None:
            t.tries[i] += 1
            self.probes_sent += 1
            self.inflight.pop(i, None)
            self.inflight[i] = at_ns
        elif error in (errno.ENOBUFS, errno.EAGAIN):
            self.retry.append(i)  # the queue is full: again, once answers were read
        elif error in (errno.EPERM, errno.EACCES):
            t.tries[i] += 1
            t.decide(i, PortState.FILTERED, "local-prohibited")  # this host's own firewall
        elif self.failure is None:
            self.failure = (error, N_("cannot send to {address}"))
            self.done = True

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        if token == ECHO:
            self.echo_sent = at if error is None else None
            # No echo: the SYN/ACKs' TTL is the reference then.
            self.echo_wait = error is None

    # -- answers ------------------------------------------------------------------------------

    def on_packets(self, channel: int, packets: list[Packet]) -> None:
        # The hot path of a full scan, inlined: IPv4 with its header, TCP to us from the
        # target only, the TTL in the header.
        dst_b, sport, base = self.dst_b, self.sport, self.base
        t = self.tally
        index, decide = t.index, t.decide
        inflight, unpack = self.inflight, HEAD.unpack_from
        synack = SYN | ACK
        need = HEAD.size
        for data, stamp, _source in packets:
            if len(data) < 20 or data[9] != 6 or data[12:16] != dst_b:
                continue
            off = (data[0] & 0x0F) * 4
            if len(data) < off + need:
                continue
            rport, dport, _seq, ack, _off, flags = unpack(data, off)
            if dport != sport:
                continue
            i = index.get(rport, -1)
            if i < 0 or ack != (base + rport * _SEQ_STEP + 1) & 0xFFFFFFFF:
                continue
            ttl = data[8]
            if flags & synack == synack:
                state, reason = PortState.OPEN, "syn-ack"
                self.synack_ttls.add(ttl)
            elif flags & RST:
                state, reason = PortState.CLOSED, "reset"
                self.reset_ttls.add(ttl)
            else:
                continue
            asked = inflight.pop(i, None)
            rtt = (stamp - asked) / NS if asked is not None and stamp >= asked else None
            if decide(i, state, reason, rtt, None, ttl):
                self._answered(i, stamp, rtt)

    def on_packet(self, channel: int, packet: Received) -> None:
        if packet.error is not None:
            return
        if channel == RAW:  # IPv6: no header, the hop limit as ancillary data
            if packet.source == self.address:
                self._tcp(packet.data, 0, packet.monotonic_ns, packet.ttl)
        elif channel == ICMP:
            self._icmp(packet)

    def _tcp(self, data: bytes, off: int, stamp: int, ttl: int | None) -> None:
        if len(data) < off + HEAD.size:
            return
        rport, dport, _seq, ack, _off, flags = HEAD.unpack_from(data, off)
        if dport != self.sport:
            return
        t = self.tally
        i = t.index.get(rport, -1)
        if i < 0 or ack != (self.seq(rport) + 1) & 0xFFFFFFFF:
            return
        if flags & (SYN | ACK) == SYN | ACK:
            state, reason, ttls = PortState.OPEN, "syn-ack", self.synack_ttls
        elif flags & RST:
            state, reason, ttls = PortState.CLOSED, "reset", self.reset_ttls
        else:
            return
        if ttl is not None:
            ttls.add(ttl)
        asked = self.inflight.pop(i, None)
        rtt = (stamp - asked) / NS if asked is not None and stamp >= asked else None
        if t.decide(i, state, reason, rtt, ttl=ttl):
            self._answered(i, stamp, rtt)

    def _answered(self, i: int, stamp: int, rtt: float | None) -> None:
        self.window.answered()
        if self.tally.tries[i] > 1:
            self.window.dropped(stamp / NS, self.timing.timeout)
        if rtt is not None:
            self.timing.sample(rtt)

    def _icmp(self, packet: Received) -> None:
        message = parse_icmp(packet.data, self.version, with_ip_header=not self.v6)
        if message is None:
            return
        ttl = packet.ttl if self.v6 else message.ttl
        if message.is_echo_reply:
            if (
                self.echo_wait
                and packet.source == self.address
                and message.identifier == self.echo_id
            ):
                self.host_ttl = ttl
                self.echo_wait = False
            return
        quote = message.quoted
        cause = icmp_reason(self.version, message.type, message.code)
        if (
            quote is None
            or quote.protocol != 6
            or quote.dst != self.address
            or quote.field_a != self.sport
            or cause is None
        ):
            return
        i = self.tally.index.get(quote.field_b, -1)
        if i < 0:
            return
        asked = self.inflight.pop(i, None)
        stamp = packet.monotonic_ns
        self.tally.decide(
            i,
            PortState.FILTERED,
            cause,
            (stamp - asked) / NS if asked is not None and stamp >= asked else None,
            reporter=message.source or packet.source,
            ttl=ttl,
        )

    # -- silence ------------------------------------------------------------------------------

    def _expire(self, now: int) -> None:
        t = self.tally
        timeout = self._timeout_ns()
        allowed = t.allowed_tries()
        inflight = self.inflight
        while inflight:
            i, asked = next(iter(inflight.items()))
            if now - asked < timeout:
                break
            del inflight[i]
            if t.state[i]:
                continue
            if t.tries[i] < allowed:
                self.retry.append(i)
            else:
                self.parked.append(i)
        busy = bool(self.pending or self.retry or inflight)
        if not busy and self.parked:
            # Silent after the base tries: filtered, unless the path was seen losing packets
            # meanwhile — then they get nmap's full retries first.
            limit = t.allowed_tries()
            for i in self.parked:
                if t.tries[i] < limit:
                    self.retry.append(i)
                else:
                    t.decide(i, PortState.FILTERED, "no-response")
            self.parked.clear()
            busy = bool(self.retry)
        if self.echo_wait and self.echo_sent is not None and not busy:
            # Every port is decided: the echo reply matters only to weigh resets, and is
            # waited for no longer than a probe would be.
            unexplained = bool(self.reset_ttls - self.synack_ttls) or not self.synack_ttls
            self.echo_wait = (
                bool(self.reset_ttls) and unexplained and now - self.echo_sent < timeout
            )
        if not busy and not self.echo_wait:
            self.done = True
        if self.done and not self.ended:
            self.ended = now

    def _progress(self) -> tuple[ScanProgress, ...]:
        decided = self.tally.decided
        if decided - self.reported >= _PROGRESS_STEP or (self.done and decided > self.reported):
            step = ScanProgress(decided - self.reported)
            self.reported = decided
            return (step,)
        return ()

    def interrupt(self) -> None:
        self.interrupted = True
        self.done = True
        self.ended = self.now

    def result(self) -> ScanResult:
        return summarize(
            self.tally,
            target=self.target,
            address=self.address,
            proto="tcp",
            method="syn",
            timing=self.timing,
            elapsed=max(0, (self.ended or self.now) - self.started) / NS,
            probes_sent=self.probes_sent,
            notes=self.notes,
            interrupted=self.interrupted,
            host_ttl=self.host_ttl,
        )
