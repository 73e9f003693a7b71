"""What every scan shares: adaptive timeouts, the congestion window, per-port tallies, and the
one way a tally becomes a `ScanResult` (nmap's listed ports and "Not shown" groups).

Pure state: the scan sessions (`l4/syn.py`, `l4/udp.py`) and the connect plan (`l4/plan.py`)
feed it answers with the times the driver stamped; nothing here reads a clock or a socket.
"""

from __future__ import annotations

import array
from collections import Counter
from collections.abc import Sequence

from netladder.l4.model import (
    Note,
    PortResult,
    PortState,
    ScanResult,
    StateGroup,
    compress_ranges,
    hops_before,
)
from netladder.l4.ports import service_name

__all__ = ["CODE", "STATES", "Tally", "Timing", "Window", "summarize"]

# nmap -T4 (REFERENCE.md): RTT timeout 100 ms minimum, 500 ms initial, 1250 ms maximum.
MIN_TIMEOUT = 0.100
INITIAL_TIMEOUT = 0.500
MAX_TIMEOUT = 1.250
# Tries per port: one retransmission while the path looks clean; nmap -T4's 6 retries once a
# port has answered only a retransmission (the path loses packets).
BASE_TRIES = 2
LOSSY_TRIES = 7
# nmap lists a state's ports one by one unless more than 25 share it.
COLLAPSE_OVER = 25

STATES = (
    PortState.UNKNOWN,
    PortState.OPEN,
    PortState.CLOSED,
    PortState.FILTERED,
    PortState.OPEN_FILTERED,
)
CODE = {state: i for i, state in enumerate(STATES)}


class Timing:
    """RFC 6298 §2 RTT estimation; the probe timeout is SRTT + 4·RTTVAR within nmap's bounds.
    Seconds throughout; `fixed`: a timeout the user chose."""

    __slots__ = ("fixed", "rttvar", "samples", "srtt")

    def __init__(self, fixed: float | None = None) -> None:
        self.fixed = fixed or None
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.samples = 0

    def sample(self, rtt: float) -> None:
        self.samples += 1
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt

    @property
    def timeout(self) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.srtt is None:
            return INITIAL_TIMEOUT
        return min(MAX_TIMEOUT, max(MIN_TIMEOUT, self.srtt + 4 * self.rttvar))


class Window:
    """How many probes may be unanswered at once: slow start and multiplicative decrease, the
    way TCP (RFC 5681 §3.1) and nmap's congestion control do it.  Only an answer that needed a
    retransmission counts as a drop — silence from a filtered port says nothing about the
    path, which is why nmap slows down on firewalled hosts and this scanner does not."""

    __slots__ = ("_last_cut", "cwnd", "maximum", "minimum", "ssthresh")

    def __init__(self, maximum: int, initial: int = 64, minimum: int = 8) -> None:
        self.maximum = max(1, maximum)
        self.minimum = min(minimum, self.maximum)
        self.cwnd = float(min(initial, self.maximum))
        self.ssthresh = float(self.maximum)
        self._last_cut = -1e9

    @property
    def size(self) -> int:
        return int(self.cwnd)

    def answered(self) -> None:
        if self.cwnd < self.ssthresh:
            self.cwnd = min(self.maximum, self.cwnd + 1)
        else:
            self.cwnd = min(self.maximum, self.cwnd + 1 / self.cwnd)

    def shrink(self, inflight: int) -> None:
        """Out of local resources (ports, descriptors): never more than half of now."""
        self.maximum = max(16, inflight // 2)
        self.cwnd = min(self.cwnd, self.maximum)

    def dropped(self, now: float, timeout: float) -> None:
        """An answer needed a retransmission (`now` and `timeout` in seconds)."""
        if now - self._last_cut < timeout:
            return  # one cut per round of timeouts, like one per window of data
        self._last_cut = now
        self.cwnd = max(self.minimum, self.cwnd / 2)
        self.ssthresh = max(self.minimum, self.cwnd)


class Tally:
    """Per-port outcomes in flat arrays (a full scan makes 65535 of them)."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = tuple(ports)
        self.index = {p: i for i, p in enumerate(self.ports)}
        n = len(self.ports)
        self.state = bytearray(n)
        self.reason: list[str] = [""] * n
        self.tries = bytearray(n)
        self.rtt = array.array("d", bytes(8 * n))  # seconds; 0.0 when not known
        self.ttl = bytearray(n)  # the deciding answer's TTL; 0 when not known
        self.reporter: dict[int, str] = {}
        self.loss_seen = False
        self.decided = 0

    def decide(
        self,
        i: int,
        state: PortState,
        reason: str,
        rtt: float | None = None,
        reporter: str | None = None,
        ttl: int | None = None,
    ) -> bool:
        """Record a port's outcome once; False when it was already decided (a late answer)."""
        if self.state[i]:
            return False
        self.state[i] = CODE[state]
        self.reason[i] = reason
        self.decided += 1
        if rtt is not None:
            self.rtt[i] = rtt
        if ttl:
            self.ttl[i] = ttl
        if reporter is not None:
            self.reporter[i] = reporter
        if self.tries[i] > 1 and state is not PortState.FILTERED and reporter is None:
            self.loss_seen = True
        return True

    @property
    def remaining(self) -> int:
        return len(self.ports) - self.decided

    def max_tries(self) -> int:
        return max(self.tries, default=0)

    def allowed_tries(self) -> int:
        return LOSSY_TRIES if self.loss_seen else BASE_TRIES


def summarize(
    tally: Tally,
    *,
    target: str,
    address: str,
    proto: str,
    method: str,
    timing: Timing,
    elapsed: float,
    probes_sent: int,
    notes: tuple[Note, ...] = (),
    interrupted: bool = False,
    host_ttl: int | None = None,
) -> ScanResult:
    """The tally as nmap shows it: open ports and small groups listed, the rest summarised by
    state and reason; resets that came from before the host set apart by their TTL."""
    t = tally
    by_reason: dict[tuple[int, str], list[int]] = {}
    for i, code in enumerate(t.state):
        by_reason.setdefault((code, t.reason[i]), []).append(i)
    opened = by_reason.get((CODE[PortState.OPEN], "syn-ack"), [])
    reference = host_ttl or _most_common_ttl(t.ttl, opened)
    # Resets that came from nearer than the host are told apart from the host's own, also
    # when there are too many to list: they group by how many hops before it they came.
    before: dict[int, int] = {}
    groups: dict[tuple[int, str, int], list[int]] = {}
    closed = CODE[PortState.CLOSED]
    early: dict[int, int] = {}  # TTL -> hops before the host, for the TTLs seen
    if reference:
        for ttl in set(t.ttl) - {0}:
            hops = hops_before(ttl, reference)
            if hops is not None:
                early[ttl] = hops
    for (code, reason), members in by_reason.items():
        if early and code == closed:
            for i in members:
                hops = 0 if i in t.reporter else early.get(t.ttl[i], 0)
                if hops:
                    before[i] = hops
                groups.setdefault((code, reason, hops), []).append(i)
        else:
            groups[(code, reason, 0)] = members
    listed: list[int] = []
    hidden: list[StateGroup] = []
    for (code, reason, hops), members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        state = STATES[code]
        if state is PortState.OPEN or len(members) <= COLLAPSE_OVER:
            listed.extend(members)
        else:
            hidden.append(
                StateGroup(
                    state,
                    reason or "not-probed",
                    len(members),
                    compress_ranges(t.ports[i] for i in members),
                    hops or None,
                )
            )
    rows = []
    for i in sorted(listed):
        rows.append(
            PortResult(
                port=t.ports[i],
                proto=proto,
                state=STATES[t.state[i]],
                reason=t.reason[i] or "not-probed",
                service=service_name(t.ports[i], proto),
                tries=t.tries[i],
                rtt=t.rtt[i] or None,
                reporter=t.reporter.get(i),
                ttl=t.ttl[i] or None,
                reset_hops_before=before.get(i),
            )
        )
    return ScanResult(
        target=target,
        address=address,
        proto=proto,
        method=method,
        ports=tuple(rows),
        not_shown=tuple(hidden),
        scanned=len(t.ports),
        elapsed=elapsed,
        srtt=timing.srtt,
        timeout=timing.timeout,
        max_tries=t.max_tries(),
        probes_sent=probes_sent,
        notes=notes,
        interrupted=interrupted and t.remaining > 0,
        host_ttl=reference,
    )


def _most_common_ttl(ttls: bytearray, members: list[int]) -> int | None:
    """The TTL most of these answers came with (0: not known, not counted)."""
    counts = Counter(ttls[i] for i in members if ttls[i])
    return counts.most_common(1)[0][0] if counts else None
