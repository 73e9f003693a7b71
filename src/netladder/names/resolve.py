"""Name resolution with timing: a direct DNS query (dnspython for the messages, our own small
UDP/TCP exchange for timing and plainly named failures), and the system resolver beside it.

`resolve()` asks the servers in order, the way a stub resolver does: UDP with retransmission,
TCP when the answer is truncated (RFC 1035 §4.2.1, RFC 7766), the next server after SERVFAIL,
REFUSED, a timeout, an unreachable server or a malformed answer; NXDOMAIN and NOERROR are final.
Every exchange is kept as an `Attempt`, so the result carries its evidence.
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
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from netladder.errors import UsageError

if TYPE_CHECKING:
    import dns.message

__all__ = [
    "RCODES",
    "RECORD_TYPES",
    "Attempt",
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
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
    "SRV": 33, "ANY": 255,
}

# Response codes (RFC 1035 §4.1.1, RFC 6895 §2.3): name and what it means, plainly.
RCODES: dict[int, tuple[str, str]] = {
    0: ("NOERROR", "the query succeeded"),
    1: ("FORMERR", "the server could not understand the query"),
    2: ("SERVFAIL", "the server failed to produce an answer (a broken upstream, a lame "
                    "delegation or a DNSSEC failure)"),
    3: ("NXDOMAIN", "the name does not exist"),
    4: ("NOTIMP", "the server does not implement this kind of query"),
    5: ("REFUSED", "the server refuses to answer this query (not its zone, or no recursion "
                   "for this client)"),
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
    outcome: str  # answer | timeout | unreachable | malformed
    time_ms: float | None
    rcode: str | None = None
    detail: str = ""
    sent: int = 1  # datagrams sent (retransmissions included)
    truncated: bool = False


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
            raise UsageError(f"invalid name {text!r}: label of {len(label)} characters, the "
                             f"limit is {MAX_LABEL}")
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
        raise UsageError(f"invalid server {text!r}: not an IP address "
                         "(use IP, IP:PORT or [IPv6]:PORT)") from None
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
        path, tuple(servers[:3]),  # glibc uses the first three (MAXNS)
        search, int(number("ndots", 1, 0, 15)),
        number("timeout", GLIBC_DEFAULT_TIMEOUT, 1, 30),
        int(number("attempts", GLIBC_DEFAULT_ATTEMPTS, 1, 5)), problem,
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

class _Reply:
    __slots__ = ("elapsed", "message", "sent")

    def __init__(self, message: dns.message.Message, elapsed: float, sent: int) -> None:
        self.message, self.elapsed, self.sent = message, elapsed, sent


class _Failure(Exception):
    def __init__(self, outcome: str, detail: str, elapsed: float, sent: int = 1) -> None:
        super().__init__(detail)
        self.outcome, self.detail, self.elapsed, self.sent = outcome, detail, elapsed, sent


def _os_failure(exc: OSError, elapsed: float, sent: int) -> _Failure:
    if exc.errno == errno.ECONNREFUSED:
        return _Failure("unreachable", "nothing listens there (connection refused / ICMP port "
                        "unreachable)", elapsed, sent)
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL,
                     errno.EAFNOSUPPORT):
        return _Failure("unreachable", f"no route to the server ({exc.strerror})", elapsed, sent)
    name = errno.errorcode.get(exc.errno or 0, "")
    return _Failure("unreachable", f"{exc.strerror or exc} {name}".strip(), elapsed, sent)


def _parse_reply(wire: bytes, query: dns.message.Message) -> dns.message.Message | str:
    """The reply, or why it is not an answer to our query (a string)."""
    import dns.exception
    import dns.message

    try:
        reply = dns.message.from_wire(wire)
    except dns.exception.DNSException as exc:
        what = str(exc).rstrip(".") or type(exc).__name__
        return f"{len(wire)} bytes that do not parse as a DNS message ({what})"
    except Exception as exc:  # dnspython on hostile input: never let it crash the command
        return f"{len(wire)} bytes that do not parse as a DNS message ({type(exc).__name__})"
    if not query.is_response(reply):
        return "the answer does not match the question"
    return reply


async def _udp_exchange(server: Server, query: dns.message.Message, wait: float, tries: int,
                        deadline: float) -> _Reply:
    loop = asyncio.get_running_loop()
    wire = query.to_wire()
    start = time.monotonic()
    sent = 0
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
                raise _os_failure(exc, time.monotonic() - start, sent) from None
            sent += 1
            try_end = min(time.monotonic() + wait, deadline)
            while True:
                remaining = try_end - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 65535), remaining)
                except TimeoutError:
                    break
                except OSError as exc:
                    raise _os_failure(exc, time.monotonic() - start, sent) from None
                elapsed = time.monotonic() - start
                if len(data) < 2 or data[:2] != wire[:2]:
                    continue  # not our id: a stray datagram, keep waiting (as dig does)
                parsed = _parse_reply(data, query)
                if isinstance(parsed, str):
                    raise _Failure("malformed", parsed, elapsed, sent)
                return _Reply(parsed, elapsed, sent)
            if time.monotonic() >= deadline:
                break
        raise _Failure("timeout", f"no answer in {time.monotonic() - start:.1f} s "
                       f"({sent} {'query' if sent == 1 else 'queries'} sent)",
                       time.monotonic() - start, sent)
    finally:
        sock.close()


async def _tcp_exchange(server: Server, query: dns.message.Message, wait: float,
                        deadline: float) -> _Reply:
    wire = query.to_wire()
    start = time.monotonic()
    limit = max(0.0, min(start + wait, deadline) - start)
    writer = None
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(server.address, server.port)
            writer.write(struct.pack("!H", len(wire)) + wire)  # RFC 1035 §4.2.2 framing
            await writer.drain()
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            data = await reader.readexactly(size)
    except TimeoutError:
        elapsed = time.monotonic() - start
        raise _Failure("timeout", f"no answer in {elapsed:.1f} s over TCP", elapsed) from None
    except asyncio.IncompleteReadError as exc:
        elapsed = time.monotonic() - start
        raise _Failure("malformed", f"the server closed the connection after {len(exc.partial)}"
                       " bytes of the answer", elapsed) from None
    except OSError as exc:
        raise _os_failure(exc, time.monotonic() - start, 1) from None
    finally:
        if writer is not None:
            writer.close()
    elapsed = time.monotonic() - start
    parsed = _parse_reply(data, query)
    if isinstance(parsed, str):
        raise _Failure("malformed", parsed, elapsed)
    return _Reply(parsed, elapsed, 1)


def _records(message: dns.message.Message, qname: str, qtype: str
             ) -> tuple[tuple[Record, ...], tuple[Record, ...]]:
    """(the CNAME chain, the final answers) for the question, from the answer section."""
    import dns.rdatatype

    def rows(rrset: Any) -> list[Record]:
        return [Record(rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), int(rrset.ttl),
                       rdata.to_text()) for rdata in rrset]

    by_name: dict[str, list[Any]] = {}
    for rrset in message.answer:
        by_name.setdefault(rrset.name.to_text().lower(), []).append(rrset)
    if qtype in ("ANY", "CNAME"):
        return (), tuple(r for rrset in by_name.get(qname.lower(), []) for r in rows(rrset))
    chain: list[Record] = []
    current = qname.lower()
    seen = set()
    while current not in seen:
        seen.add(current)
        rrsets = by_name.get(current, [])
        wanted = [r for rrset in rrsets if dns.rdatatype.to_text(rrset.rdtype) == qtype
                  for r in rows(rrset)]
        if wanted:
            return tuple(chain), tuple(wanted)
        cnames = [r for rrset in rrsets if rrset.rdtype == dns.rdatatype.CNAME
                  for r in rows(rrset)]
        if not cnames:
            break
        chain.append(cnames[0])
        current = cnames[0].value.lower()
    return tuple(chain), ()


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

    wait: seconds per UDP try (and for a TCP exchange); tries: UDP transmissions per server;
    deadline: overall seconds (default: enough for every server)."""
    import dns.flags
    import dns.message
    import dns.rdatatype

    qname = check_name(name)
    qtype = rdtype.upper()
    if qtype not in RECORD_TYPES:
        raise UsageError(f"unknown record type {rdtype!r} (known: {', '.join(RECORD_TYPES)})")
    servers_from = "--server"
    if not servers:
        config = config or system_config()
        servers_from = config.path
        if not config.servers:
            return Resolution(qname, qtype, Status.NO_RESOLVER,
                              f"no resolver configured: {config.problem}",
                              servers_from=servers_from)
        servers = config.servers
    started = time.monotonic()
    end = started + (deadline if deadline is not None
                     else len(servers) * (wait * (1 if tcp else tries) + wait))
    attempts: list[Attempt] = []
    failed: list[tuple[Attempt, dns.message.Message | None]] = []
    for server in servers:
        if time.monotonic() >= end:
            break
        query = dns.message.make_query(qname, dns.rdatatype.RdataType(RECORD_TYPES[qtype]))
        transport = "tcp" if tcp else "udp"
        reply: _Reply | None = None
        while True:
            try:
                if transport == "udp":
                    reply = await _udp_exchange(server, query, wait, tries, end)
                else:
                    reply = await _tcp_exchange(server, query, wait, end)
            except _Failure as failure:
                attempt = Attempt(str(server), transport, failure.outcome, _ms(failure.elapsed),
                                  detail=failure.detail, sent=failure.sent)
                attempts.append(attempt)
                failed.append((attempt, None))
                reply = None
                break
            message = reply.message
            truncated = bool(message.flags & dns.flags.TC)
            rcode = message.rcode()
            attempt = Attempt(str(server), transport, "answer", _ms(reply.elapsed),
                              RCODES.get(rcode, (f"RCODE{rcode}", ""))[0], sent=reply.sent,
                              truncated=truncated)
            attempts.append(attempt)
            if truncated and transport == "udp":
                transport = "tcp"  # RFC 7766 §5: retry the truncated answer over TCP
                continue
            break
        if reply is None:
            continue
        message = reply.message
        rcode = message.rcode()
        if rcode not in (0, 3):
            failed.append((attempts[-1], message))
            continue  # SERVFAIL, REFUSED, ...: a stub resolver asks the next server
        return _answered(qname, qtype, server, attempts, message, reply, started, servers_from)
    return _failed(qname, qtype, attempts, failed, started, servers_from)


def _answered(qname: str, qtype: str, server: Server, attempts: list[Attempt],
              message: dns.message.Message, reply: _Reply, started: float,
              servers_from: str) -> Resolution:
    import dns.flags

    chain, answers = _records(message, qname, qtype)
    rcode = message.rcode()
    aa = bool(message.flags & dns.flags.AA)
    source = "authoritative answer" if aa else "answer"
    where = f"{source} from {server}"
    if rcode == 3:
        status = Status.NXDOMAIN
        if chain:
            text = (f"NXDOMAIN: {qname} is an alias of {chain[-1].value}, which does not exist "
                    f"({where})")
        else:
            text = f"NXDOMAIN: {qname} does not exist ({where})"
    elif answers:
        status = Status.OK
        text = f"{len(answers)} {qtype} record{'s' if len(answers) != 1 else ''} ({where})"
    else:
        status = Status.NODATA
        target = chain[-1].value if chain else qname
        text = f"no {qtype} records: {target} exists but has none of that type ({where})"
    return Resolution(
        qname, qtype, status, text, RCODES.get(rcode, (f"RCODE{rcode}", ""))[0], str(server),
        attempts[-1].transport, _ms(reply.elapsed) or 0.0,
        _ms(time.monotonic() - started) or 0.0, aa, chain, answers, tuple(attempts),
        servers_from,
    )


def _failed(qname: str, qtype: str, attempts: list[Attempt],
            failed: list[tuple[Attempt, dns.message.Message | None]], started: float,
            servers_from: str) -> Resolution:
    total = _ms(time.monotonic() - started) or 0.0
    answered = [(a, m) for a, m in failed if m is not None]
    if answered:
        attempt, message = answered[0]
        rcode = message.rcode() if message is not None else 0
        name, meaning = RCODES.get(rcode, (f"RCODE{rcode}", "an error"))
        status = _RCODE_STATUS.get(rcode, Status.RCODE)
        return Resolution(qname, qtype, status, f"{name}: {meaning} ({attempt.server})", name,
                          attempt.server, attempt.transport, attempt.time_ms or 0.0, total,
                          attempts=tuple(attempts), servers_from=servers_from)
    if not attempts:
        return Resolution(qname, qtype, Status.TIMEOUT, "no server asked before the deadline",
                          total_ms=total, servers_from=servers_from)
    outcomes = {a.outcome for a in attempts}
    first = attempts[0]
    servers = ", ".join(dict.fromkeys(a.server for a in attempts))
    if "malformed" in outcomes:
        bad = next(a for a in attempts if a.outcome == "malformed")
        return Resolution(qname, qtype, Status.MALFORMED, f"malformed answer from {bad.server}: "
                          f"{bad.detail}", server=bad.server, transport=bad.transport,
                          total_ms=total, attempts=tuple(attempts), servers_from=servers_from)
    if outcomes == {"unreachable"}:
        return Resolution(qname, qtype, Status.UNREACHABLE,
                          f"no server reachable ({servers}): {first.detail}", total_ms=total,
                          attempts=tuple(attempts), servers_from=servers_from)
    timed_out = next(a for a in attempts if a.outcome == "timeout")
    return Resolution(qname, qtype, Status.TIMEOUT,
                      f"timeout: no answer from {servers} ({timed_out.detail})", total_ms=total,
                      attempts=tuple(attempts), servers_from=servers_from)


# -- the system resolver -----------------------------------------------------------------------

def _gai_error(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        names = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
        return f"{exc.strerror} ({names.get(exc.errno, exc.errno)})"
    return str(exc)


async def getaddrinfo(host: str, port: int | None, family: int = 0, type: int = 0,
                      flags: int = 0) -> list[tuple[Any, ...]]:
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
            getaddrinfo(name, None, family, socket.SOCK_STREAM, socket.AI_CANONNAME), wait)
    except TimeoutError:
        return SystemLookup(name, False, error=f"no result in {wait:.0f} s",
                            time_ms=_ms(time.monotonic() - start) or 0.0)
    except (OSError, UnicodeError) as exc:
        return SystemLookup(name, False, error=_gai_error(exc),
                            time_ms=_ms(time.monotonic() - start) or 0.0)
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
    direct = await asyncio.gather(*(resolve(name, t, servers, tcp=tcp, wait=wait,
                                            tries=tries, config=config) for t in types))
    system = await system_task
    wanted = {4: ipaddress.IPv4Address, 6: ipaddress.IPv6Address}
    system_set = {a for a in system.addresses
                  if any(isinstance(ipaddress.ip_address(a.split("%")[0]), wanted[v])
                         for v in families)}
    direct_set = {a for r in direct for a in r.addresses}
    agree = system.ok == any(r.ok for r in direct) and system_set == direct_set
    explanations: list[str] = []
    if not agree:
        explanations = await _explain(name, system, system_set, list(direct), direct_set,
                                      config, servers, wait)
    return Comparison(check_name(name), system, tuple(direct), agree, tuple(explanations))


async def _explain(name: str, system: SystemLookup, system_set: set[str],
                   direct: list[Resolution], direct_set: set[str], config: ResolverConfig,
                   servers: Sequence[Server] | None, wait: float) -> list[str]:
    reasons: list[str] = []
    order = _nsswitch_hosts()
    order_text = "hosts: " + " ".join(order)
    bare = name.rstrip(".").lower()
    hosts = parse_hosts(_read(HOSTS)).get(bare, [])
    if hosts and "files" in order:
        where = ", ".join(f"{addr} (line {line})" for addr, line in hosts)
        before = order.index("files") < order.index("dns") if "dns" in order else True
        reasons.append(f"{HOSTS} maps {bare} to {where}; nsswitch.conf '{order_text}' reads it "
                       f"{'before' if before else 'after'} DNS, and the direct query never "
                       "reads it")
    if "dns" not in order:
        reasons.append(f"nsswitch.conf '{order_text}' does not consult DNS at all")
    others = [s for s in order if s not in ("files", "dns")]
    if others and not hosts and system.ok and not direct_set & system_set:
        reasons.append(f"nsswitch.conf also consults {', '.join(others)}, which may have "
                       "answered")
    if servers:
        system_servers = ", ".join(str(s) for s in config.servers) or "none"
        asked = ", ".join(str(s) for s in servers)
        if {str(s) for s in servers} != {str(s) for s in config.servers}:
            reasons.append(f"the system resolver asks {system_servers} ({config.path}); the "
                           f"direct query asked {asked}")
    if (not name.endswith(".") and config.search and name.count(".") < config.ndots
            and system.ok):
        for domain in config.search:
            candidate = f"{bare}.{domain}"
            found = await asyncio.gather(*(resolve(candidate, t, servers, wait=wait,
                                                   config=config) for t in ("A", "AAAA")))
            if {a for r in found for a in r.addresses} & system_set:
                reasons.append(f"getaddrinfo applied the search list ({config.path}: search "
                               f"{' '.join(config.search)}, ndots:{config.ndots}) and "
                               f"resolved {bare} as {candidate}; the direct query asks for "
                               f"{bare}. only")
                break
    if not system.ok and any(r.ok for r in direct) and not reasons:
        reasons.append(f"getaddrinfo failed ({system.error}) where the direct query succeeded: "
                       f"its own timeout/attempts (options timeout:{config.timeout_s:g} "
                       f"attempts:{config.attempts}) or another nsswitch source may be the "
                       "cause")
    if system.ok and not any(r.ok for r in direct) and not reasons:
        failures = "; ".join(r.message for r in direct)
        reasons.append(f"getaddrinfo found {', '.join(system.addresses)} but the direct query "
                       f"did not ({failures})")
    if not reasons:
        reasons.append("the answers differ without a local cause: the server may rotate or "
                       "vary its answers (load balancing, geo DNS), or a cache on the way "
                       "holds an older answer")
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

