"""Port states and scan results: data carrying their evidence, no presentation."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "Banner",
    "PortResult",
    "PortState",
    "ScanResult",
    "StateGroup",
    "TlsInfo",
    "compress_ranges",
    "hop_estimate",
    "hops_before",
]


class PortState(enum.StrEnum):
    """nmap's port states (nmap book, "port scanning basics")."""

    OPEN = "open"  # SYN/ACK, a completed connect, or a UDP answer
    CLOSED = "closed"  # RST (connection refused); UDP: ICMP port unreachable
    FILTERED = "filtered"  # silence after retransmissions, or an ICMP unreachable that filters
    OPEN_FILTERED = "open|filtered"  # UDP silence: an open UDP service may say nothing
    UNKNOWN = "unknown"  # not probed to the end (the scan was interrupted)


@dataclass(frozen=True, slots=True)
class Banner:
    """What the service said first (or to our HEAD on an HTTP port), as text."""

    text: str  # first line(s), control characters escaped
    probe: str  # "greeting" (it spoke first) or "http-head" (answer to HEAD)
    elapsed_ms: float
    # How the read ended: "line" (a line end), "limit" (1 KiB without one), "timeout" (the
    # wait passed: silence, or a line still unfinished), "closed", "reset", "error".
    end: str = "line"


@dataclass(frozen=True, slots=True)
class TlsInfo:
    version: str  # "TLSv1.3"
    cipher: str
    subject: str  # "CN=server.lab, O=..."
    issuer: str
    not_after: str  # ISO 8601, UTC
    days_left: int
    alpn: str | None = None
    error: str | None = None  # the handshake failed: why
    not_before: str = ""  # ISO 8601, UTC ("" when unreadable): to say NOT YET VALID


@dataclass(frozen=True, slots=True)
class PortResult:
    port: int
    proto: str  # "tcp" | "udp"
    state: PortState
    reason: str  # nmap's reason names: syn-ack, reset, conn-refused, no-response, ...
    service: str  # the system's name for the port, '' when none
    tries: int  # probes sent before the answer (or in all, when silent)
    rtt_ms: float | None  # the answering probe's round trip
    reporter: str | None = None  # who sent the ICMP error, when one decided the state
    banner: Banner | None = None
    banner_error: str | None = None
    tls: TlsInfo | None = None
    ttl: int | None = None  # the deciding answer's TTL / hop limit (SYN scan; nmap's "ttl 62")
    # A reset that arrived from fewer hops away than the host's own answers: from about this
    # many hops before the host — something on the path rejects in its name.
    reset_hops_before: int | None = None


@dataclass(frozen=True, slots=True)
class StateGroup:
    """Ports not listed one by one: nmap's "Not shown: 65433 closed tcp ports (conn-refused)"."""

    state: PortState
    reason: str
    count: int
    ports: str  # compressed ranges, "1-21,23-79"
    reset_hops_before: int | None = None  # resets from about this many hops before the host


@dataclass(frozen=True, slots=True)
class ScanResult:
    target: str  # as given
    address: str  # what was probed
    proto: str  # "tcp" | "udp"
    method: str  # "connect" | "syn" | "udp"
    ports: tuple[PortResult, ...]  # the interesting ports, ascending
    not_shown: tuple[StateGroup, ...]  # the rest, summarised
    scanned: int
    elapsed_ms: float
    srtt_ms: float | None  # smoothed RTT the timeouts adapted to
    timeout_ms: float  # the probe timeout at the end
    max_tries: int  # most probes any one port got
    probes_sent: int
    notes: tuple[str, ...] = ()
    interrupted: bool = False
    # The TTL the host's own answers arrive with (SYN scan): its echo reply's, else its
    # SYN/ACKs'; what each reset's TTL is weighed against.
    host_ttl: int | None = None

    def count(self, state: PortState) -> int:
        return sum(1 for p in self.ports if p.state is state) + sum(
            g.count for g in self.not_shown if g.state is state
        )

    def state_of(self, port: int) -> PortState | None:
        """The state of one scanned port, also when it was summarised in not_shown."""
        for p in self.ports:
            if p.port == port:
                return p.state
        for group in self.not_shown:
            for part in group.ports.split(","):
                low, _, high = part.partition("-")
                if low and int(low) <= port <= int(high or low):
                    return group.state
        return None

    @property
    def any_open(self) -> bool:
        return any(p.state is PortState.OPEN for p in self.ports)


# Initial TTLs stacks use: 64 (Linux, BSD, macOS), 128 (Windows), 255 (routers, Solaris); 32 on
# a few old ones.  An answer's TTL is the next one up, less the hops it came.
_INITIAL_TTLS = (32, 64, 128, 255)


def hop_estimate(ttl: int) -> int:
    """How many hops away an answer came from, judged by the TTL it arrived with."""
    for initial in _INITIAL_TTLS:
        if ttl <= initial:
            return initial - ttl
    return 0


def hops_before(answer_ttl: int, host_ttl: int) -> int | None:
    """How many hops before the host an answer came from, when it came from nearer than the
    host's own answers; None when it may have come from the host.  Hop estimates, not raw
    TTLs, are compared: a host may start its ICMP and its TCP at different initial TTLs."""
    nearer = hop_estimate(host_ttl) - hop_estimate(answer_ttl)
    return nearer if nearer > 0 else None


def compress_ranges(ports: Iterable[int]) -> str:
    """Ascending ports as nmap writes them: `1-21,23,25-79`."""
    out: list[str] = []
    start = prev = -2
    for p in ports:
        if p == prev + 1:
            prev = p
            continue
        if start >= 0:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = p
    if start >= 0:
        out.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(out)
