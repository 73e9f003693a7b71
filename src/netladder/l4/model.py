"""The port check's options and results (issue 14): one frozen options record, typed results
that carry their evidence, seconds for every duration, and the JSON `netladder port --json` has
always written (`output.to_jsonable`; sentences come from `render/port.py`).

    ScanOptions(target, ports, proto="tcp", method="auto", …)  → api.scan(options) → ScanResult
    ScanResult.ports[i]: PortResult (state, nmap's reason, RTT, TTL, Banner, TlsInfo)
    ScanResult.not_shown[i]: StateGroup (nmap's "Not shown: 65433 closed tcp ports")
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING

from netladder.model import field, json_ms, json_pick, json_text, record
from netladder.net.tls import TlsInfo

if TYPE_CHECKING:
    import re

__all__ = [
    "Banner",
    "DialogueEnd",
    "DialogueEvent",
    "DialogueKind",
    "DialogueOptions",
    "DialogueResult",
    "DialogueStep",
    "Note",
    "PortResult",
    "PortState",
    "ScanOptions",
    "ScanProgress",
    "ScanResult",
    "ScanStarted",
    "StateGroup",
    "UdpOptions",
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


@record
class ScanOptions:
    """One port check.  `ports`: a tuple, or a list as users write it (`22,80`, `1-1024`,
    `top`, `ssh`).  `method`: auto (SYN when raw sockets are allowed, as nmap), syn, connect;
    UDP has one.  `timeout`: a fixed probe timeout in seconds (None: it adapts to the RTT);
    `rate`: at most this many SYN probes a second.  `banner`/`tls`: what open TCP ports say
    first / their TLS handshake, each read within `banner_wait` seconds."""

    target: str
    ports: tuple[int, ...] | str
    proto: str = "tcp"
    method: str = "auto"
    timeout: float | None = None
    rate: float | None = None
    banner: bool = False
    tls: bool = False
    banner_wait: float = 3.0
    version: int | None = None


@record
class ScanStarted:
    """The scan begins (the first event api.scan's on_progress hears): where it goes."""

    target: str  # as given
    address: str  # what is probed
    proto: str
    ports: int  # how many


@record
class ScanProgress:
    """`decided` more ports have their state (the event api.scan's on_progress hears)."""

    decided: int


@record
class Note:
    """Something the scan wants said beside its result; `kind` is stable, the renderer says it:
    "unprivileged-connect" (no raw sockets: a connect scan instead of SYN)."""

    kind: str


@record
class Banner:
    """What the service said first (or to our HEAD on an HTTP port), as text."""

    text: str  # first line(s), control characters escaped
    probe: str  # "greeting" (it spoke first), "http-head" (answer to HEAD), "none"
    elapsed: float = field(metadata=json_ms("elapsed_ms", 3))
    # How the read ended: "line" (a line end), "limit" (1 KiB without one), "timeout" (the
    # wait passed: silence, or a line still unfinished), "closed", "reset", "error".
    end: str = "line"


# port's TLS JSON, as it has always been: `not_after` in datetime.isoformat()'s "+00:00" form,
# the whole days to expiry.
_TLS_VIEW = json_pick(
    version="version",
    cipher="cipher",
    subject="subject",
    issuer="issuer",
    not_after="not_after_offset",
    days_left="days_left",
    alpn="alpn",
    error="error",
    not_before="not_before",
)


@record
class PortResult:
    port: int
    proto: str  # "tcp" | "udp"
    state: PortState
    reason: str  # nmap's reason names: syn-ack, reset, conn-refused, no-response, ...
    service: str  # the system's name for the port, '' when none
    tries: int  # probes sent before the answer (or in all, when silent)
    rtt: float | None = field(metadata=json_ms("rtt_ms", 3))  # the answering probe's
    reporter: str | None = None  # who sent the ICMP error, when one decided the state
    banner: Banner | None = None
    banner_error: str | None = None  # why there is no banner (the connect failed)
    tls: TlsInfo | None = field(default=None, metadata=_TLS_VIEW)
    ttl: int | None = None  # the deciding answer's TTL / hop limit (SYN scan; nmap's "ttl 62")
    # A reset that arrived from fewer hops away than the host's own answers: from about this
    # many hops before the host — something on the path rejects in its name.
    reset_hops_before: int | None = None


@record
class StateGroup:
    """Ports not listed one by one: nmap's "Not shown: 65433 closed tcp ports (conn-refused)"."""

    state: PortState
    reason: str
    count: int
    ports: str  # compressed ranges, "1-21,23-79"
    reset_hops_before: int | None = None  # resets from about this many hops before the host


@record
class ScanResult:
    target: str  # as given
    address: str  # what was probed
    proto: str  # "tcp" | "udp"
    method: str  # "connect" | "syn" | "udp"
    ports: tuple[PortResult, ...]  # the interesting ports, ascending
    not_shown: tuple[StateGroup, ...]  # the rest, summarised
    scanned: int
    elapsed: float = field(metadata=json_ms("elapsed_ms", 3))
    srtt: float | None = field(metadata=json_ms("srtt_ms", 3))  # the RTT timeouts adapted to
    timeout: float = field(metadata=json_ms("timeout_ms", 3))  # the probe timeout at the end
    max_tries: int  # most probes any one port got
    probes_sent: int
    notes: tuple[Note, ...] = field(default=(), metadata=json_text())
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

    @property
    def passed(self) -> bool:
        """What `port` exits 0 for: a port is open (for UDP also open|filtered)."""
        good = {PortState.OPEN} | ({PortState.OPEN_FILTERED} if self.proto == "udp" else set())
        return any(p.state in good for p in self.ports)


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


# -- a line dialogue over TCP (blackbox's tcp prober: query_response) ----------------------------


@record
class DialogueStep:
    """One query_response entry: read lines until `expect` matches one (None: read nothing),
    then send `send` and a newline (its `$1`/`${name}` filled from the match, as Go's
    regexp.Expand; "": send nothing), then upgrade to TLS when `starttls`."""

    expect: re.Pattern[str] | None = None
    send: str = ""
    starttls: bool = False


@record
class DialogueOptions:
    """A TCP connect to `address`:`port` (TLS at once when `tls`), then `steps` in order, all
    within `timeout` seconds.  TLS (at once or by a step's starttls) offers `server_name` and
    verifies against `cafile` (the system store when None) unless `verify` is False.  A line
    may be at most `max_line` bytes (bufio.Scanner's 64 KiB)."""

    address: str
    port: int
    steps: tuple[DialogueStep, ...] = ()
    tls: bool = False
    server_name: str | None = None
    verify: bool = True
    cafile: str | None = None
    timeout: float = 10.0
    max_line: int = 64 * 1024
    source: str | None = None
    netns: str | None = None


class DialogueKind(enum.StrEnum):
    """What happened in a dialogue, in order (DialogueEvent.kind)."""

    ENTRY = "entry"  # step `index` begins
    READ = "read"  # a line came (`line`, without its line end)
    MATCHED = "matched"  # step `index`'s expect matched `line`
    SENT = "sent"  # `line` (and a newline) was written
    STARTTLS = "starttls"  # step `index` starts a TLS handshake
    TLS = "tls"  # the handshake completed (`tls`)


@record
class DialogueEvent:
    kind: DialogueKind
    index: int = 0
    line: str = ""
    tls: TlsInfo | None = None


class DialogueEnd(enum.StrEnum):
    """How a dialogue ended."""

    DONE = "done"  # every step ran
    CONNECT = "connect"  # the connect failed (`error`)
    # the TLS handshake at connect failed (`tls_error`, `tls_cause`; `read_error`: the
    # connection failed during it)
    TLS = "tls"
    MISMATCH = "mismatch"  # the stream ended before a step's expect matched (`last_line`)
    TOO_LONG = "too_long"  # a line longer than max_line
    STARTTLS = "starttls"  # a step's TLS handshake failed (`tls_error`, `tls_cause`)
    BROKEN = "broken"  # the connection failed during the steps (`read_error`)
    TIMEOUT = "timeout"  # the timeout passed first


@record
class DialogueResult:
    """What a dialogue did (`events`) and how it ended.  `step`: the step it ended in;
    `tls`: the handshake at connect; `tls_reason`: OpenSSL's short reason for a failed
    handshake (CERTIFICATE_VERIFY_FAILED), beside `tls_error`'s words."""

    end: DialogueEnd
    events: tuple[DialogueEvent, ...]
    step: int
    error: int = 0
    immediate: bool = False  # connect() itself failed with `error` (ConnectOutcome.immediate)
    tls: TlsInfo | None = None
    tls_error: str | None = None
    tls_reason: str | None = None
    tls_cause: str | None = None
    last_line: str = ""
    read_error: int | None = None
    connect_time: float | None = None
    elapsed: float = 0.0


# -- one datagram and its answer (netladder serve's udp prober) ----------------------------------


@record
class UdpOptions:
    """Send `data` to `address`:`port` (an address, `%scope` allowed; not a name) from a
    connected UDP socket (inside `netns`, from `source`) and wait at most `timeout` seconds
    for the first datagram or ICMP error back (l4.banner's UdpExchange, its Datagram)."""

    address: str
    port: int
    data: bytes = b""
    timeout: float = 10.0
    source: str | None = None
    netns: str | None = None
