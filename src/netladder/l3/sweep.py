"""The sweep engine behind `netladder sweep` and `api.sweep`: many targets from one socket,
fping-style, as one sans-IO session (net/session.py).

Memory stays flat in the number of targets beyond their results: targets are integers in an
`array`, results are per-target counters in `array`s, and in-flight probes sit in FIFO arrays
(one per attempt), never in a task or an object per host.  Each probe carries everything needed
to match its reply — the run's cookie, the target's index, the probe number and its own send
time, written by `build` from the driver's clock reading right before the send — so a reply is
matched with one unpack and one comparison, and the receive path keeps up with an unlimited
send rate (the driver reads the socket between bursts of `BATCH`).

fping semantics: in the default mode a target is done at its first reply, and a silent one is
retried `retries` times, each timeout `backoff` times longer than the previous one; with
`count` every target gets that many probes `period` apart and no retries.  `rate` spaces any
two probes as fping's -i does: a probe sent right behind another finds the kernel's path warm
and reads several times faster than one sent alone (in the lab, 0.02 ms against 0.07), so
probes never go out in a burst to catch up after a wait, and count mode defaults to fping's
10 ms spacing.

At an unlimited rate over a large block on a raw IPv4 socket, the tail of the first round is a
`parallel` burst: the driver may send it from a helper process (net/helper.py) while this
process sends the head and reads every reply.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from netladder.errors import UsageError
from netladder.l3.sweep_model import (
    SweepOptions,
    SweepProgress,
    SweepResult,
    TargetList,
    Unresolved,
)
from netladder.net.session import ChannelSpec, Opened, Packet, SendBurst, Session, Step
from netladder.net.sockets import Received
from netladder.net.targets import ResolveError
from netladder.proto.icmp import ECHO_REPLY, EchoTemplate, parse_quote
from netladder.proto.inet import checksum

__all__ = ["SweepSession", "build_targets"]

NS = 1_000_000_000
PROBE = struct.Struct("!IHq")  # target index, probe number, monotonic send time (ns)
COOKIE_SIZE = 8
MIN_DATA = COOKIE_SIZE + PROBE.size  # 22 bytes of echo data carry the matching fields
BATCH = 128  # probes asked for per turn at an unlimited rate (the socket is read between)
DEFAULT_RATE = 1000.0  # probes/s in the default mode (fping's -i 10 ms would take 11 min a /16)
COUNT_RATE = 100.0  # with `count`: fping's default -i 10 ms, for RTTs comparable to fping's
MAX_BURST_S = 0.001  # a rate above 1000/s may send up to 1 ms worth at once
RCVBUF = 32 << 20
PARALLEL_MIN = 4096  # below this, a helper process costs more than it saves
HELPER_SHARE = 0.55  # the tail's share of the first round: this process also reads every reply
ERROR_TYPES = {4: (3, 4, 5, 11, 12), 6: (1, 2, 3, 4)}
IDLE_NS = 50_000_000
FORGED_NS = 3600 * NS  # an RTT beyond an hour is not a time we stamped: a peer rewrote it
# A send that fails with these is the probe's fate (fping: "error while sending ping"); any
# other errno is not about one target and ends the sweep.
_TOLERATED = frozenset(
    {
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENOBUFS,
        errno.EAGAIN,
        errno.EACCES,
        errno.EPERM,
    }
)


class _Fifo:
    """Probes in flight at one attempt level, in send order: their deadlines are too."""

    __slots__ = ("deadline", "index", "level", "probe", "read")

    def __init__(self, level: int) -> None:
        self.level = level
        self.index = array("I")
        self.probe = array("H")
        self.deadline = array("q")
        self.read = 0


class _Burst:
    """A `Burst` (net/session.py) over some targets: `build` and `sent` are closures over the
    session's arrays, set per burst — a sweep calls them once per probe, where every attribute
    lookup counts (a microsecond per probe is 65 ms on a /16)."""

    __slots__ = ("build", "sent")

    build: Callable[[int, int, bool], tuple[bytes | bytearray, tuple[Any, ...]]]
    sent: Callable[[int, int, int | None], None]


class SweepSession(Session[SweepResult]):
    """Probe every target of one IP version (see the module docstring).  Events: a
    `SweepProgress` for every 1024 targets that have their verdict, and the rest at the end."""

    def __init__(self, targets: TargetList, options: SweepOptions) -> None:
        n = len(targets)
        self.targets = targets
        self.options = options
        version = targets.version
        self.version = version
        self.channels = (
            ChannelSpec(
                "icmp",
                version,
                prefer=options.socket,
                recv_ttl=False,  # one ancillary message per reply is enough
                # Replies to an unlimited-rate sweep arrive faster than any loop reads them in
                # bursts: a large buffer, beyond rmem_max when we have CAP_NET_ADMIN.
                rcvbuf=RCVBUF,
                rcvbuf_force=True,
                fast=True,
            ),
        )
        self.cookie = os.urandom(COOKIE_SIZE)
        self.count_mode = count_mode = options.count is not None
        rate = options.rate
        self.rate = (COUNT_RATE if count_mode else DEFAULT_RATE) if rate is None else rate
        self.per_target = options.count or 1
        self.levels = levels = 1 if count_mode else options.retries + 1
        self.timeouts = [
            int(options.timeout * NS * (1.0 if count_mode else options.backoff**a))
            for a in range(levels)
        ]
        self.period_ns = int(options.period * NS)
        self.data_size = max(options.size, MIN_DATA)

        self.sent = array("H", bytes(2 * n))
        self.received = array("H", bytes(2 * n))
        self.errors = array("H", bytes(2 * n))
        self.last_error = array("H", b"\xff\xff" * n)
        self.error_index = array("I")
        self.error_code = array("H")
        self.error_from = bytearray()
        self.send_error_index = array("I")
        self.send_error_errno = array("H")
        self.rtt_min = array("q", [0]) * n
        self.rtt_max = array("q", [0]) * n
        self.rtt_sum = array("q", [0]) * n
        # count mode, per probe: 0 pending, 1 answered, 2 timed out; default mode: given up.
        self.answered = bytearray(n * self.per_target) if count_mode else bytearray()
        self.given_up = bytearray(0 if count_mode else n)
        self.fifos = [_Fifo(level) for level in range(levels)]
        self.retry_index = [array("I") for _ in range(levels)]
        self.retry_read = [0] * levels
        # pending (count mode): probes neither answered nor timed out; finished (default
        # mode): targets with a verdict.
        self.total_sent = self.total_received = self.dups = self.corrupt = self.other = 0
        self.finished = self.pending = self.reported = 0
        self.seq = 0
        self.fatal: tuple[int, str] | None = None  # a send error no target is to blame for

        # Set by bind(): the socket as opened.
        self.kind = "raw"
        self.ident = 0
        self.raw_v4 = self.check_id = self.check_sum = False
        self._builders: dict[
            bool, Callable[[int, int, int], tuple[bytes | bytearray, tuple[Any, ...]]]
        ]
        self._builders = {}

        self.started = self.now = 0
        self.ended: int | None = None
        self.tokens = 1.0
        self.refilled = 0
        self.initial_end = n
        self.next_initial = 0
        self.round_no = 0
        self.round_start = 0
        self.interrupted = False
        # The last look at the socket: once every deadline has passed, replies the kernel
        # received before it that are still queued count (their RTT is from its timestamp).
        self.closing_at: int | None = None
        self.input = False  # something was read since the last poll
        self.read_past = False  # a datagram received after closing_at was read

    # -- the session contract ----------------------------------------------------------------

    def bind(self, opened: Sequence[Opened]) -> None:
        channel = opened[0]
        self.kind = channel.kind
        self.raw_v4 = channel.includes_ip_header
        ident = channel.identifier
        self.ident = ident if ident is not None else int.from_bytes(os.urandom(2), "big")
        self.check_id = channel.kind == "raw"
        self.check_sum = channel.kind == "raw" and self.version == 4  # elsewhere the kernel

    def start(self, now: int) -> None:
        self.started = self.now = self.refilled = self.round_start = now

    def poll(self, now: int) -> Step:
        self.now = now
        if self.ended is not None:
            return Step((), None, (), True)
        nearest = self._expire(now)
        if self.fatal is not None or self.interrupted:
            return self._end(now)
        if self._done():
            if self.closing_at is None:
                self.closing_at = now
                self.input = self.read_past = False
                return Step((), now, self._progress(False))
            if self.read_past or not self.input:
                return self._end(now)
            self.input = False
            return Step((), now, self._progress(False))
        self.input = False
        actions: list[SendBurst] = []
        budget = BATCH
        rate = self.rate
        if rate > 0:
            burst = max(1.0, rate * MAX_BURST_S)
            self.tokens = min(burst, self.tokens + (now - self.refilled) * rate / 1e9)
            self.refilled = now
            budget = min(budget, int(self.tokens))
        sent_now = requested = 0
        # Retries whose timeout expired go first, then new targets (or the next round).
        received = self.received
        for level in range(1, self.levels):
            queue = self.retry_index[level]
            r = self.retry_read[level]
            if r < len(queue) and sent_now < budget:
                take = min(len(queue) - r, budget - sent_now)
                self.retry_read[level] = r + take
                # A late reply may have come in since the timeout: no retry needed then.
                due = array("I", [i for i in queue[r : r + take] if not received[i]])
                if due:
                    actions.append(SendBurst(0, self._burst(level, 0, due), 0, len(due)))
                requested += len(due)
                sent_now += take
        n = len(self.targets)
        if sent_now < budget and self.next_initial < self.initial_end:
            waiting = (
                self.count_mode
                and self.round_no
                and self.next_initial == 0
                and now < self.round_start + self.period_ns
            )
            if not waiting:
                if self.next_initial == 0:
                    self.round_start = now
                    if self.round_no == 0 and self._parallel(n):
                        # The tail of the first round: the driver may send it from a helper.
                        split = n - int(n * HELPER_SHARE)
                        self.initial_end = split
                        tail = _Fifo(0)
                        self.fifos.append(tail)
                        rest = self._burst(0, 0, None, tail)
                        actions.append(SendBurst(0, rest, split, n, parallel=True))
                stop = min(self.initial_end, self.next_initial + budget - sent_now)
                actions.append(SendBurst(0, self._burst(0, self.round_no), self.next_initial, stop))
                requested += stop - self.next_initial
                self.next_initial = stop
                if (
                    self.count_mode
                    and self.next_initial == n
                    and self.round_no + 1 < self.per_target
                ):
                    self.round_no += 1
                    self.next_initial = 0
        if rate > 0:
            self.tokens -= requested
        events = self._progress(False)
        if actions:
            # Polled again at once: by then every probe has its stamp and deadline.
            return Step(actions, now, events)
        # At least every 50 ms: what the run says of its elapsed time when Ctrl-C ends it is
        # the time of its last poll.
        wake = now + IDLE_NS if nearest is None else min(nearest, now + IDLE_NS)
        has_work = self.next_initial < self.initial_end or any(
            self.retry_read[lv] < len(self.retry_index[lv]) for lv in range(1, self.levels)
        )
        if has_work:
            if self.count_mode and self.next_initial == 0 and self.round_no:
                due_at = self.round_start + self.period_ns
            elif rate > 0:
                due_at = self.refilled + int(max(0.0, 1.0 - self.tokens) * 1e9 / rate)
            else:
                due_at = now
            wake = min(wake, due_at)
        return Step((), wake, events)

    def on_packets(self, channel: int, packets: list[Packet]) -> None:
        """Replies, and on a raw socket ICMP errors quoting our probes."""
        self.input = True
        n = len(self.targets)
        version = self.version
        raw_v4 = self.raw_v4
        cookie = self.cookie
        reply_type = ECHO_REPLY[version]
        error_types = ERROR_TYPES[version]
        check_id, check_sum, ident = self.check_id, self.check_sum, self.ident
        per_target = self.per_target
        count_mode = self.count_mode
        answered, given_up = self.answered, self.given_up
        received = self.received
        rtt_min, rtt_max, rtt_sum = self.rtt_min, self.rtt_max, self.rtt_sum
        v4, v6 = self.targets.v4, self.targets.v6
        is_v4 = version == 4
        unpack_probe = PROBE.unpack_from
        from_bytes = int.from_bytes
        aton, pton, af6 = socket.inet_aton, socket.inet_pton, socket.AF_INET6
        closing = self.closing_at
        for data, stamp, address in packets:
            if closing is not None and stamp > closing:
                self.read_past = True
            if raw_v4:
                off = (data[0] & 0x0F) * 4
                if len(data) < off + 8:
                    continue
            else:
                off = 0
                if len(data) < 8:
                    continue
            if data[off] != reply_type:
                if data[off] in error_types:
                    self._raw_error(data, off, address)
                else:
                    self.other += 1
                continue
            # An echo reply: ours only with our identifier, cookie, a known index, the right
            # source and (raw IPv4) a valid checksum.
            if len(data) < off + 8 + MIN_DATA or data[off + 8 : off + 16] != cookie:
                continue
            if check_id and data[off + 4] << 8 | data[off + 5] != ident:
                continue
            i, probe, sent_ns = unpack_probe(data, off + 8 + COOKIE_SIZE)
            if i >= n or probe >= per_target:
                continue
            if is_v4:
                source = (
                    from_bytes(data[12:16], "big") if raw_v4 else from_bytes(aton(address), "big")
                )
                if v4[i] != source:
                    continue
            elif v6[i] != pton(af6, address.split("%")[0]):
                continue
            if check_sum and checksum(data[off:]):
                self.corrupt += 1
                continue
            rtt = stamp - sent_ns
            if rtt < 0 or rtt > FORGED_NS:
                continue  # not a time we stamped: a peer rewrote the probe
            if count_mode:
                key = i * per_target + probe
                state = answered[key]
                if state == 1:
                    self.dups += 1
                    continue
                answered[key] = 1
                if not state:
                    self.pending -= 1
            elif received[i]:
                self.dups += 1
                continue
            elif not given_up[i]:
                self.finished += 1
            self.total_received += 1
            got = received[i]
            received[i] = got + 1
            if not got or rtt < rtt_min[i]:
                rtt_min[i] = rtt
            if rtt > rtt_max[i]:
                rtt_max[i] = rtt
            rtt_sum[i] += rtt

    def on_packet(self, channel: int, packet: Received) -> None:
        """Datagram sockets: ICMP errors come back on the error queue with our own probe, and
        the router that sent them as the offender."""
        self.input = True
        if self.closing_at is not None and packet.monotonic_ns > self.closing_at:
            self.read_past = True
        error = packet.error
        if error is None or not error.is_icmp:
            return
        data = packet.data
        if len(data) < 8 + MIN_DATA or data[8:16] != self.cookie:
            return
        i = PROBE.unpack_from(data, 16)[0]
        if i < len(self.targets):
            offender = error.offender
            width = 4 if self.version == 4 else 16
            family = socket.AF_INET if self.version == 4 else socket.AF_INET6
            sender = socket.inet_pton(family, offender) if offender else bytes(width)
            self._count_error(i, error.icmp_type << 8 | error.icmp_code, sender)

    def interrupt(self) -> None:
        self.interrupted = True

    def result(self) -> SweepResult:
        ended = self.ended if self.ended is not None else self.now
        return SweepResult(
            targets=self.targets,
            count=self.options.count,
            sent=self.sent,
            received=self.received,
            errors=self.errors,
            last_error=self.last_error,
            error_index=self.error_index,
            error_code=self.error_code,
            error_from=bytes(self.error_from),
            send_error_index=self.send_error_index,
            send_error_errno=self.send_error_errno,
            rtt_min_ns=self.rtt_min,
            rtt_max_ns=self.rtt_max,
            rtt_sum_ns=self.rtt_sum,
            packets_sent=self.total_sent,
            packets_received=self.total_received,
            duplicates=self.dups,
            corrupted=self.corrupt,
            other_icmp=self.other,
            elapsed_ns=ended - self.started,
            socket_kind=self.kind,
            interrupted=self.interrupted,
        )

    # -- sending -----------------------------------------------------------------------------

    def _parallel(self, n: int) -> bool:
        """Whether the first round's tail may go to a helper sender: it shares the socket with
        IP_HDRINCL, so the kernel sends without the socket lock and the per-probe kernel work
        runs on two CPUs (raw IPv4 only, an unlimited rate, a block worth a process)."""
        return (
            self.kind == "raw"
            and self.version == 4
            and self.rate == 0
            and not self.count_mode
            and n >= PARALLEL_MIN
        )

    def _builder(self, ip_header: bool) -> Callable[[int, int, int], tuple[bytes | bytearray, Any]]:
        """`build(i, probe, now)`: the echo request for target i, carrying its own fields and
        send time, and where it goes (one template per run, rebuilt in place per probe)."""
        found = self._builders.get(ip_header)
        if found is not None:
            return found
        template = EchoTemplate(
            self.version,
            self.ident,
            self.cookie,
            self.data_size,
            ip_header=ip_header,
            checksummed=self.check_sum,
        )
        packet = template.packet
        fill = template.fill
        probe_at = template.data_offset + COOKIE_SIZE  # the probe's fields follow the cookie
        pack_probe = PROBE.pack_into
        v4, v6 = self.targets.v4, self.targets.v6
        scope = self.targets.scopes.get
        pack_ip = struct.Struct("!I").pack
        ntoa, ntop, af6 = socket.inet_ntoa, socket.inet_ntop, socket.AF_INET6
        session = self

        if self.version == 4:

            def build(i: int, probe: int, now: int) -> tuple[bytes | bytearray, tuple[Any, ...]]:
                address = v4[i]
                pack_probe(packet, probe_at, i, probe, now)
                session.seq = seq = session.seq + 1
                if ip_header:  # the IPv4 header is ours too (IP_HDRINCL): the destination
                    fill(seq, address)
                else:
                    fill(seq)
                return packet, (ntoa(pack_ip(address)), 0)

        else:

            def build(i: int, probe: int, now: int) -> tuple[bytes | bytearray, tuple[Any, ...]]:
                pack_probe(packet, probe_at, i, probe, now)
                session.seq = seq = session.seq + 1
                fill(seq)
                return packet, (ntop(af6, v6[i]), 0, 0, scope(i, 0))

        self._builders[ip_header] = build
        return build

    def _burst(
        self, level: int, probe: int, due: array[int] | None = None, lane: _Fifo | None = None
    ) -> _Burst:
        """Probe `probe` at attempt `level` to targets k (or due[k]); sent ones join `lane`
        (the level's FIFO when None)."""
        fifo = lane if lane is not None else self.fifos[level]
        push_index, push_deadline = fifo.index.append, fifo.deadline.append
        push_probe = fifo.probe.append if self.count_mode else None
        timeout = self.timeouts[level]
        sent = self.sent
        plain = self._builder(False)
        session = self

        def build(k: int, now: int, ip_header: bool) -> tuple[bytes | bytearray, tuple[Any, ...]]:
            make = session._builder(True) if ip_header else plain
            return make(k if due is None else due[k], probe, now)

        def on_sent(k: int, at: int, error: int | None) -> None:
            i = k if due is None else due[k]
            if error is not None and session._send_failed(i, error):
                return
            session.total_sent += 1
            sent[i] += 1
            push_index(i)
            push_deadline(at + timeout)
            if push_probe is not None:
                push_probe(probe)
                session.pending += 1

        burst = _Burst()
        burst.build = build
        burst.sent = on_sent
        return burst

    def _send_failed(self, i: int, error: int) -> bool:
        """A send of target i failed: True when the probe never left (a helper sender that
        died: ECANCELED), which gives the target up; else it counts as sent."""
        if error == errno.ECANCELED:
            if not self.count_mode and not self.received[i] and not self.given_up[i]:
                self.given_up[i] = 1
                self.finished += 1
            return True
        if error in _TOLERATED:
            self.send_error_index.append(i)
            self.send_error_errno.append(error)
        elif self.fatal is None:
            self.fatal = (error, self.targets.address(i))
        return False

    # -- timeouts and errors -----------------------------------------------------------------

    def _expire(self, now: int) -> int | None:
        """Time out probes whose deadline passed; returns the next deadline."""
        nearest = None
        count_mode, levels = self.count_mode, self.levels
        per_target = self.per_target
        received, given_up, answered = self.received, self.given_up, self.answered
        for fifo in self.fifos:
            deadlines = fifo.deadline
            k = fifo.read
            end = len(deadlines)
            level = fifo.level
            while k < end and deadlines[k] <= now:
                i = fifo.index[k]
                if count_mode:
                    key = i * per_target + fifo.probe[k]
                    if not answered[key]:
                        answered[key] = 2  # timed out: a later reply is late, not pending
                        self.pending -= 1
                elif not received[i]:
                    if level + 1 < levels:
                        self.retry_index[level + 1].append(i)
                    else:
                        given_up[i] = 1
                        self.finished += 1
                k += 1
            fifo.read = k
            if k < end and (nearest is None or deadlines[k] < nearest):
                nearest = deadlines[k]
        return nearest

    def _done(self) -> bool:
        if self.count_mode:
            return self.next_initial >= len(self.targets) and not self.pending
        return self.finished >= len(self.targets) and self.next_initial >= self.initial_end

    def _end(self, now: int) -> Step:
        self.ended = now
        return Step((), None, self._progress(True), True)

    def _progress(self, last: bool) -> list[SweepProgress]:
        if last:
            done = len(self.targets) if self.count_mode else self.finished - self.reported
            self.reported += done
            return [SweepProgress(done)] if done > 0 else []
        if self.finished - self.reported >= 1024:
            done = self.finished - self.reported
            self.reported = self.finished
            return [SweepProgress(done)]
        return []

    def _raw_error(self, data: bytes, off: int, sender: str) -> None:
        """An ICMP error quoting one of our probes (raw sockets: the quote is in the data)."""
        icmp_type, code = data[off], data[off + 1]
        quote = parse_quote(memoryview(data)[off + 8 :], self.version)
        if quote is None:
            self.other += 1
            return
        inner = off + 8 + quote.inner_offset
        if len(data) < inner + 8 + MIN_DATA or data[inner + 8 : inner + 16] != self.cookie:
            self.other += 1
            return
        i = PROBE.unpack_from(data, inner + 8 + COOKIE_SIZE)[0]
        if i < len(self.targets):
            # Raw IPv4: the router is the IP source; otherwise the address recvmsg gives.
            if self.raw_v4:
                packed = bytes(data[12:16])
            elif self.version == 4:
                packed = socket.inet_aton(sender)
            else:
                packed = socket.inet_pton(socket.AF_INET6, sender.split("%")[0])
            self._count_error(i, icmp_type << 8 | code, packed)

    def _count_error(self, i: int, code: int, sender: bytes) -> None:
        self.errors[i] += 1
        self.last_error[i] = code
        self.error_index.append(i)
        self.error_code.append(code)
        self.error_from.extend(sender)


# -- targets -------------------------------------------------------------------------------------


async def build_targets(
    specs: Sequence[str], version: int | None = None
) -> tuple[list[TargetList], tuple[Unresolved, ...]]:
    """Targets from addresses, names, CIDR blocks (`fping -g CIDR`) and `A-B` ranges (`fping -g
    A B`); one list per IP version, in input order, and the names that did not resolve (left
    out, as fping probes the others)."""
    import ipaddress

    from netladder.l3.targets import expand, is_cidr, parse_range
    from netladder.net.driver import lookup
    from netladder.net.targets import scope_index

    lists: dict[int, TargetList] = {}
    unresolved: list[Unresolved] = []

    def for_version(v: int) -> TargetList:
        if version is not None and v != version:
            raise UsageError("IPv{found} target with -{version}", found=v, version=version)
        if v not in lists:
            lists[v] = TargetList(v)
        return lists[v]

    for spec in specs:
        if is_cidr(spec):
            try:
                net = ipaddress.ip_network(spec, strict=False)
            except ValueError:
                raise UsageError("invalid CIDR block {spec!r}", spec=spec) from None
            for_version(net.version).extend(expand(spec))
            continue
        span = parse_range(spec)
        if span is not None:
            for_version(span.version).extend(span.addresses())
            continue
        try:
            target = await lookup(spec, version)
        except ResolveError as exc:
            unresolved.append(Unresolved(exc.name, exc.reason))
            continue
        tl = for_version(target.version)
        packed = ipaddress.ip_address(target.address).packed
        name = None if target.is_literal else target.name
        index = 0
        if target.scope is not None:
            name = f"{target.name}%{target.scope}"  # as typed, as fping shows it
            index = scope_index(target.scope)
        tl.add(int.from_bytes(packed, "big") if target.version == 4 else packed, name, index)
    return [lists[v] for v in sorted(lists)], tuple(unresolved)
