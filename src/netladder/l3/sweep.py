"""The sweep engine behind `netladder sweep`: many targets from one socket, fping-style.

Memory stays flat in the number of targets beyond their results: targets are integers in an
`array`, results are per-target counters in `array`s, and in-flight probes sit in FIFO arrays
(one per attempt), never in a task or an object per host.  Each probe carries everything needed
to match its reply — the run's cookie, the target's index, the probe number and the monotonic
send time — so a reply is matched with one unpack and one comparison, and the receive path
keeps up with an unlimited send rate (the socket is drained between small send batches).

fping semantics: in the default mode a target is done at its first reply, and a silent one is
retried `retries` times, each timeout `backoff` times longer than the previous one; with
`count` every target gets that many probes `period` apart and no retries.  `rate` spaces any
two probes as fping's -i does: a probe sent right behind another finds the kernel's path warm
and reads several times faster than one sent alone (in the lab, 0.02 ms against 0.07), so
probes never go out in a burst to catch up after a wait, and count mode defaults to fping's
10 ms spacing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
import struct
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from netladder.errors import UsageError, from_oserror
from netladder.net.linux import IP_RECVTTL, IPV6_RECVHOPLIMIT, SO_TIMESTAMPNS
from netladder.net.sockets import (
    Kind,
    open_icmp,
)
from netladder.net.targets import ResolveError
from netladder.proto.icmp import ECHO_REPLY, EchoTemplate, parse_quote
from netladder.proto.inet import checksum

__all__ = ["SweepOptions", "SweepResult", "TargetList", "run_sweep", "sweep"]

NS_PER_MS = 1_000_000
PROBE = struct.Struct("!IHq")  # target index, probe number, monotonic send time (ns)
COOKIE_SIZE = 8
MIN_DATA = COOKIE_SIZE + PROBE.size  # 22 bytes of echo data carry the matching fields
BATCH = 128  # probes sent between two drains of the socket at an unlimited rate
DEFAULT_RATE = 1000.0  # probes/s in the default mode (fping's -i 10 ms would take 11 min a /16)
COUNT_RATE = 100.0  # with `probes`: fping's default -i 10 ms, for RTTs comparable to fping's
MAX_BURST_S = 0.001  # a rate above 1000/s may send up to 1 ms worth at once (poll() has ms)
RCVBUF = 32 << 20
PARALLEL_MIN = 4096  # below this, a helper process costs more than it saves
MAX_SENDERS = 2
HELPER_SHARE = 1.1  # the helper's share of the first round, relative to an equal split
SO_RCVBUFFORCE = 33
ERROR_TYPES = {4: (3, 4, 5, 11, 12), 6: (1, 2, 3, 4)}


class SweepOptions(NamedTuple):
    probes: int | None = None  # probes per target (fping -c); None: stop at the first reply
    timeout_ms: float = 500.0  # fping -t: first timeout
    retries: int = 3  # fping -r (default mode only)
    backoff: float = 1.5  # fping -B
    # Probes per second over all targets (0: as fast as possible); None: DEFAULT_RATE, or
    # COUNT_RATE with `probes`.
    rate: float | None = None
    period_ms: float = 1000.0  # fping -p: between two probes to one target (count mode)
    size: int = 56  # echo data bytes (at least MIN_DATA)
    prefer: Kind | None = None


class TargetList:
    """Targets of one IP version, compactly: IPv4 as 32-bit integers, IPv6 as 16-byte strings;
    names only for the targets the user typed as names (or with a scope), and the interface
    index of a link-local target typed with one (`fe80::1%eth0`)."""

    __slots__ = ("names", "scopes", "v4", "v6", "version")

    def __init__(self, version: int) -> None:
        self.version = version
        self.v4: array[int] = array("I")
        self.v6: list[bytes] = []
        self.names: dict[int, str] = {}
        self.scopes: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.v4) if self.version == 4 else len(self.v6)

    def add(self, address: int | bytes, name: str | None = None, scope: int = 0) -> None:
        if name is not None:
            self.names[len(self)] = name
        if scope:
            self.scopes[len(self)] = scope
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


class SweepResult(NamedTuple):
    """Per-target counters in arrays (index = position in the target list) and run totals."""

    targets: TargetList
    probes: int | None
    sent: array[int]
    received: array[int]
    errors: array[int]  # ICMP errors about the target's probes
    last_error: array[int]  # ICMP type << 8 | code of the last error, 0xFFFF: none
    # Every ICMP error about a probe, in arrival order: the target, type << 8 | code, and the
    # sender's packed address (4 or 16 bytes each).
    error_index: array[int]
    error_code: array[int]
    error_from: bytes
    # Probes the kernel refused to send (a broadcast address, no route), in order: the target
    # and the errno.
    send_error_index: array[int]
    send_error_errno: array[int]
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
        return (
            self.rtt_min_ns[i] / NS_PER_MS,
            self.rtt_sum_ns[i] / n / NS_PER_MS,
            self.rtt_max_ns[i] / NS_PER_MS,
        )

    @property
    def alive_count(self) -> int:
        return sum(1 for r in self.received if r)

    def _sender(self, k: int) -> str:
        if self.targets.version == 4:
            return socket.inet_ntop(socket.AF_INET, self.error_from[4 * k : 4 * k + 4])
        return socket.inet_ntop(socket.AF_INET6, self.error_from[16 * k : 16 * k + 16])

    def error_events(self) -> Iterator[tuple[int, int, int, str]]:
        """(target index, ICMP type, code, sender) for every error, in arrival order."""
        for k, i in enumerate(self.error_index):
            code = self.error_code[k]
            yield i, code >> 8, code & 0xFF, self._sender(k)

    def send_errors(self) -> dict[int, tuple[int, int]]:
        """Target index -> (sends refused, the errno of the last one)."""
        found: dict[int, tuple[int, int]] = {}
        for i, err in zip(self.send_error_index, self.send_error_errno, strict=True):
            found[i] = (found.get(i, (0, 0))[0] + 1, err)
        return found

    def last_error_senders(self) -> dict[int, str]:
        """Target index -> who sent its last ICMP error."""
        last = {i: k for k, i in enumerate(self.error_index)}
        return {i: self._sender(k) for i, k in last.items()}


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
    the result says so.  The hot loops are written out with local names on purpose: at an
    unlimited rate every microsecond per probe is ~65 ms on a /16."""
    n = len(targets)
    version = targets.version
    isock = open_icmp(version, options.prefer)
    sock = isock.sock
    _enlarge_rcvbuf(sock)
    with contextlib.suppress(OSError):  # one ancillary message per reply is enough
        if version == 4:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 0)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 0)
    raw_v4 = isock.includes_ip_header
    ident = isock.identifier
    if ident is None:
        ident = int.from_bytes(os.urandom(2), "big")
    check_id = isock.kind == "raw"
    check_sum = isock.kind == "raw" and version == 4  # elsewhere the kernel does it
    cookie = os.urandom(COOKIE_SIZE)
    data_size = max(options.size, MIN_DATA)
    count_mode = options.probes is not None
    rate = options.rate
    if rate is None:
        rate = COUNT_RATE if count_mode else DEFAULT_RATE
    # Helpers: extra processes that send part of the first round on this same socket.  With
    # IP_HDRINCL the kernel sends without the socket lock, so the per-probe kernel work (ours
    # and the replies it causes) runs on several CPUs at once; replies are read here only.
    helpers = 0
    if (
        isock.kind == "raw"
        and version == 4
        and rate == 0
        and not count_mode
        and n >= PARALLEL_MIN
        and _single_threaded()
    ):
        helpers = min(len(os.sched_getaffinity(0)), MAX_SENDERS) - 1
    if helpers:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    template = EchoTemplate(
        version, ident, cookie, data_size, ip_header=bool(helpers), checksummed=check_sum
    )
    per_target = options.probes or 1
    levels = 1 if count_mode else options.retries + 1
    timeouts = [
        int(options.timeout_ms * NS_PER_MS * (1.0 if count_mode else options.backoff**a))
        for a in range(levels)
    ]
    period_ns = int(options.period_ms * NS_PER_MS)

    sent = array("H", bytes(2 * n))
    received = array("H", bytes(2 * n))
    errors = array("H", bytes(2 * n))
    last_error = array("H", b"\xff\xff" * n)
    error_index = array("I")
    error_code = array("H")
    error_from = bytearray()
    send_error_index = array("I")
    send_error_errno = array("H")
    rtt_min = array("q", [0]) * n
    rtt_max = array("q", [0]) * n
    rtt_sum = array("q", [0]) * n
    # count mode, per probe: 0 pending, 1 answered, 2 timed out; default mode: given up.
    answered = bytearray(n * per_target) if count_mode else bytearray()
    given_up = bytearray(0 if count_mode else n)
    fifos = [_Fifo() for _ in range(levels)]
    retry_index = [array("I") for _ in range(levels)]
    retry_read = [0] * levels
    # pending (count mode): probes neither answered nor timed out; finished (default mode):
    # targets with a verdict.
    total_sent = total_received = dups = corrupt = other = finished = pending = 0
    reported = 0

    v4 = targets.v4
    v6 = targets.v6
    scope = targets.scopes.get
    is_v4 = version == 4
    reply_type = ECHO_REPLY[version]
    error_types = ERROR_TYPES[version]
    sendto = sock.sendto
    recvmsg = sock.recvmsg
    packet = template.packet
    fill = template.fill
    probe_at = template.data_offset + COOKIE_SIZE  # the probe's fields follow the cookie
    pack_probe = PROBE.pack_into
    unpack_probe = PROBE.unpack_from
    pack_ip = struct.Struct("!I").pack
    unpack_stamp = struct.Struct("=qq").unpack_from
    ntoa = socket.inet_ntoa
    ntop = socket.inet_ntop
    aton = socket.inet_aton
    pton = socket.inet_pton
    af6 = socket.AF_INET6
    from_bytes = int.from_bytes
    monotonic_ns = time.monotonic_ns
    tolerated = (
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENOBUFS,
        errno.EAGAIN,
        errno.EACCES,
        errno.EPERM,
    )

    # The helper takes the end of the first round (a little more than its share: this
    # process also reads every reply).
    first_helper = n - int(n * HELPER_SHARE * helpers / (helpers + 1)) if helpers else n
    stamps: memoryview | None = None
    helper_pid = 0
    helper_read = 0
    if helpers:
        import mmap

        shared = mmap.mmap(-1, 8 * (1 + n - first_helper))
        stamps = memoryview(shared).cast("q")
        helper_pid = _fork_helper(sock, template, v4, first_helper, n, stamps)

    def send_batch(indices: Iterable[int], probe: int, level: int) -> int:
        nonlocal total_sent, pending
        fifo = fifos[level]
        push_index = fifo.index.append
        push_deadline = fifo.deadline.append
        push_probe = fifo.probe.append
        timeout = timeouts[level]
        count = 0
        for i in indices:
            total_sent += 1
            address = (ntoa(pack_ip(v4[i])), 0) if is_v4 else (ntop(af6, v6[i]), 0, 0, scope(i, 0))
            # The send time, as late as it can be taken: only what must carry it follows.
            stamp = monotonic_ns()
            pack_probe(packet, probe_at, i, probe, stamp)
            if helpers:  # the IPv4 header is ours too: it carries the destination
                fill(total_sent, v4[i])
            else:
                fill(total_sent)
            try:
                sendto(packet, address)
            except OSError as exc:
                if exc.errno not in tolerated:
                    raise from_oserror(exc, f"cannot send to {address[0]}") from None
                # A raw socket fails one send with the last ICMP error it received (sk_err);
                # only a second failure is about this probe.
                try:
                    sendto(packet, address)
                except OSError as again:
                    send_error_index.append(i)
                    send_error_errno.append(again.errno or 0)
            sent[i] += 1
            push_index(i)
            push_deadline(stamp + timeout)
            if count_mode:
                push_probe(probe)
            count += 1
        pending += count
        return count

    def expire(now: int) -> int | None:
        """Time out probes whose deadline passed; returns the next deadline."""
        nonlocal pending, finished, helper_read
        nearest = None
        if stamps is not None:
            # The helper's probes, in its send order: stamps[1 + k] for target first_helper + k.
            done_k = stamps[0]
            k = helper_read
            timeout = timeouts[0]
            while k < done_k:
                deadline = stamps[1 + k] + timeout
                if deadline > now:
                    nearest = deadline
                    break
                i = first_helper + k
                if not received[i]:
                    if levels > 1:
                        retry_index[1].append(i)
                    else:
                        given_up[i] = 1
                        finished += 1
                k += 1
            helper_read = k
        for level, fifo in enumerate(fifos):
            deadlines = fifo.deadline
            k = fifo.read
            end = len(deadlines)
            while k < end and deadlines[k] <= now:
                i = fifo.index[k]
                if count_mode:
                    key = i * per_target + fifo.probe[k]
                    if not answered[key]:
                        answered[key] = 2  # timed out: a later reply is late, not pending
                        pending -= 1
                elif not received[i]:
                    if level + 1 < levels:
                        retry_index[level + 1].append(i)
                    else:
                        given_up[i] = 1
                        finished += 1
                k += 1
            fifo.read = k
            if k < end and (nearest is None or deadlines[k] < nearest):
                nearest = deadlines[k]
        return nearest

    def on_error(data: bytes, off: int, sender: str) -> None:
        """An ICMP error quoting one of our probes (raw sockets: the quote is in the data)."""
        nonlocal other
        icmp_type, code = data[off], data[off + 1]
        quote = parse_quote(memoryview(data)[off + 8 :], version)
        if quote is None:
            other += 1
            return
        inner = off + 8 + quote.inner_offset
        if len(data) < inner + 8 + MIN_DATA or data[inner + 8 : inner + 16] != cookie:
            other += 1
            return
        i = unpack_probe(data, inner + 8 + COOKIE_SIZE)[0]
        if i < n:
            errors[i] += 1
            last_error[i] = icmp_type << 8 | code
            error_index.append(i)
            error_code.append(icmp_type << 8 | code)
            # Raw IPv4: the router is the IP source; otherwise the address recvmsg gives.
            if raw_v4:
                error_from.extend(data[12:16])
            elif is_v4:
                error_from.extend(aton(sender))
            else:
                error_from.extend(pton(af6, sender.split("%")[0]))

    def drain() -> None:
        nonlocal total_received, dups, corrupt, other, finished, pending
        offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - monotonic_ns()
        while True:
            try:
                data, ancillary, _flags, address = recvmsg(4096, 128)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # a pending socket error is reported once; read on
            if ancillary and ancillary[0][1] == SO_TIMESTAMPNS:
                seconds, nanos = unpack_stamp(ancillary[0][2])
                stamp = seconds * 1_000_000_000 + nanos - offset
            else:
                stamp = monotonic_ns()
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
                    on_error(data, off, address[0])
                else:
                    other += 1
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
                    from_bytes(data[12:16], "big")
                    if raw_v4
                    else from_bytes(aton(address[0]), "big")
                )
                if v4[i] != source:
                    continue
            elif v6[i] != pton(af6, address[0].split("%")[0]):
                continue
            if check_sum and checksum(data[off:]):
                corrupt += 1
                continue
            rtt = stamp - sent_ns
            if rtt < 0 or rtt > 3600 * 10**9:
                continue  # not a time we stamped: a peer rewrote the probe
            if count_mode:
                key = i * per_target + probe
                state = answered[key]
                if state == 1:
                    dups += 1
                    continue
                answered[key] = 1
                if not state:
                    pending -= 1
            elif received[i]:
                dups += 1
                continue
            elif not given_up[i]:
                finished += 1
            total_received += 1
            got = received[i]
            received[i] = got + 1
            if not got or rtt < rtt_min[i]:
                rtt_min[i] = rtt
            if rtt > rtt_max[i]:
                rtt_max[i] = rtt
            rtt_sum[i] += rtt
        if isock.kind == "dgram":
            _drain_errqueue(
                sock, cookie, n, errors, last_error, (error_index, error_code, error_from)
            )

    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLERR)
    started = monotonic_ns()
    # Rate limit (fping -i): a bucket that holds one probe, or 1 ms worth above 1000/s — so
    # after waiting for a period, a timeout or a slow loop, probes never go out in a burst.
    burst = max(1.0, rate * MAX_BURST_S)
    tokens = 1.0
    refilled = started
    initial_end = first_helper
    next_initial = 0
    round_no = 0
    round_start = started
    interrupted = False

    def done() -> bool:
        if count_mode:
            return next_initial >= n and not pending
        return finished >= n and next_initial >= initial_end

    try:
        while True:
            now = monotonic_ns()
            nearest = expire(now)
            if done():
                break
            budget = BATCH
            if rate > 0:
                tokens = min(burst, tokens + (now - refilled) * rate / 1e9)
                refilled = now
                budget = min(budget, int(tokens))
            sent_now = 0
            before = total_sent
            # Retries whose timeout expired go first, then new targets (or the next round).
            for level in range(1, levels):
                queue = retry_index[level]
                r = retry_read[level]
                if r < len(queue) and sent_now < budget:
                    take = min(len(queue) - r, budget - sent_now)
                    retry_read[level] = r + take
                    # A late reply may have come in since the timeout: no retry needed then.
                    due = [i for i in queue[r : r + take] if not received[i]]
                    sent_now += send_batch(due, 0, level) + take - len(due)
            if sent_now < budget and next_initial < initial_end:
                waiting = (
                    count_mode and round_no and next_initial == 0 and now < round_start + period_ns
                )
                if not waiting:
                    if next_initial == 0:
                        round_start = now
                    stop = min(initial_end, next_initial + budget - sent_now)
                    sent_now += send_batch(range(next_initial, stop), round_no, 0)
                    next_initial = stop
                    if count_mode and next_initial == n and round_no + 1 < per_target:
                        round_no += 1
                        next_initial = 0
            if rate > 0:
                tokens -= total_sent - before
            drain()
            if on_progress is not None and finished - reported >= 1024:
                on_progress(finished - reported)
                reported = finished
            if done():
                break
            if sent_now and sent_now == budget and rate == 0:
                continue  # unlimited rate: keep sending, draining between batches
            # Sleep until the next send slot, the next timeout or a reply.
            wake = []
            if nearest is not None:
                wake.append(nearest)
            has_work = next_initial < initial_end or any(
                retry_read[lv] < len(retry_index[lv]) for lv in range(1, levels)
            )
            if has_work:
                if count_mode and next_initial == 0 and round_no:
                    wake.append(round_start + period_ns)
                elif rate > 0:
                    wake.append(refilled + int(max(0.0, 1.0 - tokens) * 1e9 / rate))
                else:
                    wake.append(now)
            if helper_pid and not has_work and stamps is not None:
                exited, _status = os.waitpid(helper_pid, os.WNOHANG)
                if exited:
                    # Whatever the helper did not send will not be answered: give it up.
                    helper_pid = 0
                    finished += n - first_helper - stamps[0]
            timeout_ms = 50
            if wake:
                timeout_ms = max(0, min(50, (min(wake) - monotonic_ns() + 999_999) // NS_PER_MS))
            poller.poll(timeout_ms)
        # Replies the kernel received before their deadline but that were still queued when
        # the last deadline passed: they count (their RTT is from the kernel's timestamp).
        drain()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sock.close()
        if helper_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(helper_pid, signal.SIGKILL)
            os.waitpid(helper_pid, 0)
        if stamps is not None:
            helper_sent = stamps[0]
            total_sent += helper_sent
            for i in range(first_helper, first_helper + helper_sent):
                sent[i] += 1
    if on_progress is not None:
        on_progress(n if count_mode else finished - reported)
    return SweepResult(
        targets=targets,
        probes=options.probes,
        sent=sent,
        received=received,
        errors=errors,
        last_error=last_error,
        error_index=error_index,
        error_code=error_code,
        error_from=bytes(error_from),
        send_error_index=send_error_index,
        send_error_errno=send_error_errno,
        rtt_min_ns=rtt_min,
        rtt_max_ns=rtt_max,
        rtt_sum_ns=rtt_sum,
        packets_sent=total_sent,
        packets_received=total_received,
        duplicates=dups,
        corrupted=corrupt,
        other_icmp=other,
        elapsed_ms=(monotonic_ns() - started) / NS_PER_MS,
        socket_kind=isock.kind,
        interrupted=interrupted,
    )


def _single_threaded() -> bool:
    """Whether fork() is safe here: from the main thread, with no other thread but daemons
    (the progress bar's refresher) — not when the async API runs the engine in a worker
    thread.  The child touches nothing but the socket, a buffer and the shared stamps."""
    import threading

    current = threading.current_thread()
    return current is threading.main_thread() and all(
        t.daemon for t in threading.enumerate() if t is not current
    )


def _fork_helper(
    sock: socket.socket,
    template: EchoTemplate,
    v4: array[int],
    first: int,
    end: int,
    stamps: memoryview,
) -> int:
    """Start a process that sends probe 0 to targets first..end-1 on `sock` (IP_HDRINCL, the
    template with its IPv4 header), writing each send time to stamps[1 + k] and then the count
    to stamps[0]."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent reports the interruption
        sendto = sock.sendto
        packet = template.packet
        fill = template.fill
        probe_at = template.data_offset + COOKIE_SIZE
        pack_ip = struct.Struct("!I").pack
        pack_probe = PROBE.pack_into
        ntoa = socket.inet_ntoa
        monotonic_ns = time.monotonic_ns
        for k, i in enumerate(range(first, end)):
            address = v4[i]
            destination = (ntoa(pack_ip(address)), 0)
            stamp = monotonic_ns()
            pack_probe(packet, probe_at, i, 0, stamp)
            fill(i, address)
            with contextlib.suppress(OSError):
                sendto(packet, destination)
            stamps[1 + k] = stamp
            stamps[0] = k + 1  # after the stamp: the reader trusts stamps below this count
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _drain_errqueue(
    sock: socket.socket,
    cookie: bytes,
    n: int,
    errors: array[int],
    last_error: array[int],
    events: tuple[array[int], array[int], bytearray],
) -> None:
    """Datagram sockets: ICMP errors come back on the error queue with our own probe, and the
    router that sent them as the offender."""
    from netladder.net.sockets import receive

    family = sock.family
    width = 4 if family == socket.AF_INET else 16
    while (r := receive(sock, errqueue=True)) is not None:
        if r.error is None or not r.error.is_icmp:
            continue
        data = r.data
        if len(data) < 8 + MIN_DATA or data[8:16] != cookie:
            continue
        i = PROBE.unpack_from(data, 16)[0]
        if i < n:
            code = r.error.icmp_type << 8 | r.error.icmp_code
            errors[i] += 1
            last_error[i] = code
            events[0].append(i)
            events[1].append(code)
            offender = r.error.offender
            events[2].extend(socket.inet_pton(family, offender) if offender else bytes(width))


def build_targets(
    specs: Sequence[str],
    version: int | None = None,
    unresolved: list[ResolveError] | None = None,
) -> list[TargetList]:
    """Targets from addresses, names, CIDR blocks (`fping -g CIDR`) and `A-B` ranges (`fping -g
    A B`); one list per IP version, in input order.  A name that does not resolve raises —
    or, given `unresolved`, is added there and left out, as fping probes the others."""
    import ipaddress

    from netladder.l3.targets import expand, is_cidr, parse_range
    from netladder.net.targets import resolve, scope_index

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
        span = parse_range(spec)
        if span is not None:
            tl = for_version(span.version)
            if span.version == 4:
                tl.extend_v4(span.addresses())
            else:
                tl.v6.extend(a.to_bytes(16, "big") for a in span.addresses())
            continue
        try:
            target = resolve(spec, version)
        except ResolveError as exc:
            if unresolved is None:
                raise
            unresolved.append(exc)
            continue
        tl = for_version(target.version)
        packed = ipaddress.ip_address(target.address).packed
        name = None if target.is_literal else target.name
        index = 0
        if target.scope is not None:
            name = f"{target.name}%{target.scope}"  # as typed, as fping shows it
            index = scope_index(target.scope)
        tl.add(int.from_bytes(packed, "big") if target.version == 4 else packed, name, index)
    return [lists[v] for v in sorted(lists)]


async def sweep(specs: Sequence[str], options: SweepOptions | None = None) -> list[SweepResult]:
    """The programmatic API: sweep addresses, names and CIDR blocks; one result per IP version.
    Runs the engine in a worker thread (no event loop is started here)."""
    import asyncio

    lists = build_targets(specs)
    opts = options or SweepOptions()
    return [await asyncio.to_thread(run_sweep, tl, opts) for tl in lists]
