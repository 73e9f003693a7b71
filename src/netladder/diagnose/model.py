"""The result of a diagnosis: one rung per layer with its typed evidence, and the verdict.

A `Rung` says what its layer's check found (`finding`, one of `Finding`) and carries the
evidence it found it in: an engine's own result record (`RouteDecision`, `SystemLookup`…) or a
record here of what the ladder read from one.  The rules of the ladder read those fields; the
sentences (`summary`, the verdict's `text`, L4's `cause`) are made from them by
`netladder.render.diagnose`, which `to_jsonable(diagnosis, sentence=...)` calls.

This is the `--json` schema of `netladder diagnose` (documented in the README, "The ladder", and
pinned by tests/test_diagnose.py and the goldens of tests/test_schema_diagnose.py):

    {
      "target": str, "address": str | null, "ok": bool, "elapsed_ms": float,
      "verdict": {"layer": str | null, "text": str, "next_command": str | null},
      (verdict.layer is null when every layer passed, "interrupted" after Ctrl-C)
      "layers": [
        {"layer": "names" | "route" | "l2" | "l3" | "path" | "l4" | "l7",
         "status": "pass" | "fail" | "warn" | "skip",
         "summary": str, "elapsed_ms": float, "next_command": str | null,
         "evidence": {...layer-specific...}}
      ]
    }

Nothing here imports an engine at run time (the annotations name their types only): the
renderer reads these records without loading a prober.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from netladder.model import field, json_flatten, json_ms, json_name, json_pick, json_skip, record

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netladder.l2.model import NeighCheck, NeighEntry
    from netladder.l2.route import RouteDecision
    from netladder.l4.model import PortResult
    from netladder.l7.lint import Finding as LintFinding
    from netladder.l7.model import Failure as HttpFailure
    from netladder.l7.model import Timings as HttpTimings
    from netladder.names.model import Resolution, SystemLookup
    from netladder.path.model import PathVerdict

__all__ = [
    "LAYERS",
    "Address",
    "AgentProblem",
    "Answer",
    "BlackHole",
    "Diagnosis",
    "EchoError",
    "EchoEvidence",
    "EchoRtt",
    "Echoes",
    "Evidence",
    "Finding",
    "Http",
    "NextHop",
    "NotChecked",
    "NotNeeded",
    "Nothing",
    "PmtuCheck",
    "PmtuResult",
    "PortFailure",
    "PortGroup",
    "PortSeen",
    "Ports",
    "PortsFailed",
    "Problem",
    "Reached",
    "Resolved",
    "Rung",
    "Status",
    "TableOnly",
    "TcpAnswers",
    "Trace",
    "TraceHop",
    "Unopened",
    "Unreached",
    "Unresolved",
    "Unsent",
    "Verdict",
    "ViaReport",
    "header_size",
    "ping_flag",
    "not_checked",
]

# Bottom-up, as the ladder is walked; names come first because nothing else can start without
# an address.
LAYERS = ("names", "route", "l2", "l3", "path", "l4", "l7")


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"  # works, with something worth knowing (ICMP blocked, lint findings), or could
    # not be checked (the evidence says why: a missing privilege)
    SKIP = "skip"  # not run: not needed, not possible, or a lower rung already failed


# What a rung's check found: the renderer has one sentence for each.
Finding = Literal[
    # any layer
    "error",  # the check raised (Problem): its message is the summary
    "not-checked",  # a missing privilege or kernel feature (NotChecked)
    "interrupted",  # not reached: Ctrl-C
    "unresolved-name",  # not reached: the name did not resolve
    "lower-failed",  # not reached: a lower layer failed
    # names
    "address",  # the target is an address (Address)
    "resolved",  # the system resolver has it (Resolved)
    "system-only",  # DNS answers, the system resolver does not (Unresolved)
    "unresolvable",  # nothing resolves it (Unresolved)
    # route (RouteDecision)
    "no-route",
    "local",
    "gateway",
    "on-link",
    # l2
    "table-only",  # the live check was not possible (TableOnly)
    "next-hop",  # the live check's verdict (NextHop)
    # l3 (Echoes; NotChecked for "echo-impossible")
    "echo-impossible",
    "silent",  # no reply and no error
    "echo-error",  # no reply; an ICMP error came back
    "replies",  # every echo answered, RTT fine
    "loss",
    "high-rtt",
    # path: Trace, BlackHole; when skipped: Nothing, or NotNeeded
    "trace",
    "black-hole",
    "unrouted",  # not reached: no route
    "l2-failed",  # not reached: the next hop fails at L2
    "echo-impossible-path",  # not run: ICMP echo was not possible
    "echo-blocked",  # not run: ICMP echo is blocked but TCP answers
    "not-needed",  # not needed: no loss, no high RTT (NotNeeded)
    # l4: Ports, PortsFailed, Problem
    "ports",
    "scan-failed",
    "no-port",  # no port to check
    # l7: Http, Problem; when skipped: Nothing, Unopened
    "response",
    "request-failed",
    "not-http",
    "ports-shut",  # not reached: the port did not open (Unopened)
]


# -- evidence any layer may have ------------------------------------------------------------------


@record
class Nothing:
    """No evidence: a rung that did not run.  JSON `{}`."""


@record
class Problem:
    """The check raised (a NetladderError that is not a missing privilege).  JSON `{}`: the
    message is the summary."""

    message: str = field(metadata=json_skip())


@record
class NotChecked:
    """A missing privilege or kernel feature kept the check from running."""

    not_checked: str  # the problem, as the error says it


# -- names ----------------------------------------------------------------------------------------


@record
class Address:
    """The target is an address: nothing to resolve.  JSON `{}`."""

    host: str = field(metadata=json_skip())


@record
class Resolved:
    """The system resolver (getaddrinfo) has addresses for the name."""

    host: str = field(metadata=json_skip())
    system: SystemLookup


@record
class Unresolved:
    """The system resolver has no address; what a direct DNS query says beside it."""

    host: str = field(metadata=json_skip())
    system: SystemLookup
    dns: Resolution


# -- L2 -------------------------------------------------------------------------------------------


@record
class TableOnly:
    """Without CAP_NET_RAW: what the neighbour table says for the next hop."""

    next_hop: str | None
    table: NeighEntry | None
    not_checked: str


@record
class NextHop:
    """The live check of the next hop (l2.neigh), with its keys as the JSON always had them."""

    check: NeighCheck = field(
        metadata=json_flatten(
            target="target",
            neighbour="neighbour",
            iface="iface",
            via_gateway="via_gateway",
            default_gateway="default_gateway",
            route="route",
            table_mac="table_mac",
            table_state="table_state",
            live_macs="live_macs",
            probe="probe",
            verdict="verdict",
            summary="summary",
            fix="fix",
            ok="ok",
        )
    )


# -- L3 -------------------------------------------------------------------------------------------


@record
class EchoError:
    """An ICMP error about one of the echoes, and who sent it."""

    seq: int
    source: str = field(metadata=json_name("from"))
    text: str  # as iputils prints it


@record
class EchoRtt:
    """min/avg/max/mdev of the replies (seconds; ms in JSON).  min and max are samples, whole
    nanoseconds: six decimals of ms give back exactly the ms ping computed."""

    min: float = field(metadata=json_ms("min", 6))
    avg: float = field(metadata=json_ms("avg"))
    max: float = field(metadata=json_ms("max", 6))
    mdev: float = field(metadata=json_ms("mdev"))


def header_size(version: int) -> int:
    """IP header + ICMP header: packet size - data size (ping -s)."""
    return (20 if version == 4 else 40) + 8


def ping_flag(version: int) -> str:
    """iputils' ping with DF set (the next command a black hole suggests)."""
    return "ping -M do" if version == 4 else "ping -6 -M do"


@record
class PmtuResult:
    """What the full-size echoes found (diagnose/pmtu.py).  Sizes are whole IP packets, as
    MTUs are.

    outcome: "fits" (a full-size echo was answered), "told" (a router said "fragmentation
    needed" / "packet too big", or this host already knew a smaller MTU: path MTU discovery
    works), "black-hole" (full-size echoes vanished without a word while smaller ones are
    answered), "no-echo" (not even the small control echo was answered: nothing to judge by),
    "interrupted" (cut short before it could judge).
    """

    version: int
    outcome: str
    full_size: int  # the kernel's MTU towards the target: the size probed first
    largest_through: int | None = None  # the largest packet answered
    smallest_lost: int | None = None  # the smallest packet that vanished (black hole)
    reported_mtu: int | None = None  # "told": the MTU the message gave (None: not given)
    reporter: str | None = None  # "told": who said it (None: this host's kernel)
    probes: int = 0
    elapsed: float = field(default=0.0, metadata=json_ms("elapsed_ms", 6))

    @property
    def data_size(self) -> int | None:
        """`ping -M do -s` of the largest packet that got through."""
        if self.largest_through is None:
            return None
        return self.largest_through - header_size(self.version)


@record
class PmtuCheck:
    """The full-size check ran; `result` is None towards this host's own addresses (nothing to
    measure) or when it could not run."""

    result: PmtuResult | None


@record
class TcpAnswers:
    """L4 shows the host up while every echo failed: ICMP echo is blocked."""

    open_port: int | None  # the first open port; None when the host only refused (RST)

    @property
    def blocked(self) -> bool:
        return True


@record
class Unsent:
    """Silent echoes that never left this host: its next hop does not answer ARP/NDP."""

    hop: str
    via_gateway: bool
    own: str | None  # this host's source address towards the target (the route's prefsrc)


@record
class Echoes:
    """What L3's echoes got; JSON keys as they always were (`pmtu` once the full-size check
    ran, `blocked` when L4 shows the host up)."""

    transmitted: int
    received: int
    loss_pct: float  # rounded to 0.1
    errors: tuple[EchoError, ...]
    rtt: EchoRtt | None = field(metadata=json_name("rtt_ms"))
    socket: str  # "raw" | "dgram"
    pmtu: PmtuCheck | None = field(default=None, metadata=json_flatten(pmtu="result"))
    blocked: TcpAnswers | None = field(default=None, metadata=json_flatten(blocked="blocked"))
    unsent: Unsent | None = field(default=None, metadata=json_skip())

    @property
    def loss_percent(self) -> float:
        """The loss unrounded, as ping's summary computes it."""
        from netladder.l3.stats import loss_percent

        return loss_percent(self.transmitted, self.received)


# -- path -----------------------------------------------------------------------------------------


@record
class TraceHop:
    ttl: int
    address: str | None
    loss_pct: float
    avg: float | None = field(metadata=json_ms("avg_ms"))


@record
class Trace:
    """The trace the path rung ran (path/trace.py), and its verdict."""

    protocol: str
    reached: bool
    hops: tuple[TraceHop, ...]
    verdict: PathVerdict
    elapsed: float = field(metadata=json_ms("elapsed_ms", 6))  # whole ns, as min/max above


@record
class BlackHole:
    """Full-size packets vanish without an ICMP word while small ones pass."""

    pmtu: PmtuResult


@record
class NotNeeded:
    """L3 saw no loss and no high RTT; what the full-size check adds.  JSON `{}`."""

    pmtu: PmtuResult | None = field(metadata=json_skip())


# -- L4 -------------------------------------------------------------------------------------------


@record
class PortSeen:
    port: int
    proto: str
    state: str  # l4.model.PortState's value
    reason: str  # nmap's reason name
    reporter: str | None  # who sent the ICMP error that decided the state
    banner: str | None


@record
class PortGroup:
    """Ports summarised by state (nmap's "Not shown").  Not in JSON: the summary says them."""

    state: str
    reason: str
    count: int


@record
class EchoEvidence:
    """What L3 (and the ports) say about whether the host is up, for L4's sentences."""

    tried: bool  # an echo could be sent
    answered: int  # echo replies
    sent: int
    error: EchoError | None  # the first ICMP error about an echo
    answering: tuple[int, ...]  # the host's ports that answered (open or closed)


@record
class PortFailure:
    """The first port that is not open, and what else the ladder knows about the host."""

    address: str
    port: int
    state: str
    reason: str
    reporter: str | None
    echo: EchoEvidence
    # A reset from before the host (its TTL says so): the row, and the host's own TTL.
    forged: PortResult | None = None
    host_ttl: int | None = None

    @property
    def other_port(self) -> int | None:
        """Another port of the host that answered: it is up and reachable."""
        return next((p for p in self.echo.answering if p != self.port), None)


@record
class Ports:
    """What the port check found (l4.scan.scan)."""

    method: str
    ports: tuple[PortSeen, ...]
    srtt: float | None = field(metadata=json_ms("srtt_ms", 3))
    elapsed: float = field(metadata=json_ms("elapsed_ms", 3))
    groups: tuple[PortGroup, ...] = field(default=(), metadata=json_skip())


@record
class PortsFailed:
    """A port is not open: the ports, and the `cause` sentence the verdict gives."""

    __json_text__ = "cause"

    ports: Ports = field(
        metadata=json_flatten(method="method", ports="ports", srtt_ms="srtt", elapsed_ms="elapsed")
    )
    failure: PortFailure = field(metadata=json_skip())


# -- L7 -------------------------------------------------------------------------------------------


@record
class Http:
    """The final response (or the failure) of the L7 request (l7.client.http_check); its
    lint messages and failure are `render.http`'s sentences."""

    status: int | None
    reason: str
    http_version: str | None
    timings: HttpTimings
    lint: tuple[LintFinding, ...] = field(
        metadata=json_pick(rule="rule", level="level", section="section", message="message")
    )
    headers: tuple[tuple[str, str], ...]
    error: HttpFailure | None


@record
class Unopened:
    """L7 not reached: the port(s) L4 checked did not open.  JSON `{}`."""

    ports: tuple[int, ...] = field(metadata=json_skip())


# What a rung's evidence may be (a string: RouteDecision is only imported for type checkers).
Evidence: TypeAlias = (
    "Nothing | Problem | NotChecked | Address | Resolved | Unresolved | RouteDecision"
    " | TableOnly | NextHop | Echoes | Trace | BlackHole | NotNeeded | Ports | PortsFailed"
    " | Http | Unopened"
)


# -- the ladder ---------------------------------------------------------------------------------


@record
class Rung:
    """One layer's check: its status, what it found and the evidence it found it in."""

    __json_order__ = ("layer", "status", "summary", "elapsed", "next_command", "evidence")
    __json_text__ = "summary"

    layer: str
    status: Status
    finding: Finding = field(metadata=json_skip())
    evidence: Evidence = field(default_factory=Nothing)
    elapsed: float = field(default=0.0, metadata=json_ms("elapsed_ms"))
    next_command: str | None = None


def not_checked(rung: Rung) -> str | None:
    """Why the rung could not look (a missing privilege), or None when it did."""
    evidence = rung.evidence
    if isinstance(evidence, NotChecked | TableOnly):
        return evidence.not_checked
    return None


@record
class Verdict:
    """The first failing layer (None: every layer passed; "interrupted" after Ctrl-C).  Its
    `text` is read from the rungs, which it keeps for that."""

    __json_order__ = ("layer", "text", "next_command")
    __json_text__ = "text"

    layer: str | None
    next_command: str | None = None
    rungs: tuple[Rung, ...] = field(default=(), metadata=json_skip())


@record
class Diagnosis:
    __json_order__ = ("target", "address", "ok", "elapsed", "verdict", "rungs")

    target: str
    address: str | None
    rungs: tuple[Rung, ...] = field(metadata=json_name("layers"))
    verdict: Verdict
    elapsed: float = field(metadata=json_ms("elapsed_ms", 3))

    @property
    def ok(self) -> bool:
        return self.verdict.layer is None


# -- --via: agents asked at once (diagnose/via.py) ------------------------------------------------


@record
class AgentProblem:
    """Why an agent could not be asked (render.diagnose says it)."""

    kind: Literal[
        "bad-url",
        "failed",
        "no-answer",
        "status",
        "not-netladder",
        "not-object",
        "auth-needed",  # 401 to a request without credentials
        "auth-refused",  # 401 to the credentials given
    ]
    detail: str = ""  # bad-url: the URL's fault; status: what the agent said
    status: int | None = None  # the HTTP status it answered
    failure: HttpFailure | None = None  # failed: the HTTP check's own failure (render.http says it)


# The keys of an agent in `--via --json`, reached or not.
_AGENT_KEYS = ("url", "name", "reached", "ok", "layer", "error", "diagnosis")


@record
class Reached:
    """An agent that answered with a diagnosis (its `--json` document, as it sent it)."""

    __json_order__ = _AGENT_KEYS

    url: str
    name: str
    diagnosis: Mapping[str, Any]

    @property
    def reached(self) -> bool:
        return True

    @property
    def ok(self) -> bool:
        return bool(self.diagnosis.get("ok"))

    @property
    def layer(self) -> str | None:
        verdict = self.diagnosis.get("verdict") or {}
        layer = verdict.get("layer")
        return str(layer) if layer else None

    @property
    def verdict_text(self) -> str:
        return str((self.diagnosis.get("verdict") or {}).get("text", ""))

    @property
    def error(self) -> None:
        return None


@record
class Unreached:
    """An agent that could not be asked: no vantage point, never counted as a failure."""

    __json_order__ = _AGENT_KEYS
    __json_text__ = "error"

    url: str
    name: str
    problem: AgentProblem = field(metadata=json_skip())

    @property
    def reached(self) -> bool:
        return False

    @property
    def ok(self) -> None:
        return None

    @property
    def layer(self) -> None:
        return None

    @property
    def diagnosis(self) -> None:
        return None


Answer = Reached | Unreached


@record
class ViaReport:
    """Every agent's answer; `summary` is the one sentence they support together."""

    __json_order__ = ("target", "ok", "summary", "answers")
    __json_text__ = "summary"

    target: str
    answers: tuple[Answer, ...] = field(metadata=json_name("agents"))

    @property
    def ok(self) -> bool:
        """Every agent that answered passes (and one did)."""
        reached = [a for a in self.answers if isinstance(a, Reached)]
        return bool(reached) and all(a.ok for a in reached)
