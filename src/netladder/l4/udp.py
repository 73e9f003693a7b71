"""UDP port probe: unprivileged, one connected UDP socket per port with IP_RECVERR.

A datagram back means open; ICMP port unreachable (read from the socket's error queue with its
exact type and code) means closed; other unreachable codes mean filtered; silence after the
retries is open|filtered — an open UDP service may simply not answer an empty datagram.
Linux rate-limits ICMP errors per destination (net.ipv4.icmp_ratelimit, 1/s after a burst of
6 by default), so closed ports beyond the burst answer only later retries.  Once closed ports
have answered while others stay silent, retries are spaced a second apart and go on while
errors keep trickling in: many closed UDP ports take about a second each, as with nmap,
instead of being called open|filtered.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from collections.abc import Sequence

from netladder.errors import NetladderError
from netladder.l4.engine import ProgressFn, Scanner
from netladder.l4.model import PortState
from netladder.proto.tcp import ICMP4_UNREACH_REASONS, ICMP6_UNREACH_REASONS

__all__ = ["PAYLOADS", "UdpScan", "parse_extended_err"]

# What to send so that a service answers (nmap-payloads does the same); empty otherwise.
PAYLOADS: dict[int, bytes] = {
    7: b"\r\n\r\n",  # echo (RFC 862) echoes anything
    # DNS (RFC 1035 §4.1): a query for the root's NS records, id 0x4e4c
    53: bytes.fromhex("4e4c 0100 0001 0000 0000 0000 00 0002 0001"),
    # NTP (RFC 5905 §7.3): a version 4 client packet, everything else zero
    123: b"\x23" + bytes(47),
}

IP_RECVERR = 11  # include/uapi/linux/in.h
IPV6_RECVERR = 25  # include/uapi/linux/in6.h
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
_EXT_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err (linux/errqueue.h)

ICMP_REFILL = 1.0  # net.ipv4.icmp_ratelimit default: one more error per second
ICMP_STALL = 2.5  # no ICMP error for this long while rate limited: the rest are silent
UDP_TRIES = 3
DEFAULT_WINDOW = 256


def parse_extended_err(data: bytes) -> tuple[int, int, int, int, str | None] | None:
    """(errno, origin, ICMP type, ICMP code, offender address) from an IP(V6)_RECVERR cmsg."""
    if len(data) < _EXT_ERR.size:
        return None
    err, origin, icmp_type, code, _pad, _info, _data = _EXT_ERR.unpack_from(data)
    offender = None
    rest = data[_EXT_ERR.size :]
    if len(rest) >= 8:
        family = struct.unpack_from("=H", rest)[0]
        if family == socket.AF_INET:
            offender = socket.inet_ntop(socket.AF_INET, rest[4:8])
        elif family == socket.AF_INET6 and len(rest) >= 24:
            offender = socket.inet_ntop(socket.AF_INET6, rest[8:24])
    return err, origin, icmp_type, code, offender


class UdpScan(Scanner):
    proto = "udp"
    method = "udp"

    def __init__(
        self,
        target: str,
        address: str,
        ports: Sequence[int],
        timeout_ms: float | None = None,
        progress: ProgressFn | None = None,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        super().__init__(target, address, ports, timeout_ms, progress)
        self.v6 = ":" in address
        self.family = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.window = window
        self.responses: dict[int, bytes] = {}  # port -> first datagram back
        self._icmp_seen = False
        self._limited = False  # the target's ICMP rate limit is pacing our answers
        self._last_icmp = 0.0

    def _timeout(self, silent: int) -> float:
        """The adaptive timeout; but once closed ports have answered while others stay
        silent, the silence may be the target's rate limit (its burst may have been spent
        before we came): wait for its token bucket to refill between retries."""
        timeout = self.timing.timeout
        if self.timing.fixed is None and self._icmp_seen and silent:
            self._limited = True
        if self._limited:
            timeout = max(timeout, ICMP_REFILL)
        return timeout

    def _scan(self) -> None:
        t = self.tally
        ports = t.ports
        ep = select.epoll()
        socks: dict[int, tuple[socket.socket, int]] = {}  # fd -> (socket, index)
        inflight: dict[int, float] = {}  # fd -> last send, oldest first
        pending = list(reversed(range(len(ports))))
        clock = time.monotonic
        reported = decided = 0
        level, option = (
            (socket.IPPROTO_IPV6, IPV6_RECVERR) if self.v6 else (socket.IPPROTO_IP, IP_RECVERR)
        )
        try:
            while (pending or inflight) and not self.stopped:
                now = clock()
                while pending and len(inflight) < self.window:
                    i = pending.pop()
                    s = socket.socket(self.family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
                    s.setsockopt(level, option, 1)
                    try:
                        s.connect((self.address, ports[i]))
                    except OSError as exc:
                        s.close()
                        raise NetladderError(
                            f"cannot reach {self.address}: {exc.strerror}"
                        ) from None
                    fd = s.fileno()
                    socks[fd] = (s, i)
                    ep.register(fd, select.EPOLLIN | select.EPOLLERR)
                    self._send(s, i)
                    inflight[fd] = now
                timeout = self._timeout(len(inflight))
                wait = 0.05
                if inflight:
                    wait = min(wait, max(0.0, next(iter(inflight.values())) + timeout - now))
                events = ep.poll(wait)
                now = clock()
                for fd, ev in events:
                    s, i = socks[fd]
                    outcome = self._read(s, ev)
                    if outcome is None:
                        continue
                    state, reason, reporter, data = outcome
                    sent = inflight.pop(fd, now)
                    rtt = now - sent
                    if t.decide(i, state, reason, rtt, reporter):
                        decided += 1
                        if state is not PortState.FILTERED:
                            self.timing.sample(rtt)
                        if state is PortState.CLOSED:
                            self._icmp_seen = True
                            self._last_icmp = now
                        if data is not None:
                            self.responses[ports[i]] = data
                    self._close(ep, socks, fd)
                while inflight:
                    fd, sent = next(iter(inflight.items()))
                    if now - sent < timeout:
                        break
                    del inflight[fd]
                    s, i = socks[fd]
                    # Rate limited: closed ports answer one a second, so keep asking while
                    # answers still trickle in (as nmap slows down); stop when they dry up.
                    if t.tries[i] < UDP_TRIES or (
                        self._limited and now - self._last_icmp < ICMP_STALL
                    ):
                        self._send(s, i)
                        inflight[fd] = now
                    else:
                        decided += t.decide(i, PortState.OPEN_FILTERED, "no-response")
                        self._close(ep, socks, fd)
                if self.progress is not None and decided > reported:
                    self.progress(decided - reported)
                    reported = decided
        finally:
            for s, _i in socks.values():
                s.close()
            ep.close()

    def _send(self, s: socket.socket, i: int) -> None:
        port = self.tally.ports[i]
        self.tally.tries[i] += 1
        self.probes_sent += 1
        try:
            s.send(PAYLOADS.get(port, b""))
        except OSError as exc:
            if exc.errno not in (
                errno.ECONNREFUSED,
                errno.EHOSTUNREACH,
                errno.ENETUNREACH,
                errno.ENOBUFS,
                errno.EAGAIN,
            ):
                raise NetladderError(f"cannot send to {self.address}: {exc.strerror}") from None

    @staticmethod
    def _close(ep: select.epoll, socks: dict[int, tuple[socket.socket, int]], fd: int) -> None:
        s, _ = socks.pop(fd)
        ep.unregister(fd)
        s.close()

    def _read(
        self, s: socket.socket, ev: int
    ) -> tuple[PortState, str, str | None, bytes | None] | None:
        if ev & select.EPOLLERR:
            try:
                _data, ancdata, _flags, _addr = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
            except OSError:
                return None
            for _level, _type, cdata in ancdata:
                parsed = parse_extended_err(cdata)
                if parsed is None:
                    continue
                _err, origin, icmp_type, code, offender = parsed
                if origin == SO_EE_ORIGIN_ICMP and icmp_type == 3:
                    if code == 3:
                        return PortState.CLOSED, "port-unreach", offender, None
                    if code in ICMP4_UNREACH_REASONS:
                        return (PortState.FILTERED, ICMP4_UNREACH_REASONS[code], offender, None)
                if origin == SO_EE_ORIGIN_ICMP6 and icmp_type == 1:
                    if code == 4:
                        return PortState.CLOSED, "port-unreach", offender, None
                    if code in ICMP6_UNREACH_REASONS:
                        return (PortState.FILTERED, ICMP6_UNREACH_REASONS[code], offender, None)
            return None
        try:
            data = s.recv(4096)
        except BlockingIOError:
            return None
        except OSError:
            # The error arrived without IP_RECVERR detail (should not happen): still closed.
            return None
        return PortState.OPEN, "udp-response", None, data
