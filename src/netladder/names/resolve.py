"""Name resolution with timing: a direct DNS query (dnspython for the messages, our own small
UDP/TCP exchange for timing and plainly named failures), and the system resolver beside it.

`resolve()` asks the servers in order, the way a stub resolver does: UDP with retransmission,
TCP when the answer is truncated (RFC 1035 §4.2.1, RFC 7766), the next server after SERVFAIL,
REFUSED, a timeout, an unreachable server or a malformed answer; NXDOMAIN and NOERROR are final.
A reply with another ID or for another question is waited past, and counted (dig's "ID
mismatch").  An answer that stops at a CNAME without the target's records is incomplete: the
target is asked for, and both are reported.  Every exchange is kept as an `Attempt`, so the
result carries its evidence.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from netladder.errors import UsageError

if TYPE_CHECKING:
    import dns.message

__all__ = [
    "RCODES",
    "RECORD_TYPES",
    "Attempt",
    "Chase",
    "Comparison",
    "Record",
    "Resolution",
    "ResolverConfig",
    "Server",
    "Status",
    "SystemLookup",
    "check_name",
    "compare",
    "getaddrinfo",
    "is_address",
    "parse_hosts",
    "parse_resolv_conf",
    "parse_server",
    "resolve",
    "reverse_name",
    "system_config",
    "system_lookup",
]

RESOLV_CONF = "/etc/resolv.conf"
HOSTS = "/etc/hosts"
NSSWITCH = "/etc/nsswitch.conf"

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

# Response codes (RFC 1035 §4.1.1, RFC 6895 §2.3): name and what it means, plainly.
RCODES: dict[int, tuple[str, str]] = {
    0: ("NOERROR", "the query succeeded"),
    1: ("FORMERR", "the server could not understand the query"),
    2: (
        "SERVFAIL",
        "the server failed to produce an answer (a broken upstream, a lame "
        "delegation or a DNSSEC failure)",
    ),
    3: ("NXDOMAIN", "the name does not exist"),
    4: ("NOTIMP", "the server does not implement this kind of query"),
    5: (
        "REFUSED",
        "the server refuses to answer this query (not its zone, or no recursion for this client)",
    ),
}

MAX_NAME = 253  # characters, without the final dot (RFC 1035 §2.3.4: 255 octets on the wire)
MAX_LABEL = 63
DEFAULT_PORT = 53
GLIBC_DEFAULT_TIMEOUT = 5.0  # resolv.conf(5): options timeout
GLIBC_DEFAULT_ATTEMPTS = 2


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


_RCODE_STATUS = {0: Status.OK, 2: Status.SERVFAIL, 3: Status.NXDOMAIN, 5: Status.REFUSED}


@dataclass(frozen=True, slots=True)
class Server:
    address: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET


@dataclass(frozen=True, slots=True)
class ResolverConfig:
    """What the system's resolver configuration says (resolv.conf(5))."""

    path: str
    servers: tuple[Server, ...]
    search: tuple[str, ...] = ()
    ndots: int = 1
    timeout_s: float = GLIBC_DEFAULT_TIMEOUT
    attempts: int = GLIBC_DEFAULT_ATTEMPTS
    problem: str | None = None  # why there is no usable server, when there is none


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    type: str
    ttl: int
    value: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """One exchange with one server over one transport."""

    server: str
    transport: str  # udp | tcp
    outcome: str  # answer | timeout | unreachable | malformed | incomplete (TC over TCP)
    time_ms: float | None
    rcode: str | None = None
    detail: str = ""
    sent: int = 1  # datagrams sent (retransmissions included)
    truncated: bool = False
    ignored: int = 0  # replies waited past: another ID, another question, not a response


@dataclass(frozen=True, slots=True)
class Chase:
    """A CNAME target asked for because the answer that led to it stopped there."""

    name: str  # the target asked for
    after: str  # the server whose answer ended at the CNAME to it
    status: Status
    rcode: str | None
    server: str | None  # the server that answered this question
    transport: str | None
    time_ms: float | None
    message: str
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class Resolution:
    name: str
    type: str
    status: Status
    message: str  # the outcome, plainly
    rcode: str | None = None
    server: str | None = None  # the server whose answer is reported
    transport: str | None = None
    time_ms: float | None = None  # the exchange that produced the answer
    total_ms: float = 0.0  # everything, retries and other servers included
    authoritative: bool = False
    chain: tuple[Record, ...] = ()  # the CNAMEs from the name to the answer, in order
    answers: tuple[Record, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    servers_from: str = ""  # "--server" or the resolv.conf path
    # The server's answer ended without the records or a negative answer (see Status.INCOMPLETE);
    # `chased` lists the CNAME targets then asked for, and status/answers are what they gave.
    incomplete: bool = False
    chased: tuple[Chase, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(r.value for r in self.answers if r.type in ("A", "AAAA"))

    @property
    def canonical(self) -> str:
        return self.chain[-1].value if self.chain else self.name


@dataclass(frozen=True, slots=True)
class SystemLookup:
    """getaddrinfo(3): what every program on this machine gets (nsswitch, /etc/hosts, DNS)."""

    name: str
    ok: bool
    addresses: tuple[str, ...] = ()
    canonical: str | None = None
    error: str | None = None
    time_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    name: str
    system: SystemLookup
    direct: tuple[Resolution, ...]
    agree: bool
    explanations: tuple[str, ...] = field(default_factory=tuple)


# -- input -------------------------------------------------------------------------------------


def check_name(text: str) -> str:
    """A query name as an absolute name (ending in a dot); UsageError when it cannot be one."""
    if text in ("", ".."):
        raise UsageError("invalid name: empty")
    if text == ".":
        return "."
    if any(c.isspace() or not c.isprintable() for c in text):
        raise UsageError(f"invalid name {text!r}: contains spaces or control characters")
    bare = text[:-1] if text.endswith(".") else text
    try:
        encoded = bare.encode("ascii") if bare.isascii() else bare.encode("idna")
    except UnicodeError as exc:
        raise UsageError(f"invalid name {text!r}: {exc}") from None
    if len(encoded) > MAX_NAME:
        raise UsageError(f"invalid name: {len(encoded)} characters, the limit is {MAX_NAME}")
    for label in encoded.split(b"."):
        if not label:
            raise UsageError(f"invalid name {text!r}: empty label")
        if len(label) > MAX_LABEL:
            raise UsageError(
                f"invalid name {text!r}: label of {len(label)} characters, the limit is {MAX_LABEL}"
            )
    return bare + "."


def parse_server(text: str) -> Server:
    """IP, IP:PORT, [IPv6]:PORT or a bare IPv6 address; UsageError otherwise."""
    host, port_text = text, None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"invalid server {text!r}: use IP, IP:PORT or [IPv6]:PORT")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(
            f"invalid server {text!r}: not an IP address (use IP, IP:PORT or [IPv6]:PORT)"
        ) from None
    port = DEFAULT_PORT
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"invalid server {text!r}: port must be 1-65535")
        port = int(port_text)
    return Server(str(address), port)


def parse_resolv_conf(text: str, path: str = RESOLV_CONF) -> ResolverConfig:
    """resolv.conf(5): nameserver, search/domain (the last one wins), options."""
    servers: list[Server] = []
    search: tuple[str, ...] = ()
    options: dict[str, str] = {}
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) < 2:
            continue
        key, values = words[0], words[1:]
        if key == "nameserver":
            try:
                # A scope (fe80::1%eth0) is kept out: the lab and this tool use global addresses.
                servers.append(Server(str(ipaddress.ip_address(values[0].split("%", 1)[0]))))
            except ValueError:
                continue  # glibc skips what it cannot parse too
        elif key in ("search", "domain"):
            search = tuple(v.rstrip(".") for v in values)
        elif key == "options":
            for option in values:
                name, _, value = option.partition(":")
                options[name] = value

    def number(key: str, default: float, low: float, high: float) -> float:
        try:
            return min(max(float(options[key]), low), high)
        except (KeyError, ValueError):
            return default

    problem = None if servers else f"{path} names no nameserver"
    return ResolverConfig(
        path,
        tuple(servers[:3]),  # glibc uses the first three (MAXNS)
        search,
        int(number("ndots", 1, 0, 15)),
        number("timeout", GLIBC_DEFAULT_TIMEOUT, 1, 30),
        int(number("attempts", GLIBC_DEFAULT_ATTEMPTS, 1, 5)),
        problem,
    )


def system_config(path: str = RESOLV_CONF) -> ResolverConfig:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        return ResolverConfig(path, (), problem=f"cannot read {path}: {exc.strerror}")
    return parse_resolv_conf(text, path)


def parse_hosts(text: str) -> dict[str, list[tuple[str, int]]]:
    """hosts(5): name (lowercase, no final dot) -> [(address, line number)]."""
    table: dict[str, list[tuple[str, int]]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        for name in words[1:]:
            table.setdefault(name.lower().rstrip("."), []).append((words[0], number))
    return table


# -- the exchange ------------------------------------------------------------------------------

MAX_CHASE = 8  # CNAME targets asked for after incomplete answers, one after the other
MAX_STRAY_REASONS = 3  # kinds of ignored replies described (all of them are counted)


class _Strays:
    """Replies that are not the answer to our query: counted, the first few kinds described,
    and waited past.  RFC 5452 §9.1 has a resolver match the ID and the question; glibc's
    res_send and dig ("ID mismatch", "Question section mismatch") keep waiting for the real
    answer, so a stray datagram can neither end the query nor pass for its answer."""

    __slots__ = ("count", "reasons")

    def __init__(self) -> None:
        self.count = 0
        self.reasons: list[str] = []

    def add(self, reason: str) -> None:
        self.count += 1
        if reason not in self.reasons and len(self.reasons) < MAX_STRAY_REASONS:
            self.reasons.append(reason)

    def text(self) -> str:
        if not self.count:
            return ""
        more = "; ..." if self.count > len(self.reasons) else ""
        what = "reply that is" if self.count == 1 else "replies that are"
        return (
            f"ignored {self.count} {what} not an answer to this query: "
            f"{'; '.join(self.reasons)}{more}"
        )


class _Reply:
    __slots__ = ("elapsed", "message", "rcode", "sent", "strays", "truncated")

    def __init__(
        self,
        message: dns.message.Message | None,
        rcode: int,
        truncated: bool,
        elapsed: float,
        sent: int,
        strays: _Strays,
    ) -> None:
        # message is None only for a truncated answer that does not parse (cut mid-record)
        self.message, self.rcode, self.truncated = message, rcode, truncated
        self.elapsed, self.sent, self.strays = elapsed, sent, strays


class _Failure(Exception):
    def __init__(
        self,
        outcome: str,
        detail: str,
        elapsed: float,
        sent: int = 1,
        strays: _Strays | None = None,
    ) -> None:
        super().__init__(detail)
        self.outcome, self.detail, self.elapsed, self.sent = outcome, detail, elapsed, sent
        self.strays = strays or _Strays()


def _os_failure(exc: OSError, elapsed: float, sent: int, strays: _Strays | None = None) -> _Failure:
    if exc.errno == errno.ECONNREFUSED:
        return _Failure(
            "unreachable",
            "nothing listens there (connection refused / ICMP port unreachable)",
            elapsed,
            sent,
            strays,
        )
    if exc.errno in (
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
    ):
        return _Failure(
            "unreachable", f"no route to the server ({exc.strerror})", elapsed, sent, strays
        )
    name = errno.errorcode.get(exc.errno or 0, "")
    return _Failure("unreachable", f"{exc.strerror or exc} {name}".strip(), elapsed, sent, strays)


def _read_reply(wire: bytes, query: dns.message.Message) -> tuple[str, Any]:
    """What one received message is, for our query:
    ("reply", Message); ("truncated", rcode) for a TC answer that does not parse (cut short
    mid-record, RFC 1035 §4.1.1 allows it); ("malformed", why) for our answer (our ID) that
    is not a DNS message; ("stray", why) for anything that is not an answer to this query."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.opcode
    import dns.rdatatype

    if len(wire) < 12:  # glibc's res_send and dig wait past these too
        return "stray", f"a {len(wire)}-byte message, shorter than a DNS header"
    got = int.from_bytes(wire[:2], "big")
    if got != query.id:
        return "stray", f"ID mismatch (expected ID {query.id}, got {got})"
    try:
        reply = dns.message.from_wire(wire)
    except Exception as exc:  # dnspython on hostile input raises more than DNSException
        if len(wire) >= 12 and wire[2] & 0x82 == 0x82:  # QR and TC set in the header
            return "truncated", wire[3] & 0x0F
        if isinstance(exc, dns.exception.DNSException):
            what = str(exc).rstrip(".") or type(exc).__name__
        else:
            what = type(exc).__name__
        return "malformed", f"{len(wire)} bytes that do not parse as a DNS message ({what})"
    if not reply.flags & dns.flags.QR:
        return "stray", "a query, not a response (QR clear)"
    if reply.opcode() != query.opcode():
        return "stray", f"opcode {dns.opcode.to_text(reply.opcode())}, not QUERY"
    if not query.is_response(reply):
        got_q = (
            ", ".join(f"{q.name} {dns.rdatatype.to_text(q.rdtype)}" for q in reply.question[:2])
            or "no question"
        )
        return "stray", f"question mismatch (got {got_q})"
    return "reply", reply


def _reply(kind: str, value: Any, elapsed: float, sent: int, strays: _Strays) -> _Reply:
    import dns.flags

    if kind == "malformed":
        raise _Failure("malformed", value, elapsed, sent, strays)
    if kind == "truncated":
        return _Reply(None, value, True, elapsed, sent, strays)
    return _Reply(value, value.rcode(), bool(value.flags & dns.flags.TC), elapsed, sent, strays)


async def _udp_exchange(
    server: Server, query: dns.message.Message, wait: float, tries: int, deadline: float
) -> _Reply:
    loop = asyncio.get_running_loop()
    wire = query.to_wire()
    start = time.monotonic()
    sent = 0
    strays = _Strays()
    sock = socket.socket(server.family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        try:
            sock.connect((server.address, server.port))
        except OSError as exc:
            raise _os_failure(exc, 0.0, 0) from None
        for _ in range(tries):
            try:
                sock.send(wire)
            except OSError as exc:
                raise _os_failure(exc, time.monotonic() - start, sent, strays) from None
            sent += 1
            try_end = min(time.monotonic() + wait, deadline)
            while (remaining := try_end - time.monotonic()) > 0:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 65535), remaining)
                except TimeoutError:
                    break
                except OSError as exc:
                    raise _os_failure(exc, time.monotonic() - start, sent, strays) from None
                kind, value = _read_reply(data, query)
                if kind == "stray":
                    strays.add(value)  # keep waiting for the real answer, as dig does
                    continue
                return _reply(kind, value, time.monotonic() - start, sent, strays)
            if time.monotonic() >= deadline:
                break
        took = time.monotonic() - start
        detail = f"no answer in {took:.1f} s ({sent} {'query' if sent == 1 else 'queries'} sent)"
        if strays.count:
            detail += f"; {strays.text()}"
        raise _Failure("timeout", detail, took, sent, strays)
    finally:
        sock.close()


async def _tcp_exchange(
    server: Server, query: dns.message.Message, wait: float, deadline: float
) -> _Reply:
    wire = query.to_wire()
    start = time.monotonic()
    limit = max(0.0, min(start + wait, deadline) - start)
    writer = None
    strays = _Strays()
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(server.address, server.port)
            writer.write(struct.pack("!H", len(wire)) + wire)  # RFC 1035 §4.2.2 framing
            await writer.drain()
            while True:  # RFC 7766 §7: answers may come out of order; wait for ours
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                kind, value = _read_reply(await reader.readexactly(size), query)
                if kind != "stray":
                    break
                strays.add(value)
    except TimeoutError:
        elapsed = time.monotonic() - start
        detail = f"no answer in {elapsed:.1f} s over TCP"
        if strays.count:
            detail += f"; {strays.text()}"
        raise _Failure("timeout", detail, elapsed, 1, strays) from None
    except asyncio.IncompleteReadError as exc:
        elapsed = time.monotonic() - start
        raise _Failure(
            "malformed",
            f"the server closed the connection after {len(exc.partial)} bytes of the answer",
            elapsed,
            1,
            strays,
        ) from None
    except OSError as exc:
        raise _os_failure(exc, time.monotonic() - start, 1, strays) from None
    finally:
        if writer is not None:
            writer.close()
    return _reply(kind, value, time.monotonic() - start, 1, strays)


def _records(
    message: dns.message.Message, qname: str, qtype: str
) -> tuple[tuple[Record, ...], tuple[Record, ...]]:
    """(the CNAME chain, the final answers) for the question, from the answer section."""
    import dns.rdataclass
    import dns.rdatatype

    def rows(rrset: Any) -> list[Record]:
        return [
            Record(
                rrset.name.to_text(),
                dns.rdatatype.to_text(rrset.rdtype),
                int(rrset.ttl),
                rdata.to_text(),
            )
            for rdata in rrset
        ]

    by_name: dict[str, list[Any]] = {}
    for rrset in message.answer:
        if rrset.rdclass == dns.rdataclass.IN:  # the class we asked for
            by_name.setdefault(rrset.name.to_text().lower(), []).append(rrset)
    if qtype in ("ANY", "CNAME"):
        return (), tuple(r for rrset in by_name.get(qname.lower(), []) for r in rows(rrset))
    chain: list[Record] = []
    current = qname.lower()
    seen = set()
    while current not in seen:
        seen.add(current)
        rrsets = by_name.get(current, [])
        wanted = [
            r
            for rrset in rrsets
            if dns.rdatatype.to_text(rrset.rdtype) == qtype
            for r in rows(rrset)
        ]
        if wanted:
            return tuple(chain), tuple(wanted)
        cnames = [r for rrset in rrsets if rrset.rdtype == dns.rdatatype.CNAME for r in rows(rrset)]
        if not cnames:
            break
        chain.append(cnames[0])
        current = cnames[0].value.lower()
    return tuple(chain), ()


def _loops(qname: str, chain: Sequence[Record]) -> bool:
    """The chain comes back to a name it already passed (a CNAME loop)."""
    names = [qname.lower(), *(r.name.lower() for r in chain)]
    return bool(chain) and chain[-1].value.lower() in names


def _negative_for(message: dns.message.Message, name: str) -> bool:
    """The authority section carries the SOA of a zone holding `name`: the server says that
    `name` has no records of the type (RFC 2308 §2.2 NODATA, §2.1 NXDOMAIN)."""
    import dns.name
    import dns.rdatatype

    try:
        target = dns.name.from_text(name)
    except Exception:  # a hostile server's name: no negative answer for it, then
        return False
    return any(
        rrset.rdtype == dns.rdatatype.SOA and target.is_subdomain(rrset.name)
        for rrset in message.authority
    )


def _referral(message: dns.message.Message, qname: str) -> tuple[str, tuple[str, ...]] | None:
    """(zone, its servers) when the answer is a referral (RFC 1034 §4.3.2 step 3b): no
    answer, no SOA, the NS records of a zone above the name, and no AA."""
    import dns.flags
    import dns.name
    import dns.rdatatype

    if message.flags & dns.flags.AA or any(
        r.rdtype == dns.rdatatype.SOA for r in message.authority
    ):
        return None
    name = dns.name.from_text(qname)
    for rrset in message.authority:
        if rrset.rdtype == dns.rdatatype.NS and name.is_subdomain(rrset.name):
            return rrset.name.to_text(), tuple(sorted(r.to_text() for r in rrset))
    return None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


async def resolve(
    name: str,
    rdtype: str = "A",
    servers: Sequence[Server] | None = None,
    *,
    tcp: bool = False,
    wait: float = 2.0,
    tries: int = 2,
    deadline: float | None = None,
    config: ResolverConfig | None = None,
) -> Resolution:
    """Resolve `name` (made absolute) for `rdtype` at `servers`, or at the servers of the
    system's resolver configuration.  Never raises for network trouble: the result says it.

    An answer that ends at a CNAME without the target's records or a negative answer for it
    is incomplete: the target is then asked for (RFC 1034 §5.3.3 step 3 restarts the query
    there), and the result says both what the server answered and what the chase found.

    wait: seconds per UDP try (and for a TCP exchange); tries: UDP transmissions per server;
    deadline: overall seconds (default: enough for every server)."""
    qname = check_name(name)
    qtype = rdtype.upper()
    if qtype not in RECORD_TYPES:
        raise UsageError(f"unknown record type {rdtype!r} (known: {', '.join(RECORD_TYPES)})")
    servers_from = "--server"
    if not servers:
        config = config or system_config()
        servers_from = config.path
        if not config.servers:
            return Resolution(
                qname,
                qtype,
                Status.NO_RESOLVER,
                f"no resolver configured: {config.problem}",
                servers_from=servers_from,
            )
        servers = config.servers
    started = time.monotonic()
    end = started + (
        deadline if deadline is not None else len(servers) * (wait * (1 if tcp else tries) + wait)
    )
    ask = _Asker(tuple(servers), tcp, wait, tries, end, started, servers_from)
    first = await ask(qname, qtype, ask.servers)
    if first.status is Status.INCOMPLETE and first.chain and not _loops(qname, first.chain):
        return await _chase(first, ask)
    return first


class _Asker:
    """One question at the servers in order, under the deadline of the whole resolution."""

    __slots__ = ("end", "servers", "servers_from", "started", "tcp", "tries", "wait")

    def __init__(
        self,
        servers: tuple[Server, ...],
        tcp: bool,
        wait: float,
        tries: int,
        end: float,
        started: float,
        servers_from: str,
    ) -> None:
        self.servers, self.tcp, self.wait, self.tries = servers, tcp, wait, tries
        self.end, self.started, self.servers_from = end, started, servers_from

    async def __call__(self, qname: str, qtype: str, servers: Sequence[Server]) -> Resolution:
        import dns.message
        import dns.rdatatype

        attempts: list[Attempt] = []
        failed: list[tuple[Attempt, _Reply | None]] = []
        for server in servers:
            if time.monotonic() >= self.end:
                break
            query = dns.message.make_query(qname, dns.rdatatype.RdataType(RECORD_TYPES[qtype]))
            transport = "tcp" if self.tcp else "udp"
            reply: _Reply | None = None
            while True:
                try:
                    if transport == "udp":
                        reply = await _udp_exchange(server, query, self.wait, self.tries, self.end)
                    else:
                        reply = await _tcp_exchange(server, query, self.wait, self.end)
                except _Failure as failure:
                    attempt = Attempt(
                        str(server),
                        transport,
                        failure.outcome,
                        _ms(failure.elapsed),
                        detail=failure.detail,
                        sent=failure.sent,
                        ignored=failure.strays.count,
                    )
                    attempts.append(attempt)
                    failed.append((attempt, None))
                    reply = None
                    break
                rcode_name = RCODES.get(reply.rcode, (f"RCODE{reply.rcode}", ""))[0]
                strays = reply.strays.text()
                if reply.truncated and transport == "tcp":
                    # RFC 7766 §8: a TCP answer carries everything; TC there says it does not.
                    attempt = Attempt(
                        str(server),
                        transport,
                        "incomplete",
                        _ms(reply.elapsed),
                        rcode_name,
                        "the answer has TC set over TCP: the server says it is incomplete",
                        reply.sent,
                        True,
                        reply.strays.count,
                    )
                    attempts.append(attempt)
                    failed.append((attempt, None))
                    reply = None
                    break
                attempts.append(
                    Attempt(
                        str(server),
                        transport,
                        "answer",
                        _ms(reply.elapsed),
                        rcode_name,
                        strays,
                        reply.sent,
                        reply.truncated,
                        reply.strays.count,
                    )
                )
                if reply.truncated:
                    transport = "tcp"  # RFC 7766 §5: retry the truncated answer over TCP
                    continue
                break
            if reply is None:
                continue
            assert reply.message is not None  # only a truncated answer lacks one
            if reply.rcode not in (0, 3):
                failed.append((attempts[-1], reply))
                continue  # SERVFAIL, REFUSED, ...: a stub resolver asks the next server
            return _answered(
                qname,
                qtype,
                server,
                attempts,
                reply.message,
                reply,
                self.started,
                self.servers_from,
            )
        return _failed(qname, qtype, attempts, failed, self.started, self.servers_from)


def _answered(
    qname: str,
    qtype: str,
    server: Server,
    attempts: list[Attempt],
    message: dns.message.Message,
    reply: _Reply,
    started: float,
    servers_from: str,
) -> Resolution:
    import dns.flags

    chain, answers = _records(message, qname, qtype)
    rcode = message.rcode()
    aa = bool(message.flags & dns.flags.AA)
    source = "authoritative answer" if aa else "answer"
    where = f"{source} from {server}"
    incomplete = False
    referral = None if chain or answers or rcode != 0 else _referral(message, qname)
    if rcode == 3:
        status = Status.NXDOMAIN
        if chain:
            text = (
                f"NXDOMAIN: {qname} is an alias of {chain[-1].value}, which does not exist "
                f"({where})"
            )
        else:
            text = f"NXDOMAIN: {qname} does not exist ({where})"
    elif answers:
        status = Status.OK
        text = f"{len(answers)} {qtype} record{'s' if len(answers) != 1 else ''} ({where})"
    elif chain and _loops(qname, chain):
        status, incomplete = Status.INCOMPLETE, True
        path = " -> ".join([qname, *(r.value for r in chain)])
        text = f"CNAME loop: {path} ({where}): the name leads to no records"
    elif chain and not _negative_for(message, chain[-1].value):
        status, incomplete = Status.INCOMPLETE, True
        text = (
            f"incomplete answer from {server}: it ends at the CNAME to {chain[-1].value} "
            f"without its {qtype} records or a negative answer for it"
        )
    elif referral is not None:
        status, incomplete = Status.INCOMPLETE, True
        zone, names = referral
        text = (
            f"referral from {server}: no answer for {qname}, only the servers of {zone} "
            f"({', '.join(names)}); ask a recursive resolver or one of those"
        )
    else:
        status = Status.NODATA
        target = chain[-1].value if chain else qname
        text = f"no {qtype} records: {target} exists but has none of that type ({where})"
        used = {qname.lower(), *(r.value.lower() for r in chain)}
        others = sum(
            len(rrset) for rrset in message.answer if rrset.name.to_text().lower() not in used
        )
        if others:  # records the question does not lead to answer nothing (RFC 5452 §9.1)
            text += (
                f"; the answer section holds {others} record{'s' if others != 1 else ''} "
                "for other names, ignored"
            )
    return Resolution(
        qname,
        qtype,
        status,
        text,
        RCODES.get(rcode, (f"RCODE{rcode}", ""))[0],
        str(server),
        attempts[-1].transport,
        _ms(reply.elapsed) or 0.0,
        _ms(time.monotonic() - started) or 0.0,
        aa,
        chain,
        answers,
        tuple(attempts),
        servers_from,
        incomplete,
    )


async def _chase(first: Resolution, ask: _Asker) -> Resolution:
    """Ask for the CNAME target that `first` (an incomplete answer) left unresolved, and on
    along the chain while each answer stops at a further CNAME."""
    chain = list(first.chain)
    seen = {first.name.lower(), *(r.name.lower() for r in chain)}
    steps: list[Chase] = []
    last = first
    while (
        last.status is Status.INCOMPLETE
        and last.chain
        and not _loops(last.name, last.chain)
        and len(steps) < MAX_CHASE
        and time.monotonic() < ask.end
    ):
        target = chain[-1].value
        if target.lower() in seen:
            break
        seen.add(target.lower())
        # The server that gave the incomplete answer first, then the others, as configured.
        order = sorted(ask.servers, key=lambda s: str(s) != last.server)
        after = last.server or ""
        last = await ask(target, first.type, order)
        steps.append(
            Chase(
                target,
                after,
                last.status,
                last.rcode,
                last.server,
                last.transport,
                last.time_ms,
                last.message,
                last.attempts,
            )
        )
        chain += last.chain
        if any(r.value.lower() in seen for r in last.chain):
            break
        seen.update(r.name.lower() for r in last.chain)
    total = _ms(time.monotonic() - ask.started) or 0.0
    lead = f"incomplete answer from {first.server}: it ends at the CNAME to {first.chain[-1].value}"
    if not steps:
        return replace(first, message=f"{lead}, and no time was left to ask for it", total_ms=total)
    if _loops(first.name, chain):
        path = " -> ".join([first.name, *(r.value for r in chain)])
        return replace(
            first,
            message=f"CNAME loop: {path} (asking for each target in turn): "
            "the name leads to no records",
            chain=tuple(chain),
            total_ms=total,
            chased=tuple(steps),
        )
    step = steps[-1]
    asked = (
        f"asked for {step.name}"
        if len(steps) == 1
        else f"following the CNAMEs, asked for {step.name}"
    )
    qtype = first.type
    if last.status is Status.OK:
        n = len(last.answers)
        found = f"{step.server} gives {n} {qtype} record{'s' if n != 1 else ''}"
    elif last.status is Status.NODATA:
        found = f"{step.server} says {last.canonical} exists but has no {qtype} records (NODATA)"
    elif last.status is Status.NXDOMAIN:
        found = f"{step.server} says {last.canonical} does not exist (NXDOMAIN)"
    else:
        return replace(
            first,
            status=last.status,
            message=f"{lead}; {asked}: {last.message}",
            chain=tuple(chain),
            answers=last.answers,
            total_ms=total,
            chased=tuple(steps),
        )
    return replace(
        first,
        status=last.status,
        message=f"{lead}; {asked}, {found}",
        chain=tuple(chain),
        answers=last.answers,
        total_ms=total,
        chased=tuple(steps),
    )


def _failed(
    qname: str,
    qtype: str,
    attempts: list[Attempt],
    failed: list[tuple[Attempt, _Reply | None]],
    started: float,
    servers_from: str,
) -> Resolution:
    total = _ms(time.monotonic() - started) or 0.0
    answered = [(a, r) for a, r in failed if r is not None]
    if answered:
        attempt, reply = answered[0]
        rcode = reply.rcode if reply is not None else 0
        name, meaning = RCODES.get(rcode, (f"RCODE{rcode}", "an error"))
        status = _RCODE_STATUS.get(rcode, Status.RCODE)
        return Resolution(
            qname,
            qtype,
            status,
            f"{name}: {meaning} ({attempt.server})",
            name,
            attempt.server,
            attempt.transport,
            attempt.time_ms or 0.0,
            total,
            attempts=tuple(attempts),
            servers_from=servers_from,
        )
    if not attempts:
        return Resolution(
            qname,
            qtype,
            Status.TIMEOUT,
            "no server asked before the deadline",
            total_ms=total,
            servers_from=servers_from,
        )
    # Each server's last exchange says how it failed; a truncated UDP answer before it is
    # part of the story (the retry over TCP is what failed).
    last: dict[str, Attempt] = {}
    truncated: set[str] = set()
    for a in attempts:
        last[a.server] = a
        if a.truncated and a.transport == "udp":
            truncated.add(a.server)
    finals = list(last.values())

    def said(a: Attempt) -> str:
        if a.server in truncated and a.transport == "tcp":
            return f"its UDP answer was truncated (TC), and over TCP: {a.detail}"
        return a.detail

    servers = ", ".join(last)
    bad = next((a for a in finals if a.outcome == "malformed"), None)
    if bad is not None:
        return Resolution(
            qname,
            qtype,
            Status.MALFORMED,
            f"malformed answer from {bad.server}: {said(bad)}",
            server=bad.server,
            transport=bad.transport,
            total_ms=total,
            attempts=tuple(attempts),
            servers_from=servers_from,
        )
    cut = next((a for a in finals if a.outcome == "incomplete"), None)
    if cut is not None:
        return Resolution(
            qname,
            qtype,
            Status.INCOMPLETE,
            f"incomplete answer from {cut.server}: {said(cut)}",
            cut.rcode,
            cut.server,
            cut.transport,
            cut.time_ms or 0.0,
            total,
            attempts=tuple(attempts),
            servers_from=servers_from,
            incomplete=True,
        )
    timed_out = next((a for a in finals if a.outcome == "timeout"), None)
    if timed_out is not None:
        return Resolution(
            qname,
            qtype,
            Status.TIMEOUT,
            f"timeout: no answer from {servers} ({said(timed_out)})",
            total_ms=total,
            attempts=tuple(attempts),
            servers_from=servers_from,
        )
    first = finals[0]  # every server is unreachable (over TCP, after a truncated answer)
    if truncated:
        text = f"{first.server} could not be asked over TCP: {said(first)}"
    else:
        text = f"no server reachable ({servers}): {said(first)}"
    return Resolution(
        qname,
        qtype,
        Status.UNREACHABLE,
        text,
        total_ms=total,
        attempts=tuple(attempts),
        servers_from=servers_from,
    )


# -- the system resolver -----------------------------------------------------------------------


def _gai_error(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        names = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
        return f"{exc.strerror} ({names.get(exc.errno, exc.errno)})"
    return str(exc)


async def getaddrinfo(
    host: str, port: int | None, family: int = 0, type: int = 0, flags: int = 0
) -> list[tuple[Any, ...]]:
    """socket.getaddrinfo in a daemon thread: unlike the loop's executor, a lookup that hangs
    can neither hold the process at exit nor outlive a cancelled caller."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def work() -> None:
        try:
            result: Any = socket.getaddrinfo(host, port, family, type, 0, flags)
        except Exception as exc:
            result = exc

        def deliver() -> None:
            if not future.done():
                future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver)

    threading.Thread(target=work, daemon=True, name="getaddrinfo").start()
    result = await future
    if isinstance(result, BaseException):
        raise result
    return list(result)


async def system_lookup(name: str, wait: float = 10.0, family: int = 0) -> SystemLookup:
    """getaddrinfo(name): what every program here gets; a hung lookup is cut off at `wait`."""
    start = time.monotonic()
    try:
        result = await asyncio.wait_for(
            getaddrinfo(name, None, family, socket.SOCK_STREAM, socket.AI_CANONNAME), wait
        )
    except TimeoutError:
        return SystemLookup(
            name,
            False,
            error=f"no result in {wait:.0f} s",
            time_ms=_ms(time.monotonic() - start) or 0.0,
        )
    except (OSError, UnicodeError) as exc:
        return SystemLookup(
            name, False, error=_gai_error(exc), time_ms=_ms(time.monotonic() - start) or 0.0
        )
    elapsed = _ms(time.monotonic() - start) or 0.0
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in result))
    canonical = next((str(info[3]) for info in result if info[3]), None)
    return SystemLookup(name, True, addresses, canonical, time_ms=elapsed)


def _nsswitch_hosts(path: str = NSSWITCH) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for raw in f:
                words = raw.split("#", 1)[0].split()
                if words and words[0] == "hosts:":
                    return [w for w in words[1:] if not w.startswith("[")]
    except OSError:
        pass
    return ["files", "dns"]  # glibc's default without the file


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


async def compare(
    name: str,
    servers: Sequence[Server] | None = None,
    *,
    tcp: bool = False,
    wait: float = 2.0,
    tries: int = 2,
    families: tuple[int, ...] = (4, 6),
) -> Comparison:
    """getaddrinfo beside direct A/AAAA queries, with any disagreement explained."""
    check_name(name)
    config = system_config()
    types = [t for v, t in ((4, "A"), (6, "AAAA")) if v in families]
    system_task = asyncio.ensure_future(system_lookup(name, wait=max(10.0, wait * 4)))
    direct = await asyncio.gather(
        *(resolve(name, t, servers, tcp=tcp, wait=wait, tries=tries, config=config) for t in types)
    )
    system = await system_task
    wanted = {4: ipaddress.IPv4Address, 6: ipaddress.IPv6Address}
    system_set = {
        a
        for a in system.addresses
        if any(isinstance(ipaddress.ip_address(a.split("%")[0]), wanted[v]) for v in families)
    }
    direct_set = {a for r in direct for a in r.addresses}
    # An answer that settled nothing (Status.INCOMPLETE) is nothing to agree with.
    agree = (
        system.ok == any(r.ok for r in direct)
        and system_set == direct_set
        and not any(r.status is Status.INCOMPLETE for r in direct)
    )
    explanations: list[str] = []
    if not agree:
        explanations = await _explain(
            name, system, system_set, list(direct), direct_set, config, servers, wait
        )
    return Comparison(check_name(name), system, tuple(direct), agree, tuple(explanations))


async def _explain(
    name: str,
    system: SystemLookup,
    system_set: set[str],
    direct: list[Resolution],
    direct_set: set[str],
    config: ResolverConfig,
    servers: Sequence[Server] | None,
    wait: float,
) -> list[str]:
    reasons: list[str] = []
    configured = {str(s) for s in config.servers}
    for r in direct:
        if r.status is Status.INCOMPLETE:
            reasons.append(f"the direct {r.type} query settled nothing: {r.message}")
            continue
        missing = set(r.addresses) - system_set
        if not (r.incomplete and r.chased and missing):
            continue  # what the chase found is no difference to explain
        first, step = r.chased[0], r.chased[-1]
        text = (
            f"{first.after} answered {r.name} {r.type} with the CNAME to {first.name} but "
            "neither its records nor a negative answer: an incomplete answer"
        )
        if first.after in configured:
            text += (
                "; getaddrinfo (glibc) does not ask for the target itself, so it gets no "
                f"{r.type} record from that answer"
            )
        text += f"; asked for {step.name} directly, {step.server} gives {', '.join(r.addresses)}"
        reasons.append(text)
    order = _nsswitch_hosts()
    order_text = "hosts: " + " ".join(order)
    bare = name.rstrip(".").lower()
    hosts = parse_hosts(_read(HOSTS)).get(bare, [])
    if hosts and "files" in order:
        where = ", ".join(f"{addr} (line {line})" for addr, line in hosts)
        before = order.index("files") < order.index("dns") if "dns" in order else True
        reasons.append(
            f"{HOSTS} maps {bare} to {where}; nsswitch.conf '{order_text}' reads it "
            f"{'before' if before else 'after'} DNS, and the direct query never "
            "reads it"
        )
    if "dns" not in order:
        reasons.append(f"nsswitch.conf '{order_text}' does not consult DNS at all")
    others = [s for s in order if s not in ("files", "dns")]
    if others and not hosts and system.ok and not direct_set & system_set:
        reasons.append(f"nsswitch.conf also consults {', '.join(others)}, which may have answered")
    if servers:
        system_servers = ", ".join(str(s) for s in config.servers) or "none"
        asked = ", ".join(str(s) for s in servers)
        if {str(s) for s in servers} != {str(s) for s in config.servers}:
            reasons.append(
                f"the system resolver asks {system_servers} ({config.path}); the "
                f"direct query asked {asked}"
            )
    if not name.endswith(".") and config.search and name.count(".") < config.ndots and system.ok:
        for domain in config.search:
            candidate = f"{bare}.{domain}"
            found = await asyncio.gather(
                *(resolve(candidate, t, servers, wait=wait, config=config) for t in ("A", "AAAA"))
            )
            if {a for r in found for a in r.addresses} & system_set:
                reasons.append(
                    f"getaddrinfo applied the search list ({config.path}: search "
                    f"{' '.join(config.search)}, ndots:{config.ndots}) and "
                    f"resolved {bare} as {candidate}; the direct query asks for "
                    f"{bare}. only"
                )
                break
    if not system.ok and any(r.ok for r in direct) and not reasons:
        reasons.append(
            f"getaddrinfo failed ({system.error}) where the direct query succeeded: "
            f"its own timeout/attempts (options timeout:{config.timeout_s:g} "
            f"attempts:{config.attempts}) or another nsswitch source may be the "
            "cause"
        )
    if system.ok and not any(r.ok for r in direct) and not reasons:
        failures = "; ".join(r.message for r in direct)
        reasons.append(
            f"getaddrinfo found {', '.join(system.addresses)} but the direct query "
            f"did not ({failures})"
        )
    if not reasons:
        reasons.append(
            "the answers differ without a local cause: the server may rotate or "
            "vary its answers (load balancing, geo DNS), or a cache on the way "
            "holds an older answer"
        )
    return reasons


def reverse_name(address: str) -> str:
    """The PTR name of an address (dig -x)."""
    return ipaddress.ip_address(address).reverse_pointer + "."


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
