"""The records of the L2 layer: the ARP/NDP probe's options and result, the neighbour table
and the next-hop check.  Sentences are not here: `render/arp.py` and `render/neigh.py` say
what a result means (the check's JSON `summary` is filled by the latter, in English).
Durations are seconds; JSON keeps its `_ms` keys."""

from __future__ import annotations

from enum import StrEnum

from netladder.l2.route import DefaultRoute, RouteDecision
from netladder.model import field, json_flatten, json_ms, json_skip, record

__all__ = [
    "ArpOptions",
    "ArpResult",
    "Claim",
    "NeighCheck",
    "NeighEntry",
    "NeighReport",
    "NeighTable",
    "ProbeSetup",
    "Reply",
    "Verdict",
]


@record
class ArpOptions:
    """An ARP (IPv4) or Neighbor Solicitation (IPv6) probe of `target`, a neighbour on a local
    Ethernet link, in arping's manner: `count` requests `interval` seconds apart (with None,
    until `deadline`), then `wait` seconds for late replies; `deadline` ends everything.  `dad`
    is RFC 5227 duplicate-address detection (sender 0.0.0.0: an answer means the address is
    in use); `until_reply` stops sending at the first answer."""

    target: str
    iface: str | None = None
    dad: bool = False
    count: int | None = 3
    interval: float = 1.0
    wait: float = 1.0
    deadline: float | None = None
    until_reply: bool = False


@record
class ProbeSetup:
    """Where and as whom a probe is sent."""

    target: str
    version: int
    iface: str
    ifindex: int
    mac: str
    source: str  # our address on the link ("0.0.0.0" for a duplicate-address probe)
    dad: bool
    own: bool = False  # the target is this host's own address (a --dad probe of it)


@record
class Reply:
    """One answer: the station claiming the address, and how it said so."""

    address: str
    mac: str  # the link-layer address the packet claims (ARP sender / NA target option)
    frame_src: str  # the Ethernet source of the frame that carried it
    rtt: float = field(metadata=json_ms("rtt_ms", 6))
    after_request: int  # how many requests had been sent when it came
    broadcast: bool
    # "reply"; "request" (the target's own request to us, or with --dad any request from the
    # address); "probe" (--dad: another station probing for it); "advert" (NDP)
    kind: str

    __json_extra__ = ("ethernet_mismatch",)

    @property
    def ethernet_mismatch(self) -> bool:
        """arpwatch's "ethernet mismatch": the frame's source differs from the claimed MAC."""
        return self.frame_src != self.mac


@record
class Claim:
    """A station that claimed the address in frames that were not answers to us: gratuitous
    ARP, replies to other stations, unsolicited Neighbor Advertisements."""

    mac: str
    frames: int


@record
class ArpResult:
    setup: ProbeSetup = field(
        metadata=json_flatten(
            target="target",
            version="version",
            iface="iface",
            ifindex="ifindex",
            mac="mac",
            source="source",
            dad="dad",
            own="own",
        )
    )
    sent: int
    replies: tuple[Reply, ...]
    elapsed: float = field(metadata=json_ms("elapsed_ms", 3))
    interrupted: bool = False
    # Answers neither counted nor kept: a station answering one request again (ping's DUP!),
    # or beyond MAX_STATIONS stations for one request.
    duplicates: int = 0
    claims: tuple[Claim, ...] = field(default=(), metadata=json_skip())
    # Frames the kernel dropped, the socket's buffer full (a flood): answers may be missing.
    dropped: int = 0
    # A request could not be sent (the errno): the probe stopped there.
    send_error: int | None = field(default=None, metadata=json_skip())

    __json_order__ = (
        "setup",
        "sent",
        "received",
        "replies",
        "macs",
        "conflict",
        "duplicates",
        "dropped",
        "unsolicited",
        "ok",
        "elapsed",
        "interrupted",
    )

    @property
    def unsolicited(self) -> tuple[Claim, ...]:
        """Claims by stations that did not answer us: another station holding the address,
        or one spoofing it."""
        answered = set(self.macs)
        return tuple(c for c in self.claims if c.mac not in answered)

    @property
    def received(self) -> int:
        return len(self.replies)

    @property
    def macs(self) -> tuple[str, ...]:
        """Every distinct station that answered, in order of first answer."""
        return tuple(dict.fromkeys(r.mac for r in self.replies))

    @property
    def conflict(self) -> bool:
        """Two stations answer for one address: a duplicate address."""
        return len(self.macs) > 1

    @property
    def ok(self) -> bool:
        """arping's success: normal mode, someone answered; --dad, nobody did.  Not when the
        kernel dropped frames: who else answered is then unknown."""
        if self.dropped:
            return False
        if self.setup.dad:
            return not self.replies
        return bool(self.replies) and not self.conflict


# -- the neighbour table and the next-hop check ------------------------------------------------


@record
class NeighEntry:
    address: str
    version: int
    mac: str | None
    state: str  # "REACHABLE", "STALE", ... several joined by "|" (as `ip neigh` lists them)
    iface: str
    router: bool  # NTF_ROUTER: an IPv6 neighbour that said it is a router
    gateway: bool  # a default route goes through it


@record
class NeighTable:
    entries: tuple[NeighEntry, ...]
    gateways: tuple[DefaultRoute, ...]


class Verdict(StrEnum):
    OK = "ok"  # the table agrees with the station that answers (or has no entry yet)
    MISMATCH = "mismatch"  # the table's MAC is not the one that answers: L2 broken
    NO_ANSWER = "no_answer"  # nobody answers for the next hop
    CONFLICT = "conflict"  # two stations answer for one address
    NO_ROUTE = "no_route"  # nothing to check: no route (or no default route)
    NOT_APPLICABLE = "not_applicable"  # a local address, or a link without ARP/NDP
    # The table agreed with what answered, but the kernel dropped frames in a flood: another
    # station may have answered unseen.
    INCOMPLETE = "incomplete"


@record
class NeighCheck:
    """The table's entry for a next hop against a live ARP/NDP reply, and what it means."""

    target: str  # what was asked about ("default" for the default gateways)
    neighbour: str | None  # the next hop checked: the gateway, or the target when on-link
    iface: str | None
    via_gateway: bool
    default_gateway: bool
    route: RouteDecision | None
    table_mac: str | None
    table_state: str | None
    live_macs: tuple[str, ...]
    probe: ArpResult | None
    verdict: Verdict
    # What the evidence shows, for render/neigh.py's sentence (JSON `summary`):
    # no-route, no-default-route, own-address, no-single-neighbour, not-ethernet,
    # silent-but-claimed, gateway-silent, silent, several-stations, mismatch, claimed,
    # ok, ok-no-mac, ok-no-entry
    finding: str = field(default="", metadata=json_skip())
    fix: str | None = None  # the command that repairs it (a wrong table entry)

    __json_order__ = (
        "target",
        "neighbour",
        "iface",
        "via_gateway",
        "default_gateway",
        "route",
        "table_mac",
        "table_state",
        "live_macs",
        "probe",
        "verdict",
        "summary",
        "fix",
        "ok",
    )
    __json_text__ = "summary"

    @property
    def ok(self) -> bool:
        return self.verdict in (Verdict.OK, Verdict.NOT_APPLICABLE)


@record
class NeighReport:
    """`neigh --check`: one check per next hop asked about."""

    checks: tuple[NeighCheck, ...]

    __json_order__ = ("ok", "interrupted", "checks")

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def interrupted(self) -> bool:
        return any(c.probe is not None and c.probe.interrupted for c in self.checks)
