"""What a trace produces: probes with their evidence, per-hop statistics and the verdict.

Frozen, slotted data; rendering lives in the command module.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Hop", "HopStats", "ProbeResult", "TraceResult", "Verdict"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe and what came back for it (or that nothing did)."""

    ttl: int
    query: int  # 1-based: the query within the hop (one-shot) or the cycle (report)
    address: str | None  # who answered; None for silence
    rtt_ms: float | None
    # "time-exceeded" (a router on the way), "reply" (the destination answered: echo reply,
    # port unreachable, SYN-ACK or RST), "unreachable" (an ICMP error that ends the trace),
    # "timeout" (silence).
    kind: str
    icmp_type: int | None = None
    icmp_code: int | None = None
    annotation: str = ""  # traceroute's !H !N !P !X ... ("" for none)
    detail: str = ""  # e.g. "port unreachable", "SYN-ACK (open)", "RST (closed)"


@dataclass(frozen=True, slots=True)
class HopStats:
    """mtr's columns for one TTL (all responders together, as mtr keeps them)."""

    sent: int
    received: int
    loss_pct: float
    last_ms: float | None
    avg_ms: float | None
    best_ms: float | None
    worst_ms: float | None
    stdev_ms: float | None  # sample SD (n - 1), as mtr
    median_ms: float | None
    javg_ms: float | None  # jitter: |rtt_n - rtt_n-1| over consecutive answers
    jmax_ms: float | None

    @property
    def lost(self) -> int:
        return self.sent - self.received


@dataclass(frozen=True, slots=True)
class Hop:
    ttl: int
    responders: tuple[str, ...]  # in the order first seen; several on one TTL = ECMP
    probes: tuple[ProbeResult, ...]
    stats: HopStats

    @property
    def address(self) -> str | None:
        return self.responders[0] if self.responders else None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Where added latency or loss starts and persists to the destination."""

    # "ok", "latency", "loss", "unreachable" (an ICMP error ended the trace),
    # "no-answer" (the destination never answered)
    kind: str
    text: str
    hop: int | None = None  # the TTL where it starts
    from_hop: int | None = None  # the answering hop before it (latency: the baseline)
    added_ms: float | None = None
    loss_pct: float | None = None
    # Hops whose loss does not persist: routers not answering or rate-limiting ICMP.
    quiet_hops: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    # A routing loop: the hop addresses that repeat, in TTL order, from the hop where the
    # repetition starts (`hop`); empty when there is none.
    loop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TraceResult:
    target: str
    address: str
    version: int
    protocol: str  # "udp", "icmp", "tcp"
    port: int | None
    socket: str  # "dgram", "raw", "connect"
    flow_constant: bool  # Paris style: every probe in one flow
    first_ttl: int
    max_ttl: int
    queries: int
    cycles: int | None  # report mode
    hops: tuple[Hop, ...]
    reached: bool
    destination_hop: int | None
    elapsed_ms: float  # first probe sent to verdict
    verdict: Verdict
    interrupted: bool = False
