"""The sweep engine behind `netladder sweep`: many targets from one socket, fping-style.

Memory stays flat in the number of targets beyond their results: targets are integers in an
`array`, results are per-target counters in `array`s, and in-flight probes sit in FIFO arrays
(one per attempt), never in a task or an object per host.  Each probe carries everything needed
to match its reply — the run's cookie, the target's index, the probe number and the monotonic
send time — so a reply is matched with one unpack and one comparison, and the receive path
keeps up with an unlimited send rate (the socket is drained between small send batches).

fping semantics: in the default mode a target is done at its first reply, and a silent one is
retried `retries` times, each timeout `backoff` times longer than the previous one; with
`count` every target gets that many probes `period` apart and no retries.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from netladder.errors import UsageError
from netladder.net.sockets import Kind, open_icmp
from netladder.proto.icmp import ECHO_REPLY, ECHO_REQUEST

__all__ = ["SweepOptions", "SweepResult", "TargetList", "run_sweep", "sweep"]

NS_PER_MS = 1_000_000
PROBE = struct.Struct("!IHq")  # target index, probe number, monotonic send time (ns)
COOKIE_SIZE = 8
MIN_DATA = COOKIE_SIZE + PROBE.size  # 22 bytes of echo data carry the matching fields
BATCH = 128  # probes sent between two drains of the socket at an unlimited rate
RCVBUF = 32 << 20
SO_RCVBUFFORCE = 33
ERROR_TYPES = {4: (3, 4, 5, 11, 12), 6: (1, 2, 3, 4)}


@dataclass(frozen=True, slots=True)
class SweepOptions:
    count: int | None = None  # probes per target (fping -c); None: stop at the first reply
    timeout_ms: float = 500.0  # fping -t: first timeout
    retries: int = 3  # fping -r (default mode only)
    backoff: float = 1.5  # fping -B
    rate: float = 1000.0  # probes per second over all targets; 0: as fast as possible
    period_ms: float = 1000.0  # fping -p: between two probes to one target (count mode)
    size: int = 56  # echo data bytes (at least MIN_DATA)
    prefer: Kind | None = None


@dataclass
class TargetList:
    """Targets of one IP version, compactly: IPv4 as 32-bit integers, IPv6 as 16-byte strings;
    names only for the targets the user typed as names."""

    version: int
    v4: array[int] = field(default_factory=lambda: array("I"))
    v6: list[bytes] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.v4) if self.version == 4 else len(self.v6)

    def add(self, address: int | bytes, name: str | None = None) -> None:
        if name is not None:
            self.names[len(self)] = name
        if self.version == 4:
            assert isinstance(address, int)
            self.v4.append(address)
        else:
            assert isinstance(address, bytes)
            self.v6.append(address)

    def extend_v4(self, addresses: Iterable[int]) -> None:
        self.v4.extend(addresses)

    def address(self, i: int) -> str:
        if self.version == 4:
            return socket.inet_ntoa(self.v4[i].to_bytes(4, "big"))
        return socket.inet_ntop(socket.AF_INET6, self.v6[i])

    def label(self, i: int) -> str:
        return self.names.get(i) or self.address(i)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """Per-target counters in arrays (index = position in the target list) and run totals."""

    targets: TargetList
    count: int | None
    sent: array[int]
    received: array[int]
    errors: array[int]
    last_error: array[int]  # ICMP type << 8 | code of the last error, 0xFFFF: none
    rtt_min_ns: array[int]
    rtt_max_ns: array[int]
    rtt_sum_ns: array[int]
    packets_sent: int
    packets_received: int
    duplicates: int
    corrupted: int
    other_icmp: int
    elapsed_ms: float
    socket_kind: str
    interrupted: bool = False

    def alive(self, i: int) -> bool:
        return self.received[i] > 0

    def alive_indices(self) -> list[int]:
        return [i for i, r in enumerate(self.received) if r]

    def unreachable_indices(self) -> list[int]:
        return [i for i, r in enumerate(self.received) if not r]

    def rtt_ms(self, i: int) -> tuple[float, float, float] | None:
        """min, avg, max in ms over target i's replies."""
        n = self.received[i]
        if not n:
            return None
        return (self.rtt_min_ns[i] / NS_PER_MS, self.rtt_sum_ns[i] / n / NS_PER_MS,
                self.rtt_max_ns[i] / NS_PER_MS)

    @property
    def alive_count(self) -> int:
        return sum(1 for r in self.received if r)


class _Fifo:
    """Probes in flight at one attempt level, in send order: their deadlines are too."""

    __slots__ = ("deadline", "index", "probe", "read")

    def __init__(self) -> None:
        self.index = array("I")
        self.probe = array("H")
        self.deadline = array("q")
        self.read = 0


def _enlarge_rcvbuf(sock: socket.socket) -> None:
    # Replies to an unlimited-rate sweep arrive faster than any loop reads them in bursts: ask
    # for a large buffer, beyond rmem_max when we have CAP_NET_ADMIN.
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)


def run_sweep(
    targets: TargetList,
    options: SweepOptions,
    on_progress: Callable[[int], None] | None = None,
) -> SweepResult:
    """Probe every target; synchronous (see ping.py for why).  Ctrl-C ends the run early and
    the result says so."""
    n = len(targets)
    version = targets.version
    isock = open_icmp(version, options.prefer)
    sock = isock.sock
    _enlarge_rcvbuf(sock)
    raw_v4 = isock.includes_ip_header
    ident = isock.identifier
    if ident is None:
        ident = int.from_bytes(os.urandom(2), "big")
    check_id = isock.kind == "raw"
    check_sum = isock.kind == "raw" and version == 4  # elsewhere the kernel verifies it
    cookie = os.urandom(COOKIE_SIZE)
    data_size = max(options.size, MIN_DATA)
    packet = bytearray(8 + data_size)
    packet[0] = ECHO_REQUEST[version]
    struct.pack_into("!H", packet, 4, ident)
    packet[8:16] = cookie
    for k in range(8 + MIN_DATA, len(packet)):
        packet[k] = k & 0xFF
    count_mode = options.count is not None
    probes_per_target = options.count or 1
    levels = 1 if count_mode else options.retries + 1
    timeouts = [int(options.timeout_ms * NS_PER_MS * (1.0 if count_mode else
                                                      options.backoff ** a))
                for a in range(levels)]
    period_ns = int(options.period_ms * NS_PER_MS)

    sent = array("H", bytes(2 * n))
    received = array("H", bytes(2 * n))
    errors = array("H", bytes(2 * n))
    last_error = array("H", b"\xff\xff" * n)
    rtt_min = array("q", [0]) * n
    rtt_max = array("q", [0]) * n
    rtt_sum = array("q", [0]) * n
    answered = bytearray(n * probes_per_target) if count_mode else bytearray()
    fifos = [_Fifo() for _ in range(levels)]
    retry_index = [array("I") for _ in range(levels)]
    retry_read = [0] * levels
    # "pending": probes neither answered nor timed out; "finished": targets with a verdict.
    stats = {"sent": 0, "received": 0, "dups": 0, "corrupt": 0, "other": 0, "finished": 0,
             "pending": 0}

    v4 = targets.v4
    v6 = targets.v6
    family_addr = targets.address
    reply_type = ECHO_REPLY[version]
    error_types = ERROR_TYPES[version]
    sendto = sock.sendto
    recvmsg = sock.recvmsg
    pack_probe = PROBE.pack_into
    unpack_probe = PROBE.unpack_from
    monotonic_ns = time.monotonic_ns

    def finish_target() -> None:
        stats["finished"] += 1
        if on_progress is not None and stats["finished"] % 512 == 0:
            on_progress(512)

    def send(i: int, probe: int, level: int, now: int) -> None:
        seq = (stats["sent"] + 1) & 0xFFFF
        struct.pack_into("!H", packet, 6, seq)
        stamp = monotonic_ns()
        pack_probe(packet, 16, i, probe, stamp)
        if check_sum:
            packet[2] = packet[3] = 0
            remainder = int.from_bytes(packet, "big") % 0xFFFF
            csum = 0xFFFF - remainder if remainder else 0
            packet[2] = csum >> 8
            packet[3] = csum & 0xFF
        try:
            sendto(packet, (family_addr(i), 0))
        except OSError as exc:
            if exc.errno not in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENOBUFS,
                                 errno.EAGAIN, errno.EACCES, errno.EPERM):
                raise
            errors[i] += 1
        stats["sent"] += 1
        sent[i] += 1
        fifo = fifos[level]
        fifo.index.append(i)
        fifo.probe.append(probe)
        fifo.deadline.append(stamp + timeouts[level])
        stats["pending"] += 1

    def expire(now: int) -> int | None:
        """Time out probes whose deadline passed; returns the next deadline."""
        nearest = None
        for level, fifo in enumerate(fifos):
            deadlines = fifo.deadline
            k = fifo.read
            end = len(deadlines)
            while k < end and deadlines[k] <= now:
                i = fifo.index[k]
                if count_mode:
                    if not answered[i * probes_per_target + fifo.probe[k]]:
                        stats["pending"] -= 1
                elif not received[i]:
                    stats["pending"] -= 1
                    if level + 1 < levels:
                        retry_index[level + 1].append(i)
                    else:
                        finish_target()
                k += 1
            fifo.read = k
            if k < end and (nearest is None or deadlines[k] < nearest):
                nearest = deadlines[k]
        return nearest

    def on_reply(data: bytes, off: int, source: int | bytes, stamp: int) -> None:
        if len(data) < off + 8 + MIN_DATA:
            stats["other"] += 1
            return
        if check_id and data[off + 4] << 8 | data[off + 5] != ident:
            return
        if data[off + 8:off + 16] != cookie:
            return
        i, probe, sent_ns = unpack_probe(data, off + 16)
        if i >= n or probe >= probes_per_target:
            return
        if (v4[i] if version == 4 else v6[i]) != source:
            return
        if check_sum and int.from_bytes(data[off:], "big") % 0xFFFF:
            stats["corrupt"] += 1
            return
        rtt = stamp - sent_ns
        if rtt < 0 or rtt > 3600 * 10**9:
            return  # not a time we stamped: a peer rewrote the probe
        if count_mode:
            key = i * probes_per_target + probe
            if answered[key]:
                stats["dups"] += 1
                return
            answered[key] = 1
        elif received[i]:
            stats["dups"] += 1
            return
        else:
            finish_target()
        stats["pending"] -= 1
        stats["received"] += 1
        got = received[i]
        received[i] = got + 1
        if not got or rtt < rtt_min[i]:
            rtt_min[i] = rtt
        if rtt > rtt_max[i]:
            rtt_max[i] = rtt
        rtt_sum[i] += rtt

    def on_error(data: bytes, off: int) -> None:
        """An ICMP error quoting one of our probes (raw sockets: the quote is in the data)."""
        icmp_type, code = data[off], data[off + 1]
        inner = off + 8
        if version == 4:
            if len(data) < inner + 20:
                return
            inner += (data[inner] & 0x0F) * 4
        else:
            inner += 40
        if len(data) < inner + 8 + MIN_DATA or data[inner + 8:inner + 16] != cookie:
            stats["other"] += 1
            return
        i, _probe, _sent = unpack_probe(data, inner + 16)
        if i < n:
            errors[i] += 1
            last_error[i] = icmp_type << 8 | code

    def drain() -> None:
        offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - monotonic_ns()
        while True:
            try:
                data, ancillary, _flags, address = recvmsg(4096, 256)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # a pending socket error is reported once; read on
            stamp = 0
            for level, kind, raw in ancillary:
                if kind == 35 and level == socket.SOL_SOCKET:  # SCM_TIMESTAMPNS
                    seconds, nanos = struct.unpack_from("=qq", raw)
                    stamp = seconds * 1_000_000_000 + nanos - offset
                    break
            if not stamp:
                stamp = monotonic_ns()
            if raw_v4:
                off = (data[0] & 0x0F) * 4
                if len(data) < off + 8:
                    continue
                source: int | bytes = int.from_bytes(data[12:16], "big")
            else:
                off = 0
                if len(data) < 8:
                    continue
                source = (int.from_bytes(socket.inet_aton(address[0]), "big") if version == 4
                          else socket.inet_pton(socket.AF_INET6, address[0].split("%")[0]))
            kind_of = data[off]
            if kind_of == reply_type:
                on_reply(data, off, source, stamp)
            elif kind_of in error_types:
                on_error(data, off)
            else:
                stats["other"] += 1
        if isock.kind == "dgram":
            _drain_errqueue(sock, cookie, n, errors, last_error)

    def done() -> bool:
        if count_mode:
            return next_initial >= n and not stats["pending"]
        return stats["finished"] >= n

    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLERR)
    rate = options.rate
    started = monotonic_ns()
    next_initial = 0
    round_no = 0
    round_start = started
    interrupted = False
    try:
        while True:
            now = monotonic_ns()
            nearest = expire(now)
            if done():
                break
            budget = BATCH
            if rate > 0:
                allowed = int((now - started) * rate / 1e9) + 1 - stats["sent"]
                budget = min(budget, allowed)
            sent_now = 0
            while sent_now < budget:
                # Retries whose timeout expired go first, then new targets (or the next round).
                picked = False
                for level in range(1, levels):
                    queue = retry_index[level]
                    r = retry_read[level]
                    if r < len(queue):
                        retry_read[level] = r + 1
                        send(queue[r], 0, level, now)
                        picked = True
                        break
                if not picked:
                    if next_initial < n:
                        if count_mode and round_no and next_initial == 0 \
                                and now < round_start + period_ns:
                            break
                        if next_initial == 0:
                            round_start = now
                        send(next_initial, round_no, 0, now)
                        next_initial += 1
                        if count_mode and next_initial == n and round_no + 1 < probes_per_target:
                            round_no += 1
                            next_initial = 0
                    else:
                        break
                sent_now += 1
            drain()
            if done():
                break
            if sent_now and sent_now == budget and rate == 0:
                continue  # unlimited rate: keep sending, draining between batches
            # Sleep until the next send slot, the next timeout or a reply.
            wake = []
            if nearest is not None:
                wake.append(nearest)
            has_work = next_initial < n or any(retry_read[lv] < len(retry_index[lv])
                                               for lv in range(1, levels))
            if has_work:
                if count_mode and next_initial == 0 and round_no:
                    wake.append(round_start + period_ns)
                elif rate > 0:
                    wake.append(started + int((stats["sent"] + 1) * 1e9 / rate))
                else:
                    wake.append(now)
            timeout_ms = 50
            if wake:
                timeout_ms = max(0, min(50, (min(wake) - monotonic_ns() + 999_999)
                                        // NS_PER_MS))
            poller.poll(timeout_ms)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sock.close()
    if on_progress is not None:
        on_progress(stats["finished"] % 512)
    return SweepResult(
        targets=targets, count=options.count, sent=sent, received=received, errors=errors,
        last_error=last_error, rtt_min_ns=rtt_min, rtt_max_ns=rtt_max, rtt_sum_ns=rtt_sum,
        packets_sent=stats["sent"], packets_received=stats["received"],
        duplicates=stats["dups"], corrupted=stats["corrupt"], other_icmp=stats["other"],
        elapsed_ms=(monotonic_ns() - started) / NS_PER_MS, socket_kind=isock.kind,
        interrupted=interrupted)


def _drain_errqueue(sock: socket.socket, cookie: bytes, n: int, errors: array[int],
                    last_error: array[int]) -> None:
    """Datagram sockets: ICMP errors come back on the error queue with our own probe."""
    from netladder.net.sockets import receive

    while (r := receive(sock, errqueue=True)) is not None:
        if r.error is None or not r.error.is_icmp:
            continue
        data = r.data
        if len(data) < 8 + MIN_DATA or data[8:16] != cookie:
            continue
        i = PROBE.unpack_from(data, 16)[0]
        if i < n:
            errors[i] += 1
            last_error[i] = r.error.icmp_type << 8 | r.error.icmp_code


def build_targets(specs: Sequence[str], version: int | None = None) -> list[TargetList]:
    """Targets from addresses, names and CIDR blocks; one list per IP version, in input order."""
    import ipaddress

    from netladder.l3.targets import expand, is_cidr, resolve

    lists: dict[int, TargetList] = {}

    def for_version(v: int) -> TargetList:
        if version is not None and v != version:
            raise UsageError(f"IPv{v} target with -{version}")
        if v not in lists:
            lists[v] = TargetList(v)
        return lists[v]

    for spec in specs:
        if is_cidr(spec):
            try:
                net = ipaddress.ip_network(spec, strict=False)
            except ValueError:
                raise UsageError(f"invalid CIDR block {spec!r}") from None
            tl = for_version(net.version)
            addresses = expand(spec)
            if net.version == 4:
                tl.extend_v4(addresses)
            else:
                tl.v6.extend(a.to_bytes(16, "big") for a in addresses)
            continue
        target = resolve(spec, version)
        tl = for_version(target.version)
        packed = ipaddress.ip_address(target.address).packed
        name = None if target.is_literal else target.name
        tl.add(int.from_bytes(packed, "big") if target.version == 4 else packed, name)
    return [lists[v] for v in sorted(lists)]


async def sweep(specs: Sequence[str], options: SweepOptions | None = None) -> list[SweepResult]:
    """The programmatic API: sweep addresses, names and CIDR blocks; one result per IP version.
    Runs the engine in a worker thread (no event loop is started here)."""
    import asyncio

    lists = build_targets(specs)
    opts = options or SweepOptions()
    return [await asyncio.to_thread(run_sweep, tl, opts) for tl in lists]
