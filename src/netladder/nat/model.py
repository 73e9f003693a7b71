"""What `forward verify` and `forward proxy` found, as records without the machinery that found
it: renderers name these types and must not reach the sockets `nat.verify` and `nat.proxy`
open."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from netladder.model import field, json_ms, json_pick, json_text, record
from netladder.nat.rules import FORWARD_JSON, ForeignRule, Forward

__all__ = ["Attempt", "Cause", "Finding", "ProxyCounters", "ProxyStats", "VerifyResult"]


class Cause(StrEnum):
    OK = "ok"
    NO_RULE = "no_rule"
    NOT_HIT = "rule_not_hit"
    FORWARDING_DISABLED = "forwarding_disabled"
    TARGET_CLOSED = "target_closed"
    TARGET_FILTERED = "target_filtered"
    TARGET_UNREACHABLE = "target_unreachable"
    TARGET_NO_REPLY = "target_no_reply"  # UDP: open|filtered in nmap's words
    NO_ANSWER = "no_answer_through_forward"
    WRONG_ANSWER = "wrong_answer"


@record
class Attempt:
    """One connection (or one UDP exchange) and what came back."""

    address: str
    port: int
    # answered, closed (accepted, said nothing), silent, refused, reset, timeout, unreachable,
    # filtered (an ICMP port unreachable from a router, not the target), error
    outcome: str
    answer: str | None  # the answer, normalised (Date lines dropped); None when not connected
    elapsed: float = field(metadata=json_ms("elapsed_ms"))  # seconds: the whole exchange
    # the system's error, and the ICMP error behind it with its sender
    error: str | None = None
    # seconds: the TCP handshake alone
    connect_time: float | None = field(default=None, metadata=json_ms("connect_ms"))
    # nmap's reason for a failure: conn-refused, no-response, host-unreach, admin-prohibited...
    reason: str | None = None

    @property
    def connected(self) -> bool:
        """The handshake completed (a reset after it is the service's answer too)."""
        return self.outcome in ("answered", "closed", "silent", "reset")

    @property
    def first_line(self) -> str:
        return (self.answer or "").split("\n", 1)[0]


@record
class Finding:
    """Why verify concluded what it did, as evidence: `kind` names the sentence that
    render/forward.py says for it (its FINDINGS), the other fields are what that sentence
    cites.  Kinds, in the order a packet meets them: no-rule, no-rule-elsewhere, no-route,
    output-hook, not-sent-firewall, not-sent-no-route, shadowed, not-reached, elsewhere,
    forwarding-off, target-rejected, target-closed, target-refused, target-silent,
    target-dropped, target-local-firewall, target-prohibited, target-no-route,
    target-unreachable, no-answer, wrong-answer, ok."""

    kind: str
    proto: str
    port: int
    target: str | None = None  # the forward's target host:port; None for a REDIRECT here
    to_port: int = 0  # where the forward sends the port
    rule: ForeignRule | None = None  # another table's rule that handles or catches the port
    vantage: str | None = None  # where the connection through the forward came from
    via: str | None = None  # the address it went to
    outcome: str | None = None  # the connection through the forward (Attempt.outcome)
    # the failure: the system's error, the ICMP behind it (the target's; for not-sent-*, the
    # connection through the forward's, which never left `vantage`)
    error: str | None = None
    sysctl: str | None = None  # the forwarding switch that is 0
    wait: float | None = None  # seconds of silence before giving up
    through: str | None = None  # the first line that came back through the forward
    direct: str | None = None  # the first line that came back from the target itself


@record
class VerifyResult:
    port: int
    proto: str
    vantage: str
    forward: Forward | None = field(metadata=json_pick(**FORWARD_JSON))
    via: str | None  # the address connected to
    through: Attempt | None
    direct: Attempt | None
    hits: int  # connections the forward's rule caught during the check
    hook: str  # prerouting (from another host/namespace) or output (from this machine)
    forwarding: bool | None  # the forwarding sysctl, for a DNAT forward
    shadows: tuple[ForeignRule, ...]
    cause: Cause
    finding: Finding = field(metadata=json_text("detail"))  # JSON: its sentence, in English
    elapsed: float = field(metadata=json_ms("elapsed_ms"))  # seconds: the whole check

    __json_extra__ = ("ok",)

    @property
    def ok(self) -> bool:
        return self.cause is Cause.OK


@dataclass
class ProxyCounters:
    connections: int = 0  # accepted (TCP) or sessions opened (UDP)
    active: int = 0
    failed: int = 0  # the target refused or did not answer
    bytes_up: int = 0  # client -> target
    bytes_down: int = 0  # target -> client
    datagrams_up: int = 0
    datagrams_down: int = 0
    dropped: int = 0  # UDP datagrams dropped (session limit, full buffers)


@dataclass(frozen=True, slots=True)
class ProxyStats:
    """What a proxy did, for the summary at exit."""

    proto: str
    listen: str
    target: str
    zero_copy: bool
    connections: int
    active_at_stop: int
    failed: int
    bytes_up: int
    bytes_down: int
    datagrams_up: int
    datagrams_down: int
    dropped: int
    duration_ms: float
    stopped_by: str
