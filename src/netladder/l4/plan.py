"""The connect scan as pure state: a `ConnectPlan` (net/session.py) that the driver's connect
strategy (net/connectscan.py) runs.

The kernel does the handshake; a completed connect is open (syn-ack), ECONNREFUSED is closed
(the port answered RST), an ICMP unreachable surfaces as EHOSTUNREACH/ENETUNREACH (filtered)
and silence past the adaptive timeout is retried, then filtered (no-response).  The ICMP error
behind a failed connect comes with its type and sender (the error queue): a port unreachable
from a router (not the target) is filtered, as nmap's SYN scan says, not closed; a time
exceeded (a routing loop) is named as such, not as the kernel's EHOSTUNREACH.  Otherwise the
reasons are the ones nmap -sT gives.

The plan decides which port goes next, how many may be in flight (slow start, halved when only
a retransmission was answered), when one is silent, and how often a silent one is retried: once
while the path looks clean, nmap -T4's six times once an answer needed a retransmission.  A
connect that failed for lack of local resources (ports, descriptors) is put back and the window
halved.  Forked workers each run `share(k, n)` and hand back `export()`.
"""

from __future__ import annotations

import array
import errno
import marshal
from collections import deque
from collections.abc import Sequence

from netladder.l4.engine import Tally, Timing, Window
from netladder.l4.model import PortState
from netladder.net.linux import SO_EE_ORIGIN_ICMP6
from netladder.net.sockets import SockError
from netladder.proto.tcp import icmp_reason

__all__ = [
    "CONNECT_ERRORS",
    "DEFAULT_WINDOW",
    "RETRY_LOCALLY",
    "ConnectScanPlan",
    "connect_outcome",
]

# errno after a failed connect -> (state, nmap's reason)
CONNECT_ERRORS: dict[int, tuple[PortState, str]] = {
    errno.ECONNREFUSED: (PortState.CLOSED, "conn-refused"),  # RST (or ICMP port unreachable)
    errno.EHOSTUNREACH: (PortState.FILTERED, "host-unreach"),  # ICMP 3/1,3/10,3/13 or no ARP
    errno.ENETUNREACH: (PortState.FILTERED, "net-unreach"),  # ICMP 3/0, 3/9
    errno.EHOSTDOWN: (PortState.FILTERED, "host-unreach"),
    errno.ETIMEDOUT: (PortState.FILTERED, "no-response"),
    errno.ENOPROTOOPT: (PortState.FILTERED, "proto-unreach"),  # ICMP 3/2 (as nmap -sT)
    errno.EACCES: (PortState.FILTERED, "local-prohibited"),  # this host's own firewall
    errno.EPERM: (PortState.FILTERED, "local-prohibited"),
}
# Out of local resources: put the port back and try again with fewer in flight.
RETRY_LOCALLY = frozenset(
    {
        errno.EADDRNOTAVAIL,
        errno.EAGAIN,
        errno.ENOBUFS,
        errno.EMFILE,
        errno.ENFILE,
        errno.EADDRINUSE,
    }
)

DEFAULT_WINDOW = 2048


def connect_outcome(
    err: int, icmp: SockError | None, target: str
) -> tuple[PortState, str, str | None]:
    """(state, reason, who said so) for a failed connect: nmap -sT's reading of the errno,
    except where the ICMP error behind it says more — a time exceeded names the loop or the
    too-long path, not an unreachable host; a port unreachable sent by a router says that
    router filters the port (nmap -sS: filtered), not that the target's port is closed."""
    reporter = None
    if icmp is not None and icmp.is_icmp:
        reporter = icmp.offender
        version = 6 if icmp.origin == SO_EE_ORIGIN_ICMP6 else 4
        why = icmp_reason(version, icmp.icmp_type, icmp.icmp_code)
        if why == "time-exceeded" or (why == "port-unreach" and reporter not in (None, target)):
            return PortState.FILTERED, why, reporter
    state, reason = CONNECT_ERRORS.get(
        err, (PortState.FILTERED, errno.errorcode.get(err, str(err)).lower())
    )
    return state, reason, reporter


class ConnectScanPlan:
    """The connect scan of `ports` at `address` (net.session.ConnectPlan).  Attempt indices
    are port indices: a port is in flight at most once at a time."""

    def __init__(
        self,
        address: str,
        ports: Sequence[int],
        timeout: float | None = None,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        self.address = address
        self.tally = Tally(ports)
        self.timing = Timing(timeout)
        self.limit = max(1, window)
        self.win = Window(self.limit)
        self.pending: deque[int] = deque(range(len(self.tally.ports)))
        self.parked: list[int] = []  # silent after the tries allowed so far
        self.inflight = 0
        self.probes_sent = 0
        self.reported = 0  # ports forked workers said they decided, before absorb()
        self.absorbed: set[int] = set()  # the workers whose share is back
        self.stopped = False

    # -- ConnectPlan ----------------------------------------------------------------------------

    def next(self, now_ns: int) -> int | None:
        if not self.pending or self.stopped:
            return None
        i = self.pending.popleft()
        self.tally.tries[i] += 1
        self.probes_sent += 1
        self.inflight += 1
        return i

    def port(self, i: int) -> int:
        return self.tally.ports[i]

    def window(self) -> int:
        return self.win.size

    def timeout_ns(self) -> int:
        return round(self.timing.timeout * 1e9)

    def answered(
        self, i: int, error: int, sent_ns: int, at_ns: int, icmp: SockError | None
    ) -> None:
        self.inflight -= 1
        t = self.tally
        if error in RETRY_LOCALLY and self.inflight > 0:
            # Not an answer: this host ran out of ports or descriptors.  Again, with fewer.
            t.tries[i] -= 1
            self.probes_sent -= 1
            self.pending.appendleft(i)
            self.win.shrink(self.inflight)
            return
        rtt = (at_ns - sent_ns) / 1e9
        win = self.win
        win.answered()
        if t.tries[i] > 1:
            win.dropped(at_ns / 1e9, self.timing.timeout)
        if error == errno.ECONNREFUSED and icmp is None:
            # The common case first: a closed port's RST.
            self.timing.sample(rtt)
            t.decide(i, PortState.CLOSED, "conn-refused", rtt)
        elif error in (0, errno.ECONNRESET):
            # Connected.  ECONNRESET is the same answer, reset since: a RST in SYN_SENT is
            # ECONNREFUSED, so the handshake was done and the service accepted, then reset
            # (nmap -sT reads the connect's success before the reset: open).
            self.timing.sample(rtt)
            t.decide(i, PortState.OPEN, "syn-ack", rtt)
        else:
            state, reason, reporter = connect_outcome(error, icmp, self.address)
            if state is PortState.CLOSED:
                self.timing.sample(rtt)
            t.decide(i, state, reason, rtt, reporter)
        self._settle()

    def silent(self, i: int, sent_ns: int, now_ns: int) -> None:
        self.inflight -= 1
        if self.tally.tries[i] < self.tally.allowed_tries():
            self.pending.appendleft(i)  # retransmit soon: keeps the tail short
        else:
            self.parked.append(i)
        self._settle()

    def done(self) -> bool:
        if self.stopped:
            return self.inflight == 0
        return not (self.pending or self.inflight or self.parked)

    def share(self, k: int, n: int) -> ConnectScanPlan:
        plan = ConnectScanPlan(
            self.address, self.tally.ports[k::n], self.timing.fixed, max(1, self.limit // n)
        )
        return plan

    def export(self) -> bytes:
        t, timing = self.tally, self.timing
        return marshal.dumps(
            (
                bytes(t.state),
                bytes(t.tries),
                t.rtt.tobytes(),
                t.reason,
                t.reporter,
                t.loss_seen,
                self.probes_sent,
                (timing.srtt, timing.rttvar, timing.samples),
            )
        )

    def absorb(self, k: int, n: int, data: bytes) -> None:
        states, tries, rtts, reasons, reporter, loss, sent, (srtt, rttvar, samples) = marshal.loads(
            data
        )
        t = self.tally
        t.state[k::n] = states
        t.tries[k::n] = tries
        t.rtt[k::n] = array.array("d", rtts)
        t.reason[k::n] = reasons
        for j, who in reporter.items():
            t.reporter[k + j * n] = who
        t.loss_seen |= loss
        t.decided = len(t.ports) - t.state.count(0)
        self.reported -= min(self.reported, len(states) - states.count(0))
        self.probes_sent += sent
        # The timing of the worker that heard the most answers stands for the scan.
        if srtt is not None and samples >= self.timing.samples:
            self.timing.srtt, self.timing.rttvar, self.timing.samples = srtt, rttvar, samples
        self.absorbed.add(k)
        if len(self.absorbed) == n:  # every share is back: nothing is left to do here
            self.pending.clear()
            self.parked.clear()
            self.reported = 0

    def progressed(self, count: int) -> None:
        """A forked worker decided `count` more ports (its tally arrives with absorb)."""
        self.reported += count

    # -- the rest ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Start nothing more (Ctrl-C): what is in flight still ends."""
        self.stopped = True

    @property
    def decided(self) -> int:
        return self.tally.decided + self.reported

    def _settle(self) -> None:
        # Silent after the base tries: filtered, unless the path was seen losing packets
        # meanwhile — then they get nmap's full retries first.
        if self.pending or self.inflight or not self.parked:
            return
        limit = self.tally.allowed_tries()
        t = self.tally
        for i in self.parked:
            if t.tries[i] < limit:
                self.pending.append(i)
            else:
                t.decide(i, PortState.FILTERED, "no-response")
        self.parked.clear()
