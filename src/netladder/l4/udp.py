"""UDP port probe: unprivileged, one connected UDP socket per port with IP_RECVERR.

A datagram back means open; ICMP port unreachable from the target (read from the socket's
error queue with its exact type, code and sender) means closed; the same from a router, or any
other unreachable code, means filtered — a firewall on the way answers for the target, as nmap
-sU says ("port-unreach from ROUTER"); a time exceeded (a routing loop, a path longer than the
TTL) is filtered too; silence after the retries is open|filtered — an open UDP service may
simply not answer an empty datagram.  Each answer's round trip is its own: the kernel's receive
timestamp less the time its probe was sent.
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
import time
from collections.abc import Sequence

from netladder.errors import NetladderError
from netladder.l4.engine import ProgressFn, Scanner
from netladder.l4.model import PortState
from netladder.net.linux import SO_EE_ORIGIN_ICMP6
from netladder.net.sockets import Received, open_udp, receive
from netladder.proto.tcp import icmp_reason

__all__ = ["PAYLOADS", "UdpScan", "udp_outcome"]

# What to send so that a service answers (nmap-payloads does the same); empty otherwise.
PAYLOADS: dict[int, bytes] = {
    7: b"\r\n\r\n",  # echo (RFC 862) echoes anything
    # DNS (RFC 1035 §4.1): a query for the root's NS records, id 0x4e4c
    53: bytes.fromhex("4e4c 0100 0001 0000 0000 0000 00 0002 0001"),
    # NTP (RFC 5905 §7.3): a version 4 client packet, everything else zero
    123: b"\x23" + bytes(47),
}

ICMP_REFILL = 1.0  # net.ipv4.icmp_ratelimit default: one more error per second
ICMP_STALL = 2.5  # no ICMP error for this long while rate limited: the rest are silent
UDP_TRIES = 3
DEFAULT_WINDOW = 256


def udp_outcome(answer: Received, target: str) -> tuple[PortState, str, str | None] | None:
    """(state, nmap's reason, who sent the ICMP error) for what came back on a probe's socket;
    None for what says nothing about the port (an ICMP message of another kind)."""
    error = answer.error
    if error is None:
        return PortState.OPEN, "udp-response", None
    if not error.is_icmp:
        return None
    version = 6 if error.origin == SO_EE_ORIGIN_ICMP6 else 4
    reason = icmp_reason(version, error.icmp_type, error.icmp_code)
    if reason is None:
        return None
    if reason == "port-unreach" and error.offender in (None, target):
        return PortState.CLOSED, reason, error.offender
    # A router's port unreachable (a REJECT in its FORWARD chain), another unreachable code,
    # or a time exceeded: something on the way stops the probe (nmap -sU: filtered).
    return PortState.FILTERED, reason, error.offender


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
        inflight: dict[int, int] = {}  # fd -> last send (monotonic ns), oldest first
        pending = list(reversed(range(len(ports))))
        clock = time.monotonic_ns
        reported = decided = 0
        version = 6 if self.v6 else 4
        try:
            while (pending or inflight) and not self.stopped:
                while pending and len(inflight) < self.window:
                    i = pending.pop()
                    try:
                        s = open_udp(version, connect=(self.address, ports[i]))
                    except OSError as exc:
                        raise NetladderError(
                            f"cannot reach {self.address}: {exc.strerror}"
                        ) from None
                    fd = s.fileno()
                    socks[fd] = (s, i)
                    ep.register(fd, select.EPOLLIN | select.EPOLLERR)
                    inflight[fd] = self._send(s, i)
                now = clock()
                timeout_ns = int(self._timeout(len(inflight)) * 1e9)
                wait = 0.05
                if inflight:
                    oldest = next(iter(inflight.values()))
                    wait = min(wait, max(0.0, (oldest + timeout_ns - now) / 1e9))
                for fd, ev in ep.poll(wait):
                    s, i = socks[fd]
                    answer = self._read(s, ev)
                    if answer is None:
                        continue
                    outcome = udp_outcome(answer, self.address)
                    if outcome is None:
                        continue
                    state, reason, reporter = outcome
                    sent = inflight.pop(fd, None)
                    # The kernel's receive time less this probe's own send time.
                    rtt = (answer.monotonic_ns - sent) / 1e9 if sent is not None else None
                    if rtt is not None and rtt < 0:
                        rtt = None  # an answer to an earlier try, read after the retry
                    if t.decide(i, state, reason, rtt, reporter):
                        decided += 1
                        if rtt is not None and state is not PortState.FILTERED:
                            self.timing.sample(rtt)
                        if answer.error is not None:
                            self._icmp_seen = True
                            self._last_icmp = time.monotonic()
                        else:
                            self.responses[ports[i]] = answer.data
                    self._close(ep, socks, inflight, fd)
                now = clock()
                while inflight:
                    fd, sent = next(iter(inflight.items()))
                    if now - sent < timeout_ns:
                        break
                    del inflight[fd]
                    s, i = socks[fd]
                    # Rate limited: closed ports answer one a second, so keep asking while
                    # answers still trickle in (as nmap slows down); stop when they dry up.
                    if t.tries[i] < UDP_TRIES or (
                        self._limited and time.monotonic() - self._last_icmp < ICMP_STALL
                    ):
                        inflight[fd] = self._send(s, i)
                    else:
                        decided += t.decide(i, PortState.OPEN_FILTERED, "no-response")
                        self._close(ep, socks, inflight, fd)
                if self.progress is not None and decided > reported:
                    self.progress(decided - reported)
                    reported = decided
        finally:
            for s, _i in socks.values():
                s.close()
            ep.close()

    def _send(self, s: socket.socket, i: int) -> int:
        """Send one probe; its send time (monotonic ns)."""
        port = self.tally.ports[i]
        self.tally.tries[i] += 1
        self.probes_sent += 1
        sent = time.monotonic_ns()
        try:
            s.send(PAYLOADS.get(port, b""))
        except OSError as exc:
            # An ICMP error about an earlier try fails the next send once (sk_err); the
            # error itself waits on the error queue.
            if exc.errno not in (
                errno.ECONNREFUSED,
                errno.EHOSTUNREACH,
                errno.ENETUNREACH,
                errno.ENOBUFS,
                errno.EAGAIN,
            ):
                raise NetladderError(f"cannot send to {self.address}: {exc.strerror}") from None
        return sent

    @staticmethod
    def _close(
        ep: select.epoll,
        socks: dict[int, tuple[socket.socket, int]],
        inflight: dict[int, int],
        fd: int,
    ) -> None:
        s, _ = socks.pop(fd)
        inflight.pop(fd, None)
        ep.unregister(fd)
        s.close()

    @staticmethod
    def _read(s: socket.socket, ev: int) -> Received | None:
        """What came back: an ICMP error from the error queue first, else a datagram."""
        if ev & select.EPOLLERR:
            error = receive(s, 512, errqueue=True)
            if error is not None:
                return error
        try:
            return receive(s, 4096)
        except OSError:
            # The error arrived without IP_RECVERR detail (should not happen): nothing to say.
            return None
