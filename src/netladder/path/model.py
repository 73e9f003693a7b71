"""What a trace is asked for and what it produces: the options, probes with their evidence,
per-hop statistics and the verdict as a typed finding.

Records, seconds everywhere (JSON keeps its `_ms` keys).  No sentence is made here:
`render/trace.py` says what a probe's answer and the verdict mean (JSON `detail`, `text`,
`notes` are filled by it, in English).
"""

from __future__ import annotations

from netladder.model import field, json_flatten, json_ms, json_skip, record

__all__ = [
    "Hop",
    "HopRef",
    "HopStats",
    "LossStart",
    "PathVerdict",
    "ProbeResult",
    "QuietHop",
    "QuietHops",
    "Rise",
    "TraceCycle",
    "TraceOptions",
    "TraceResult",
]


@record
class TraceOptions:
    """A trace of the path to `target`.

    One-shot (traceroute): `queries` probes per TTL from `first_ttl` to `max_ttl`, at most
    `parallel` awaiting an answer, each waiting at most `wait` seconds (TCP: at most 1 s).
    Report (mtr -r -c N): with `cycles`, one probe per TTL every `interval` seconds, N times.
    `protocol` is "udp" (port 33434 by default), "icmp" (echo) or "tcp" (port 80 by default:
    SYNs from a raw socket with CAP_NET_RAW, else connect()s).  The verdict counts a rise of
    at least `min_added` seconds as added latency and `min_loss_pct` % as loss."""

    target: str
    protocol: str = "udp"
    port: int | None = None
    queries: int = 3
    first_ttl: int = 1
    max_ttl: int = 30
    parallel: int = 16
    wait: float = 5.0
    cycles: int | None = None
    interval: float = 1.0
    version: int | None = None
    min_added: float = 0.010
    min_loss_pct: float = 5.0


@record
class ProbeResult:
    """One probe and what came back for it (or that nothing did)."""

    ttl: int
    query: int  # 1-based: the query within the hop (one-shot) or the cycle (report)
    address: str | None  # who answered; None for silence
    rtt: float | None = field(metadata=json_ms("rtt_ms", 6))
    # "time-exceeded" (a router on the way), "reply" (the destination answered: echo reply,
    # port unreachable, SYN-ACK or RST), "unreachable" (an ICMP error that ends the trace),
    # "timeout" (silence).
    kind: str
    icmp_type: int | None = None
    icmp_code: int | None = None
    annotation: str = ""  # traceroute's !H !N !P !X ... ("" for none)
    # What answered, as a stable word the renderer says (JSON `detail`): "time-exceeded",
    # "port-unreachable", "port-unreachable-router", "icmp-error", "too-big", "echo-reply",
    # "udp-reply", "syn-ack", "rst", "connect-error"; "" for silence.
    answer: str = field(default="", metadata=json_skip())
    info: int = field(default=0, metadata=json_skip())  # too-big: the MTU; connect-error: errno
    version: int = field(default=4, metadata=json_skip())  # which ICMP the type and code are

    __json_text__ = "detail"


@record
class HopStats:
    """mtr's columns for one TTL (all responders together, as mtr keeps them), in seconds."""

    sent: int
    received: int
    loss_pct: float
    last: float | None = field(metadata=json_ms("last_ms", 6))
    avg: float | None = field(metadata=json_ms("avg_ms", 6))
    best: float | None = field(metadata=json_ms("best_ms", 6))
    worst: float | None = field(metadata=json_ms("worst_ms", 6))
    stdev: float | None = field(metadata=json_ms("stdev_ms", 6))  # sample SD (n - 1), as mtr
    median: float | None = field(metadata=json_ms("median_ms", 6))
    # jitter: |rtt_n - rtt_n-1| over consecutive answers, mean and maximum (mtr's Javg, Jmax)
    javg: float | None = field(metadata=json_ms("javg_ms", 6))
    jmax: float | None = field(metadata=json_ms("jmax_ms", 6))

    @property
    def lost(self) -> int:
        return self.sent - self.received


@record
class Hop:
    ttl: int
    responders: tuple[str, ...]  # in the order first seen; several on one TTL = ECMP
    probes: tuple[ProbeResult, ...]
    stats: HopStats

    @property
    def address(self) -> str | None:
        return self.responders[0] if self.responders else None


# -- the verdict: which finding, and the evidence each sentence names -------------------------


@record
class HopRef:
    """A hop a finding names: its TTL and who answered there (None: nobody)."""

    ttl: int
    address: str | None


@record
class Rise:
    """Latency added between two answering hops that persists to the destination."""

    before: HopRef
    at: HopRef
    added: float  # seconds: the median at `at` minus the median at `before`


@record
class LossStart:
    """Where loss starts and persists to the destination."""

    before: HopRef | None  # the answering hop before it (None: loss from the first hop)
    at: HopRef
    loss_pct: float  # at `at`
    destination_loss_pct: float
    at_destination: bool  # only the destination loses


@record
class QuietHop:
    """A hop losing far more than a hop after it: the router is not answering (or
    rate-limiting its ICMP), which is not path loss."""

    ttl: int
    loss_pct: float


@record
class QuietHops:
    """The quiet hops and the note each gets (JSON `quiet_hops` and `notes`)."""

    hops: tuple[QuietHop, ...] = ()

    __json_text__ = "notes"

    @property
    def ttls(self) -> tuple[int, ...]:
        return tuple(q.ttl for q in self.hops)


@record
class PathVerdict:
    """Where added latency or loss starts and persists to the destination, as a finding.

    `kind` is the JSON enum: "ok", "latency", "loss", "unreachable" (an ICMP error ended the
    trace), "no-answer" (the destination never answered).  `finding` says which sentence the
    renderer makes: "ok", "latency", "loss", "unreachable", "loop", "max-ttl" (the last hop
    probed answered, the destination was beyond `max_ttl`), "silence" (silence after the last
    hop that answered), "nothing" (nothing answered at all)."""

    kind: str
    finding: str = field(metadata=json_skip())
    hop: int | None = None  # the TTL where it starts
    from_hop: int | None = None  # the answering hop before it (latency: the baseline)
    added: float | None = field(default=None, metadata=json_ms("added_ms", 6))
    loss_pct: float | None = None  # the destination's loss (loss)
    quiet: QuietHops = field(
        default=QuietHops(), metadata=json_flatten(quiet_hops="ttls", notes="notes")
    )
    # A routing loop: the hop addresses that repeat, in TTL order, from the hop where the
    # repetition starts (`hop`); empty when there is none.
    loop: tuple[str, ...] = ()
    # The evidence the sentence names (not in the JSON: its `text` says it).
    last: HopRef | None = field(default=None, metadata=json_skip())  # the hop the trace ended at
    error: ProbeResult | None = field(default=None, metadata=json_skip())  # unreachable
    upto: int | None = field(default=None, metadata=json_skip())  # loop: the last answering TTL
    rise: Rise | None = field(default=None, metadata=json_skip())  # latency (also with loss)
    loss: LossStart | None = field(default=None, metadata=json_skip())
    rtt: float | None = field(default=None, metadata=json_skip())  # ok: the destination's median
    protocol: str = field(default="", metadata=json_skip())
    port: int | None = field(default=None, metadata=json_skip())

    __json_order__ = ("kind", "text", "hop", "from_hop", "added", "loss_pct", "quiet", "loop")
    __json_text__ = "text"

    @property
    def quiet_hops(self) -> tuple[int, ...]:
        return self.quiet.ttls


@record
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
    elapsed: float = field(metadata=json_ms("elapsed_ms", 6))  # first probe sent to verdict
    verdict: PathVerdict
    interrupted: bool = False
    # A probe could not be sent (no route, a local firewall): the errno, and whether it was a
    # connect() (TCP without CAP_NET_RAW) or a datagram; the trace stopped there.
    send_error: int | None = field(default=None, metadata=json_skip())
    send_connect: bool = field(default=False, metadata=json_skip())


@record
class TraceCycle:
    """An event of report mode: the trace as it stands after `cycle` cycles."""

    cycle: int
    snapshot: TraceResult
