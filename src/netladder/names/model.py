"""The records of the names layer: options and results, each carrying its evidence.

Two blocks, one per area that owns them: STUN and the public-address sources (area E) first,
then DNS (area F) below its own comment line.  Sentences are not here: `render/myip.py` says
what a `SourceFailure` means, `render/dns.py` what a `Finding`, a `Stray` or a `Reason` means
(the JSON keys `message`, `detail`, `error` and `explanations` are filled by them, in English).
Durations are seconds; JSON keeps its `_ms` keys, rounded to the microsecond as before.
"""

from __future__ import annotations

import socket
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from netladder.model import field, json_ms, json_skip, json_text, record

if TYPE_CHECKING:
    # Only named: the DNS path (which imports this module) never loads the HTTP engine.
    from netladder.l7.model import Failure

__all__ = [
    "DEFAULT_PORT",
    "RCODE_NAMES",
    "RECORD_TYPES",
    "Attempt",
    "Chase",
    "CompareOptions",
    "Comparison",
    "Exchange",
    "ExchangeOptions",
    "Finding",
    "MyIp",
    "Note",
    "Part",
    "Reason",
    "Record",
    "Resolution",
    "ResolveOptions",
    "ResolverConfig",
    "Server",
    "SourceFailure",
    "SourceResult",
    "Status",
    "Stray",
    "StunOptions",
    "StunResult",
    "SystemLookup",
    "Verdict",
]

# -- public address (STUN, HTTP echo): area E ------------------------------------------------


@record
class StunOptions:
    """One STUN Binding exchange (RFC 8489 §3): `server` is HOST, HOST:PORT, [IPv6]:PORT, a bare
    IPv6 address or a stun: URI (RFC 7064); port 3478 by default."""

    server: str
    version: int | None = None  # keep the lookup (and so the exchange) to IPv4 or IPv6
    timeout: float = 3.0


@record
class SourceFailure:
    """Why a public-address source (an HTTP echo, a STUN server) gave no address: a stable
    kind and the values its sentence names (`render/myip.py`); for an echo, `http` is the HTTP
    check's own failure behind it.  A deadline or Ctrl-C that cut the exchange is `cut`
    ("timeout" or "interrupted") after `after` seconds."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()
    http: Failure | None = None
    cut: str | None = None
    after: float | None = None

    def param(self, name: str, default: Any = None) -> Any:
        for key, value in self.params:
            if key == name:
                return value
        return default


@record
class StunResult:
    """What one STUN server said: the public address and port it saw (XOR-)MAPPED-ADDRESS),
    beside our end of the same exchange, or why there is none."""

    __json_order__: ClassVar[tuple[str, ...]] = ("endpoint", "ok")

    endpoint: str  # host:port as asked
    server: str | None = None  # the address asked
    address: str | None = None  # the public address the server saw
    port: int | None = None  # and the port
    local_address: str | None = None  # our end of the exchange
    local_port: int | None = None
    time: float | None = field(default=None, metadata=json_ms("time_ms", 3))
    requests: int = 0  # Binding requests sent (one, then retransmissions: RFC 8489 §6.2.1)
    ignored: int = 0  # datagrams that answered another transaction, or nothing parseable
    error: SourceFailure | None = field(default=None, metadata=json_text())
    interrupted: bool = field(default=False, metadata=json_skip())

    @property
    def ok(self) -> bool:
        return self.address is not None and self.error is None


@record
class SourceResult:
    """One source's answer: the public address it saw, beside our end of the same exchange."""

    __json_order__: ClassVar[tuple[str, ...]] = (
        "kind",
        "endpoint",
        "ok",
        "address",
        "mapped_port",
        "local_address",
        "local_port",
        "server",
        "time",
        "error",
        "detail",
    )
    __json_text__: ClassVar[str] = "detail"  # "HTTP 200", "2 request(s)"

    kind: str  # http | stun
    endpoint: str
    ok: bool
    address: str | None = None  # the public address this source saw
    mapped_port: int | None = None  # STUN: the port the server saw
    local_address: str | None = None  # our end of the same connection
    local_port: int | None = None
    server: str | None = None  # the address we talked to
    time: float | None = field(default=None, metadata=json_ms("time_ms", 3))
    error: SourceFailure | None = field(default=None, metadata=json_text())
    status: int | None = field(default=None, metadata=json_skip())  # an echo's HTTP status
    requests: int = field(default=0, metadata=json_skip())  # STUN Binding requests sent


@record
class Part:
    """What one IP version's sources say: behind a NAT ("nat": the one public address is not
    a local one), not ("no-nat"), or they disagree ("disagree": each endpoint's address)."""

    kind: str
    version: int
    public: str | None = None
    local: tuple[str, ...] = ()
    said: tuple[tuple[str, str], ...] = ()  # (endpoint, address)


@record
class Verdict:
    """The answer as a whole: a part per IP version; how many sources failed of how many."""

    parts: tuple[Part, ...]
    failed: int
    total: int


@record
class Note:
    """Something worth saying beside the verdict: "inside" (endpoints that saw this host's own
    address), "pool" (several public addresses), "translator" (a source answered in the other
    IP version), "port-preserved" / "port-translated" (what the NAT did to a STUN port)."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()


@record
class MyIp:
    __json_order__: ClassVar[tuple[str, ...]] = (
        "sources",
        "public",
        "local",
        "behind_nat",
        "agree",
        "verdict",
        "notes",
        "endpoints_from",
        "total",
    )

    sources: tuple[SourceResult, ...]
    public: tuple[str, ...]  # distinct public addresses seen, in source order
    local: tuple[str, ...]  # distinct local source addresses
    behind_nat: bool | None
    agree: bool
    verdict: Verdict = field(metadata=json_text())
    notes: tuple[Note, ...] = field(metadata=json_text())
    endpoints_from: str
    total: float = field(metadata=json_ms("total_ms", 3))
    interrupted: bool = field(default=False, metadata=json_skip())  # Ctrl-C: what was gathered

    @property
    def ok(self) -> bool:
        return bool(self.public)


# -- DNS: area F ------------------------------------------------------------------------------

DEFAULT_PORT = 53
GLIBC_DEFAULT_TIMEOUT = 5.0  # resolv.conf(5): options timeout
GLIBC_DEFAULT_ATTEMPTS = 2

# Query types the command takes, with their codes (RFC 1035 §3.2.2, RFC 3596 §2.1, RFC 2782,
# RFC 8482 for ANY).
RECORD_TYPES: dict[str, int] = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "SRV": 33,
    "ANY": 255,
}

# Response codes (RFC 1035 §4.1.1, RFC 6895 §2.3); what each means is said by render/dns.py.
RCODE_NAMES: dict[int, str] = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
}


def rcode_name(rcode: int) -> str:
    return RCODE_NAMES.get(rcode, f"RCODE{rcode}")


class Status(StrEnum):
    OK = "ok"
    NODATA = "nodata"  # the name exists, but has no records of this type
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    RCODE = "rcode"  # another error rcode (FORMERR, NOTIMP, ...)
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    MALFORMED = "malformed"
    NO_RESOLVER = "no_resolver"
    # The answer neither gives the records nor says there are none: a CNAME to a target whose
    # records are missing (when asking for the target did not settle it), a CNAME loop, a
    # referral to other servers, TC set over TCP.
    INCOMPLETE = "incomplete"


@record
class Server:
    address: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET

    @property
    def version(self) -> int:
        return 6 if ":" in self.address else 4


@record
class ResolverConfig:
    """What the system's resolver configuration says (resolv.conf(5))."""

    path: str
    servers: tuple[Server, ...]
    search: tuple[str, ...] = ()
    ndots: int = 1
    timeout_s: float = GLIBC_DEFAULT_TIMEOUT
    attempts: int = GLIBC_DEFAULT_ATTEMPTS
    unreadable: str | None = None  # why the file cannot be read (its strerror), when it cannot

    @property
    def usable(self) -> bool:
        return bool(self.servers)


@record
class Record:
    name: str
    type: str
    ttl: int
    value: str


# -- options (api.resolve takes one of the three) -------------------------------------------


@record
class ResolveOptions:
    """Resolve `name` for `type` at `servers` in order (the system's resolv.conf servers when
    empty), as a stub resolver does: UDP with `tries` transmissions `wait` seconds apart, TCP
    when the answer is truncated (or always with `tcp`), the next server after SERVFAIL,
    REFUSED, a timeout, an unreachable server or a malformed answer; a CNAME whose target's
    records are missing is chased.  `deadline`: seconds for everything (default: enough for
    every server)."""

    name: str
    type: str = "A"
    servers: tuple[Server, ...] = ()
    tcp: bool = False
    wait: float = 2.0
    tries: int = 2
    deadline: float | None = None
    resolv_conf: str | None = None  # another resolv.conf (default /etc/resolv.conf)


@record
class CompareOptions:
    """getaddrinfo(3) for `name` beside direct A/AAAA queries (the `families` asked), with
    any disagreement explained from the resolver configuration, /etc/hosts and nsswitch."""

    name: str
    servers: tuple[Server, ...] = ()
    tcp: bool = False
    wait: float = 2.0
    tries: int = 2
    families: tuple[int, ...] = (4, 6)


@record
class ExchangeOptions:
    """One query, one answer: what blackbox_exporter's dns prober (miekg/dns Client.Exchange)
    does — no retransmission, no retry over TCP, no other server, no CNAME chase.  The query
    is built as asked (`type` and `rdclass` are any names dnspython knows; no EDNS unless
    `edns`); the result carries the reply message itself."""

    server: Server
    name: str
    type: str = "A"
    rdclass: str = "IN"
    recursion: bool = True
    edns: bool = False
    tcp: bool = False
    wait: float = 5.0


# -- evidence ----------------------------------------------------------------------------------


@record
class Stray:
    """A reply waited past because it does not answer our query (RFC 5452 §9.1: the ID and
    the question must match; dig says "ID mismatch", "Question section mismatch")."""

    kind: str  # "short" | "id" | "query" | "opcode" | "question"
    size: int = 0  # short: the message's length
    expected: int = 0  # id: our query's ID
    got: int = 0  # id: the reply's ID
    text: str = ""  # opcode: its name; question: what the reply asked ("" for none)


@record
class Attempt:
    """One exchange with one server over one transport."""

    server: str
    transport: str  # udp | tcp
    outcome: str  # answer | timeout | unreachable | malformed | incomplete (TC over TCP)
    time: float | None = field(default=None, metadata=json_ms("time_ms", 3))
    rcode: str | None = None
    sent: int = 1  # datagrams sent (retransmissions included)
    truncated: bool = False
    ignored: int = 0  # replies waited past: another ID, another question, not a response
    # The evidence behind `outcome` (render/dns.py says it as `detail`):
    strays: tuple[Stray, ...] = field(default=(), metadata=json_skip())  # the first kinds
    # unreachable: "refused" (ICMP port unreachable, RST), "no-route", "os" (another errno);
    # malformed: "garbage" (does not parse), "closed" (TCP closed mid-answer);
    # incomplete: "tc-over-tcp"
    cause: str = field(default="", metadata=json_skip())
    errno: int | None = field(default=None, metadata=json_skip())
    size: int = field(default=0, metadata=json_skip())  # malformed: bytes received
    why: str = field(default="", metadata=json_skip())  # garbage: what the parser said

    __json_order__ = (
        "server",
        "transport",
        "outcome",
        "time",
        "rcode",
        "detail",
        "sent",
        "truncated",
        "ignored",
    )
    __json_text__ = "detail"


@record
class Finding:
    """What a resolution's outcome is, as data: its kind and what the sentence needs beyond
    the resolution's own fields (render/dns.py)."""

    # records | nxdomain | nodata | cname-loop | cname-incomplete | referral   (an answer)
    # rcode | malformed | tc-over-tcp | timeout | unreachable | not-asked     (no answer)
    # no-resolver | chase-no-time | chase-loop | chased
    kind: str
    attempt: Attempt | None = None  # no answer: the exchange whose failure is reported
    after_tc: bool = False  # that exchange was over TCP after a truncated UDP answer
    zone: str | None = None  # referral: the zone the name is delegated to
    names: tuple[str, ...] = ()  # referral: that zone's servers
    others: int = 0  # nodata: records in the answer section for other names


@record
class Resolution:
    name: str
    type: str
    status: Status
    finding: Finding = field(metadata=json_skip())
    rcode: str | None = None
    server: str | None = None  # the server whose answer is reported
    transport: str | None = None
    time: float | None = field(default=None, metadata=json_ms("time_ms", 3))  # that exchange
    total: float = field(default=0.0, metadata=json_ms("total_ms", 3))  # retries included
    authoritative: bool = False
    chain: tuple[Record, ...] = ()  # the CNAMEs from the name to the answer, in order
    answers: tuple[Record, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    servers_from: str = ""  # "--server" or the resolv.conf path
    # The server's answer ended without the records or a negative answer (see
    # Status.INCOMPLETE); `chased` lists the CNAME targets then asked for, and status/answers
    # are what they gave.
    incomplete: bool = False
    chased: tuple[Chase, ...] = ()
    config: ResolverConfig | None = field(default=None, metadata=json_skip())

    __json_order__ = (
        "name",
        "type",
        "status",
        "message",
        "rcode",
        "server",
        "transport",
        "time",
        "total",
        "authoritative",
        "chain",
        "answers",
        "attempts",
        "servers_from",
        "incomplete",
        "chased",
    )
    __json_text__ = "message"

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses the name resolves to: none when the server says it does not exist,
        whatever else its answer section holds (glibc's res_query takes no records from an
        NXDOMAIN answer either; `answers` keeps them as evidence)."""
        if self.status is Status.NXDOMAIN:
            return ()
        return tuple(r.value for r in self.answers if r.type in ("A", "AAAA"))

    @property
    def canonical(self) -> str:
        return self.chain[-1].value if self.chain else self.name


@record
class Chase:
    """A CNAME target asked for because the answer that led to it stopped there."""

    name: str  # the target asked for
    after: str  # the server whose answer ended at the CNAME to it
    status: Status
    rcode: str | None
    server: str | None  # the server that answered this question
    transport: str | None
    time: float | None = field(metadata=json_ms("time_ms", 3))
    attempts: tuple[Attempt, ...] = ()
    resolution: Resolution | None = field(default=None, metadata=json_skip())  # its outcome

    __json_order__ = (
        "name",
        "after",
        "status",
        "rcode",
        "server",
        "transport",
        "time",
        "message",
        "attempts",
    )
    __json_text__ = "message"


@record
class SystemLookup:
    """getaddrinfo(3): what every program on this machine gets (nsswitch, /etc/hosts, DNS)."""

    name: str
    ok: bool
    addresses: tuple[str, ...] = ()
    canonical: str | None = None
    time: float = field(default=0.0, metadata=json_ms("time_ms", 3))
    reason: str | None = field(default=None, metadata=json_skip())  # gai_strerror's words
    code: str | None = field(default=None, metadata=json_skip())  # "EAI_NONAME", ...
    waited: float | None = field(default=None, metadata=json_skip())  # no answer within it

    __json_order__ = ("name", "ok", "addresses", "canonical", "error", "time")
    __json_text__ = "error"


@record
class Reason:
    """Why the system resolver and the direct query disagree (render/dns.py says it)."""

    # direct-incomplete | chased | hosts-file | no-dns-source | other-sources | other-servers
    # | search-list | system-failed | direct-failed | differ
    kind: str
    resolution: Resolution | None = None  # direct-incomplete, chased: the direct answer
    configured: bool = False  # chased: the server is one getaddrinfo asks too
    path: str = ""  # hosts-file: /etc/hosts; other-servers, search-list: resolv.conf
    name: str = ""  # hosts-file, search-list: the bare name
    hosts: tuple[tuple[str, int], ...] = ()  # hosts-file: (address, line number)
    order: tuple[str, ...] = ()  # nsswitch.conf's hosts: sources, in order
    before: bool = True  # hosts-file: files comes before dns
    others: tuple[str, ...] = ()  # other-sources
    servers: tuple[str, ...] = ()  # other-servers: what getaddrinfo asks
    asked: tuple[str, ...] = ()  # other-servers: what the direct query asked
    candidate: str = ""  # search-list: the name the search list made
    config: ResolverConfig | None = None  # search-list, system-failed
    system: SystemLookup | None = None  # system-failed, direct-failed
    direct: tuple[Resolution, ...] = ()  # direct-failed


@record
class Comparison:
    name: str
    system: SystemLookup
    direct: tuple[Resolution, ...]
    agree: bool
    reasons: tuple[Reason, ...] = field(default=(), metadata=json_skip())

    __json_order__ = ("name", "system", "direct", "agree", "explanations")
    __json_text__ = "explanations"


@record
class Exchange:
    """One query and what came back (ExchangeOptions): the reply message itself when one
    came, else the failed attempt says why."""

    server: Server
    attempt: Attempt
    message: Any = field(default=None, metadata=json_skip())  # dns.message.Message
    connect: float = 0.0  # seconds to open the transport (the TCP handshake)
    elapsed: float = 0.0  # seconds from the query sent to the answer (or to giving up)

    @property
    def ok(self) -> bool:
        return self.attempt.outcome == "answer"
