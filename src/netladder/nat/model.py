"""What `forward verify` found, as records without the machinery that found it: renderers
name these types and must not reach the sockets `nat.verify` opens."""

from __future__ import annotations

from enum import StrEnum

from netladder.model import field, json_pick, record
from netladder.nat.rules import FORWARD_JSON, ForeignRule, Forward

__all__ = ["Attempt", "Cause", "VerifyResult"]


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
    elapsed_ms: float  # the whole exchange
    error: str | None = None  # the system's error, and the ICMP error behind it with its sender
    connect_ms: float | None = None  # the TCP handshake alone
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
    detail: str
    elapsed_ms: float

    __json_extra__ = ("ok",)

    @property
    def ok(self) -> bool:
        return self.cause is Cause.OK
