"""TCP SYN ("half-open") scan: crafted SYNs from one raw socket, answers read from raw sockets.

No connection is ever made: a SYN/ACK means open, and this host's kernel — which has no socket
for our source port — answers it with RST itself; an RST means closed; an ICMP unreachable or
time exceeded quoting our probe (RFC 792) means filtered with the type/code as reason; silence
past the adaptive timeout is retried, then filtered (no-response).  The source port is reserved
with a bound TCP socket so no local connection can pick it while the scan runs.  Probes to one
port always carry the same sequence number, so an answer to any try is recognised by its ACK
number.  Each answer's round trip is its own: the kernel's receive timestamp (SO_TIMESTAMPNS)
less the time its probe was sent.  Each answer's TTL is kept, and one ICMP echo asks the host
for its own: a reset that arrives from fewer hops away than the host's echo reply was sent by
something on the path (`REJECT --reject-with tcp-reset` on a router), not by the host.
Needs CAP_NET_RAW.
"""

from __future__ import annotations

import errno
import random
import select
import socket
import struct
import time
from collections.abc import Sequence

from netladder.errors import from_oserror
from netladder.l4.engine import ProgressFn, Scanner, Window
from netladder.l4.model import PortState
from netladder.net.linux import IPV6_HOPLIMIT, SCM_TIMESTAMPNS
from netladder.net.sockets import (
    enable_recvttl,
    open_hold,
    open_icmp,
    open_raw_tcp,
    route_source,
    set_rcvbuf,
)
from netladder.proto.icmp import build_echo, echo_payload, parse_icmp
from netladder.proto.tcp import ACK, HEAD, RST, SYN, build_syn, icmp_reason

__all__ = ["SynScan", "source_address"]

DEFAULT_WINDOW = 4096
RCVBUF = 32 << 20
_TIMESPEC = struct.Struct("=qq")
_INT = struct.Struct("=i")


def source_address(address: str) -> str:
    """The local address the kernel would use towards `address` (no packet is sent)."""
    try:
        return route_source((address, 9))
    except OSError as exc:
        raise from_oserror(exc, f"no route to {address}") from None


class SynScan(Scanner):
    method = "syn"

    def __init__(
        self,
        target: str,
        address: str,
        ports: Sequence[int],
        timeout_ms: float | None = None,
        progress: ProgressFn | None = None,
        rate: float | None = None,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        super().__init__(target, address, ports, timeout_ms, progress)
        self.v6 = ":" in address
        self.family = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.rate = rate
        self.window = window
        self.src = source_address(address)
        self._base = random.getrandbits(32)
        self._echo_id = 0

    def _sockets(self) -> tuple[socket.socket, socket.socket, socket.socket]:
        version = 6 if self.v6 else 4
        raw = open_raw_tcp(version)
        try:
            icmp = open_icmp(version, "raw").sock
        except BaseException:
            raw.close()
            raise
        try:
            hold = open_hold(version, self.src)
        except OSError as exc:
            raw.close()
            icmp.close()
            raise from_oserror(exc, "cannot prepare the SYN scan") from None
        for s in (raw, icmp):
            set_rcvbuf(s, RCVBUF, force=True)
        # IPv4's TTL is in the header a raw socket hands over: one ancillary item less per
        # answer.  IPv6 has no header there, so its hop limit comes as ancillary data.
        enable_recvttl(raw, version, on=self.v6)
        return raw, icmp, hold

    def seq(self, port: int) -> int:
        return (self._base + port * 0x9E3779B1) & 0xFFFFFFFF

    def _scan(self) -> None:
        raw, icmp, hold = self._sockets()
        try:
            self._loop(raw, icmp, int(hold.getsockname()[1]))
        finally:
            for s in (raw, icmp, hold):
                s.close()

    def _loop(self, raw: socket.socket, icmp: socket.socket, sport: int) -> None:
        t = self.tally
        ports, index = t.ports, t.index
        src_b = socket.inet_pton(self.family, self.src)
        dst_b = socket.inet_pton(self.family, self.address)
        dest = (self.address, 0)
        inflight: dict[int, float] = {}  # port index -> last send time, oldest first
        pending = list(range(len(ports)))
        pending.reverse()  # pop() from the end: ascending order
        retry: list[int] = []
        parked: list[int] = []  # silent after the tries allowed so far
        clock = time.monotonic
        ep = select.epoll()
        ep.register(raw.fileno(), select.EPOLLIN)
        ep.register(icmp.fileno(), select.EPOLLIN)
        buf = bytearray(2048)
        view = memoryview(buf)
        bufs = [buf]
        interval = 1.0 / self.rate if self.rate else 0.0
        next_send = clock()
        reported = 0
        progress = self.progress
        seq = self.seq
        window = Window(self.window)
        synack = SYN | ACK
        v6 = self.v6
        target = self.address
        version = 6 if v6 else 4
        unpack_timespec = _TIMESPEC.unpack_from
        unpack_head = HEAD.unpack_from
        echo_sent = self._send_echo(icmp)
        echo_wait = echo_sent is not None
        # TTLs the resets and the SYN/ACKs came with: a reset whose TTL no SYN/ACK shares is
        # worth waiting a moment for the echo reply's TTL to weigh it against.
        reset_ttls: set[int] = set()
        synack_ttls: set[int] = set()
        try:
            while (pending or retry or inflight or echo_wait) and not self.stopped:
                # -- send ------------------------------------------------------------------
                now = clock()
                while (retry or pending) and len(inflight) < window.size:
                    if interval:
                        if now < next_send:
                            break
                        next_send = max(next_send + interval, now - 0.05)
                    i = retry.pop() if retry else pending.pop()
                    if t.state[i]:
                        continue
                    port = ports[i]
                    packet = build_syn(src_b, dst_b, sport, port, seq(port))
                    # This probe's own send time, read before sendto(): on a near path the
                    # answer is received (and stamped) inside the call.
                    sent = clock()
                    try:
                        raw.sendto(packet, dest)
                    except OSError as exc:
                        if exc.errno in (errno.ENOBUFS, errno.EAGAIN):
                            retry.append(i)
                            break
                        if exc.errno in (errno.EPERM, errno.EACCES):
                            t.tries[i] += 1
                            t.decide(i, PortState.FILTERED, "local-prohibited")
                            continue
                        raise from_oserror(exc, f"cannot send to {target}") from None
                    t.tries[i] += 1
                    self.probes_sent += 1
                    inflight.pop(i, None)
                    inflight[i] = now = sent
                # -- wait ------------------------------------------------------------------
                timeout = self.timing.timeout
                wait = 0.05
                if inflight:
                    wait = min(wait, max(0.0, next(iter(inflight.values())) + timeout - now))
                if (pending or retry) and len(inflight) < window.size:
                    wait = max(0.0, min(wait, next_send - now)) if interval else 0.0
                ep.poll(wait)
                now = clock()
                # Kernel timestamps are on the realtime clock: one offset per round.
                offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.monotonic_ns()
                # -- TCP answers -------------------------------------------------------------
                while True:
                    try:
                        n, ancillary, _flags, addr = raw.recvmsg_into(bufs, 64)
                    except BlockingIOError:
                        break
                    if v6:
                        if addr[0] != target:
                            continue
                        off = 0
                    else:
                        if buf[9] != 6 or view[12:16] != dst_b:
                            continue
                        off = (buf[0] & 0x0F) * 4
                    if n < off + HEAD.size:
                        continue
                    rport, dport, _seq, ack, _off, flags = unpack_head(buf, off)
                    if dport != sport:
                        continue
                    i = index.get(rport, -1)
                    if i < 0 or ack != (seq(rport) + 1) & 0xFFFFFFFF:
                        continue
                    if flags & synack == synack:
                        state, reason, ttls = PortState.OPEN, "syn-ack", synack_ttls
                    elif flags & RST:
                        state, reason, ttls = PortState.CLOSED, "reset", reset_ttls
                    else:
                        continue
                    if v6:
                        stamp, ttl = _stamp_and_ttl(ancillary, offset, now)
                    else:
                        # The hot path of a full scan, inlined: the one ancillary item is the
                        # timestamp; the TTL is in the IP header.
                        stamp, ttl = now, buf[8]
                        if ancillary:
                            seconds, nanoseconds = unpack_timespec(ancillary[0][2])
                            stamp = min(now, (seconds * 1_000_000_000 + nanoseconds - offset) / 1e9)
                    if ttl is not None:
                        ttls.add(ttl)
                    asked = inflight.pop(i, None)
                    rtt = stamp - asked if asked is not None and stamp >= asked else None
                    if t.decide(i, state, reason, rtt, ttl=ttl):
                        window.answered()
                        if t.tries[i] > 1:
                            window.dropped(now, timeout)
                        if rtt is not None:
                            self.timing.sample(rtt)
                # -- ICMP errors (and the echo reply) -----------------------------------------
                while True:
                    try:
                        n, ancillary, _flags, addr = icmp.recvmsg_into(bufs, 64)
                    except BlockingIOError:
                        break
                    stamp, ttl = _stamp_and_ttl(ancillary, offset, now)
                    message = parse_icmp(bytes(view[:n]), version, with_ip_header=not v6)
                    if message is None:
                        continue
                    if not v6:
                        ttl = message.ttl
                    if message.is_echo_reply:
                        if echo_wait and addr[0] == target and message.identifier == self._echo_id:
                            self.host_ttl = ttl
                            echo_wait = False
                        continue
                    quote = message.quoted
                    cause = icmp_reason(version, message.type, message.code)
                    if (
                        quote is None
                        or quote.protocol != 6
                        or quote.dst != target
                        or quote.field_a != sport
                        or cause is None
                    ):
                        continue
                    i = index.get(quote.field_b, -1)
                    if i < 0:
                        continue
                    asked = inflight.pop(i, None)
                    t.decide(
                        i,
                        PortState.FILTERED,
                        cause,
                        stamp - asked if asked is not None and stamp >= asked else None,
                        reporter=message.source or addr[0],
                        ttl=ttl,
                    )
                # -- silence ---------------------------------------------------------------
                allowed = self.allowed_tries()
                while inflight:
                    i, asked = next(iter(inflight.items()))
                    if now - asked < timeout:
                        break
                    del inflight[i]
                    if t.state[i]:
                        continue
                    if t.tries[i] < allowed:
                        retry.append(i)
                    else:
                        parked.append(i)
                if not (pending or retry or inflight) and parked:
                    # Silent after the base tries: filtered, unless the path was seen losing
                    # packets meanwhile — then they get nmap's full retries first.
                    limit = self.allowed_tries()
                    for i in parked:
                        if t.tries[i] < limit:
                            retry.append(i)
                        else:
                            t.decide(i, PortState.FILTERED, "no-response")
                    parked.clear()
                if echo_wait and echo_sent is not None and not (pending or retry or inflight):
                    # Every port is decided: the echo reply matters only to weigh resets, and
                    # is waited for no longer than a probe would be.
                    unexplained = bool(reset_ttls - synack_ttls) or not synack_ttls
                    echo_wait = bool(reset_ttls) and unexplained and now - echo_sent < timeout
                if progress is not None:
                    done = len(ports) - len(pending) - len(retry) - len(inflight)
                    if done - reported >= 256 or not (pending or retry or inflight):
                        progress(done - reported)
                        reported = done
        finally:
            ep.close()

    def _send_echo(self, icmp: socket.socket) -> float | None:
        """One ICMP echo request to the target, to learn the TTL its own answers arrive with;
        the time it was sent, or None when it could not be."""
        self._echo_id = random.getrandbits(16)
        version = 6 if self.v6 else 4
        message = build_echo(version, self._echo_id, 1, echo_payload(b"netladder", 16))
        try:
            icmp.sendto(message, (self.address, 0))
        except OSError:
            return None  # no echo: the SYN/ACKs' TTL is the reference then
        return time.monotonic()


def _stamp_and_ttl(
    ancillary: list[tuple[int, int, bytes]], offset_ns: int, fallback: float
) -> tuple[float, int | None]:
    """The kernel's receive time (monotonic seconds) and the IPv6 hop limit, from ancillary
    data; `fallback` (when it was read) where the kernel gave no stamp.  `offset_ns`: realtime
    less monotonic, in integer ns so that a realtime stamp keeps its microseconds."""
    stamp, ttl = fallback, None
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            stamp = min(fallback, (seconds * 1_000_000_000 + nanoseconds - offset_ns) / 1e9)
        elif level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT and len(data) >= 4:
            ttl = _INT.unpack_from(data)[0]
    return stamp, ttl
