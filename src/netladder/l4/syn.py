"""TCP SYN ("half-open") scan: crafted SYNs from one raw socket, answers read from raw sockets.

No connection is ever made: a SYN/ACK means open, and this host's kernel — which has no socket
for our source port — answers it with RST itself; an RST means closed; an ICMP unreachable
quoting our probe (RFC 792) means filtered with the code as reason; silence past the adaptive
timeout is retried, then filtered (no-response).  The source port is reserved with a bound
TCP socket so no local connection can pick it while the scan runs.  Probes to one port always
carry the same sequence number, so an answer to any try is recognised by its ACK number.
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

from netladder.errors import EnvError, from_oserror
from netladder.l4.engine import ProgressFn, Scanner, Window
from netladder.l4.model import PortState
from netladder.proto.tcp import (
    ACK,
    ICMP4_UNREACH_REASONS,
    ICMP6_UNREACH_REASONS,
    RST,
    SYN,
    build_syn,
    parse_icmp4_error,
    parse_icmp6_error,
)

__all__ = ["SynScan", "can_raw", "source_address"]

DEFAULT_WINDOW = 4096
RCVBUF = 32 << 20
_TCP_HEAD = struct.Struct("!HHIIBB")
# SO_RCVBUFFORCE (include/uapi/asm-generic/socket.h): exceeds rmem_max with CAP_NET_ADMIN.
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def can_raw(family: int = socket.AF_INET) -> bool:
    """Whether this process may open raw TCP sockets (root or CAP_NET_RAW)."""
    try:
        socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP).close()
    except OSError:
        return False
    return True


def source_address(address: str) -> str:
    """The local address the kernel would use towards `address` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((address, 9))
        except OSError as exc:
            raise from_oserror(exc, f"no route to {address}") from None
        return str(probe.getsockname()[0])


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

    def _sockets(self) -> tuple[socket.socket, socket.socket, socket.socket]:
        icmp_proto = socket.IPPROTO_ICMPV6 if self.v6 else socket.IPPROTO_ICMP
        try:
            raw = socket.socket(self.family, socket.SOCK_RAW, socket.IPPROTO_TCP)
        except PermissionError:
            raise EnvError(
                "a SYN scan needs raw sockets", "run as root or grant CAP_NET_RAW, or use --connect"
            ) from None
        except OSError as exc:
            raise from_oserror(exc, "cannot open a raw TCP socket") from None
        try:
            icmp = socket.socket(self.family, socket.SOCK_RAW, icmp_proto)
            hold = socket.socket(self.family, socket.SOCK_STREAM)
            hold.bind((self.src, 0))
        except OSError as exc:
            raw.close()
            raise from_oserror(exc, "cannot prepare the SYN scan") from None
        for s in (raw, icmp):
            s.setblocking(False)
            try:
                s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
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
        interval = 1.0 / self.rate if self.rate else 0.0
        next_send = clock()
        reported = 0
        progress = self.progress
        seq = self.seq
        window = Window(self.window)
        synack = SYN | ACK
        v6 = self.v6
        target = self.address
        try:
            while (pending or retry or inflight) and not self.stopped:
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
                    inflight[i] = now
                    if interval:
                        now = clock()
                # -- wait ------------------------------------------------------------------
                timeout = self.timing.timeout
                wait = 0.05
                if inflight:
                    wait = min(wait, max(0.0, next(iter(inflight.values())) + timeout - now))
                if (pending or retry) and len(inflight) < window.size:
                    wait = max(0.0, min(wait, next_send - now)) if interval else 0.0
                ep.poll(wait)
                now = clock()
                # -- TCP answers -------------------------------------------------------------
                while True:
                    try:
                        if v6:
                            n, addr = raw.recvfrom_into(buf)
                            if addr[0] != target:
                                continue
                            off = 0
                        else:
                            n = raw.recv_into(buf)
                            if buf[9] != 6 or view[12:16] != dst_b:
                                continue
                            off = (buf[0] & 0x0F) * 4
                    except BlockingIOError:
                        break
                    if n < off + 14:
                        continue
                    rport, dport, _seq, ack, _off, flags = _TCP_HEAD.unpack_from(buf, off)
                    if dport != sport:
                        continue
                    i = index.get(rport, -1)
                    if i < 0 or ack != (seq(rport) + 1) & 0xFFFFFFFF:
                        continue
                    sent = inflight.pop(i, None)
                    rtt = now - sent if sent is not None else None
                    if flags & synack == synack:
                        state, reason = PortState.OPEN, "syn-ack"
                    elif flags & RST:
                        state, reason = PortState.CLOSED, "reset"
                    else:
                        continue
                    if t.decide(i, state, reason, rtt):
                        window.answered()
                        if t.tries[i] > 1:
                            window.dropped(now, timeout)
                        if rtt is not None:
                            self.timing.sample(rtt)
                # -- ICMP errors -----------------------------------------------------------
                while True:
                    try:
                        n, addr = icmp.recvfrom_into(buf)
                    except BlockingIOError:
                        break
                    if v6:
                        quote = parse_icmp6_error(view[:n], socket.inet_pton(self.family, addr[0]))
                        filtering = ICMP6_UNREACH_REASONS
                    else:
                        quote = parse_icmp4_error(view[:n])
                        filtering = ICMP4_UNREACH_REASONS
                    if (
                        quote is None
                        or quote.protocol != 6
                        or quote.dst != dst_b
                        or quote.sport != sport
                        or quote.code not in filtering
                    ):
                        continue
                    i = index.get(quote.dport, -1)
                    if i < 0:
                        continue
                    sent = inflight.pop(i, None)
                    t.decide(
                        i,
                        PortState.FILTERED,
                        quote.reason,
                        now - sent if sent is not None else None,
                        reporter=socket.inet_ntop(self.family, quote.reporter),
                    )
                # -- silence ---------------------------------------------------------------
                allowed = self.allowed_tries()
                while inflight:
                    i, sent = next(iter(inflight.items()))
                    if now - sent < timeout:
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
                if progress is not None:
                    done = len(ports) - len(pending) - len(retry) - len(inflight)
                    if done - reported >= 256 or not (pending or retry or inflight):
                        progress(done - reported)
                        reported = done
        finally:
            ep.close()
