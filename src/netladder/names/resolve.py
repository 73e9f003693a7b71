"""DNS without I/O: the input a query takes, what a received message is for our query, and
what an answer — or the failure of every server — means.

The sessions that ask (`names/session.py`) feed this module the messages they receive and the
attempts they made; it returns records (`names/model.py`) with typed findings, never
sentences (`render/dns.py` says them).  dnspython is the codec (`dns.message` and friends),
imported only when a message is built or read, never at import time of this module.

A stub resolver's rules, as glibc's res_send and dig follow them: a reply must carry our ID and
our question (RFC 5452 §9.1), or it is waited past and counted; TC means "ask again over TCP"
(RFC 1035 §4.2.1, RFC 7766 §5), and TC over TCP means the answer is incomplete (RFC 7766 §8);
NXDOMAIN and NOERROR are final, SERVFAIL and REFUSED send the question to the next server.  An
answer that stops at a CNAME without the target's records or a negative answer for it is
incomplete: the target is asked for (RFC 1034 §5.3.3 step 3 restarts the query there).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from netladder.errors import UsageError
from netladder.names.model import (
    DEFAULT_PORT,
    GLIBC_DEFAULT_ATTEMPTS,
    GLIBC_DEFAULT_TIMEOUT,
    RECORD_TYPES,
    Attempt,
    Chase,
    Finding,
    Reason,
    Record,
    Resolution,
    ResolverConfig,
    Server,
    Status,
    Stray,
    SystemLookup,
    rcode_name,
)
from netladder.proto.record import replace

if TYPE_CHECKING:
    import dns.message

__all__ = [
    "HOSTS",
    "NSSWITCH",
    "RESOLV_CONF",
    "agree",
    "answered",
    "chase_step",
    "chased",
    "check_name",
    "check_type",
    "explain",
    "failed",
    "is_address",
    "loops",
    "no_resolver",
    "parse_hosts",
    "parse_resolv_conf",
    "parse_server",
    "read_reply",
    "reverse_name",
    "search_candidates",
    "system_addresses",
    "system_config",
]

RESOLV_CONF = "/etc/resolv.conf"
HOSTS = "/etc/hosts"
NSSWITCH = "/etc/nsswitch.conf"

MAX_NAME = 253  # characters, without the final dot (RFC 1035 §2.3.4: 255 octets on the wire)
MAX_LABEL = 63
MAX_CHASE = 8  # CNAME targets asked for after incomplete answers, one after the other


# -- input -------------------------------------------------------------------------------------


def check_name(text: str) -> str:
    """A query name as an absolute name (ending in a dot); UsageError when it cannot be one."""
    if text in ("", ".."):
        raise UsageError("invalid name: empty")
    if text == ".":
        return "."
    if any(c.isspace() or not c.isprintable() for c in text):
        raise UsageError("invalid name {text!r}: contains spaces or control characters", text=text)
    bare = text[:-1] if text.endswith(".") else text
    try:
        encoded = bare.encode("ascii") if bare.isascii() else bare.encode("idna")
    except UnicodeError as exc:
        raise UsageError("invalid name {text!r}: {why}", text=text, why=str(exc)) from None
    if len(encoded) > MAX_NAME:
        raise UsageError(
            "invalid name: {n} characters, the limit is {limit}", n=len(encoded), limit=MAX_NAME
        )
    for label in encoded.split(b"."):
        if not label:
            raise UsageError("invalid name {text!r}: empty label", text=text)
        if len(label) > MAX_LABEL:
            raise UsageError(
                "invalid name {text!r}: label of {n} characters, the limit is {limit}",
                text=text,
                n=len(label),
                limit=MAX_LABEL,
            )
    return bare + "."


def check_type(text: str) -> str:
    """A record type the command takes, upper-cased; UsageError otherwise."""
    qtype = text.upper()
    if qtype not in RECORD_TYPES:
        raise UsageError(
            "unknown record type {type!r} (known: {known})",
            type=text,
            known=", ".join(RECORD_TYPES),
        )
    return qtype


def parse_server(text: str) -> Server:
    """IP, IP:PORT, [IPv6]:PORT or a bare IPv6 address; UsageError otherwise."""
    host, port_text = text, None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError("invalid server {text!r}: use IP, IP:PORT or [IPv6]:PORT", text=text)
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(
            "invalid server {text!r}: not an IP address (use IP, IP:PORT or [IPv6]:PORT)",
            text=text,
        ) from None
    port = DEFAULT_PORT
    if port_text is not None:
        # 0-9 only: str.isdigit() also takes '٥٣' (int() reads 53) and '²' (int() refuses it)
        ascii_digits = port_text.isascii() and port_text.isdigit()
        if not ascii_digits or not 0 < int(port_text) < 65536:
            raise UsageError("invalid server {text!r}: port must be 1-65535", text=text)
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

    return ResolverConfig(
        path,
        tuple(servers[:3]),  # glibc uses the first three (MAXNS)
        search,
        int(number("ndots", 1, 0, 15)),
        number("timeout", GLIBC_DEFAULT_TIMEOUT, 1, 30),
        int(number("attempts", GLIBC_DEFAULT_ATTEMPTS, 1, 5)),
    )


def system_config(path: str = RESOLV_CONF) -> ResolverConfig:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        return ResolverConfig(path, (), unreadable=exc.strerror or str(exc))
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


def reverse_name(address: str) -> str:
    """The PTR name of an address (dig -x)."""
    return ipaddress.ip_address(address).reverse_pointer + "."


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- one received message ----------------------------------------------------------------------


def read_reply(wire: bytes, query: dns.message.Message) -> tuple[str, Any]:
    """What one received message is, for our query:
    ("reply", Message); ("truncated", rcode) for a TC answer that does not parse (cut short
    mid-record, RFC 1035 §4.1.1 allows it); ("malformed", what the parser said) for our
    answer (our ID) that is not a DNS message; ("stray", Stray) for anything that is not an
    answer to this query."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.opcode
    import dns.rdatatype

    if len(wire) < 12:  # glibc's res_send and dig wait past these too
        return "stray", Stray("short", size=len(wire))
    got = int.from_bytes(wire[:2], "big")
    if got != query.id:
        return "stray", Stray("id", expected=query.id, got=got)
    try:
        reply = dns.message.from_wire(wire)
    except Exception as exc:  # dnspython on hostile input raises more than DNSException
        if wire[2] & 0x82 == 0x82:  # QR and TC set in the header
            return "truncated", wire[3] & 0x0F
        if isinstance(exc, dns.exception.DNSException):
            return "malformed", str(exc).rstrip(".") or type(exc).__name__
        return "malformed", type(exc).__name__
    if not reply.flags & dns.flags.QR:
        return "stray", Stray("query")
    if reply.opcode() != query.opcode():
        return "stray", Stray("opcode", text=dns.opcode.to_text(reply.opcode()))
    if not query.is_response(reply):
        asked = ", ".join(f"{q.name} {dns.rdatatype.to_text(q.rdtype)}" for q in reply.question[:2])
        return "stray", Stray("question", text=asked)
    return "reply", reply


# -- what an answer means ----------------------------------------------------------------------


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


def loops(qname: str, chain: Sequence[Record]) -> bool:
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


def answered(
    qname: str,
    qtype: str,
    server: Server,
    attempts: Sequence[Attempt],
    message: dns.message.Message,
    time: float,
    total: float,
    servers_from: str,
) -> Resolution:
    """The resolution a NOERROR or NXDOMAIN answer gives (`time`: its exchange, `total`:
    everything so far, in seconds)."""
    import dns.flags

    chain, answers = _records(message, qname, qtype)
    rcode = message.rcode()
    aa = bool(message.flags & dns.flags.AA)
    incomplete = False
    referral = None if chain or answers or rcode != 0 else _referral(message, qname)
    if rcode == 3:
        status, finding = Status.NXDOMAIN, Finding("nxdomain")
    elif answers:
        status, finding = Status.OK, Finding("records")
    elif chain and loops(qname, chain):
        status, finding, incomplete = Status.INCOMPLETE, Finding("cname-loop"), True
    elif chain and not _negative_for(message, chain[-1].value):
        status, finding, incomplete = Status.INCOMPLETE, Finding("cname-incomplete"), True
    elif referral is not None:
        status, incomplete = Status.INCOMPLETE, True
        finding = Finding("referral", zone=referral[0], names=referral[1])
    else:
        status = Status.NODATA
        used = {qname.lower(), *(r.value.lower() for r in chain)}
        # Records the question does not lead to answer nothing (RFC 5452 §9.1).
        others = sum(
            len(rrset) for rrset in message.answer if rrset.name.to_text().lower() not in used
        )
        finding = Finding("nodata", others=others)
    return Resolution(
        qname,
        qtype,
        status,
        finding,
        rcode_name(rcode),
        str(server),
        attempts[-1].transport,
        time,
        total,
        aa,
        chain,
        answers,
        tuple(attempts),
        servers_from,
        incomplete,
    )


def failed(
    qname: str,
    qtype: str,
    attempts: Sequence[Attempt],
    errors: Sequence[tuple[Attempt, int]],
    total: float,
    servers_from: str,
) -> Resolution:
    """The resolution when no server gave a final answer: `errors` are the answers with an
    error rcode (SERVFAIL, REFUSED, ...), each with its attempt, in the order they came."""
    if errors:
        attempt, rcode = errors[0]
        status = {2: Status.SERVFAIL, 3: Status.NXDOMAIN, 5: Status.REFUSED}.get(
            rcode, Status.RCODE
        )
        return Resolution(
            qname,
            qtype,
            status,
            Finding("rcode"),
            rcode_name(rcode),
            attempt.server,
            attempt.transport,
            attempt.time or 0.0,
            total,
            attempts=tuple(attempts),
            servers_from=servers_from,
        )
    if not attempts:
        return Resolution(
            qname,
            qtype,
            Status.TIMEOUT,
            Finding("not-asked"),
            total=total,
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

    def finding(kind: str, a: Attempt) -> Finding:
        return Finding(kind, a, a.server in truncated and a.transport == "tcp")

    bad = next((a for a in finals if a.outcome == "malformed"), None)
    if bad is not None:
        return Resolution(
            qname,
            qtype,
            Status.MALFORMED,
            finding("malformed", bad),
            server=bad.server,
            transport=bad.transport,
            total=total,
            attempts=tuple(attempts),
            servers_from=servers_from,
        )
    cut = next((a for a in finals if a.outcome == "incomplete"), None)
    if cut is not None:
        return Resolution(
            qname,
            qtype,
            Status.INCOMPLETE,
            finding("tc-over-tcp", cut),
            cut.rcode,
            cut.server,
            cut.transport,
            cut.time or 0.0,
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
            finding("timeout", timed_out),
            total=total,
            attempts=tuple(attempts),
            servers_from=servers_from,
        )
    # Every server is unreachable (over TCP, after a truncated answer).
    return Resolution(
        qname,
        qtype,
        Status.UNREACHABLE,
        finding("unreachable", finals[0]),
        total=total,
        attempts=tuple(attempts),
        servers_from=servers_from,
    )


def no_resolver(qname: str, qtype: str, config: ResolverConfig) -> Resolution:
    return Resolution(
        qname,
        qtype,
        Status.NO_RESOLVER,
        Finding("no-resolver"),
        servers_from=config.path,
        config=config,
    )


def chased(
    first: Resolution, chain: Sequence[Record], steps: Sequence[Chase], total: float
) -> Resolution:
    """The resolution after the CNAME targets `first` left unresolved were asked for: what
    the last step found, said beside what the first server answered."""
    if not steps:
        return replace(first, finding=Finding("chase-no-time"), total=total)
    if loops(first.name, chain):
        return replace(
            first,
            finding=Finding("chase-loop"),
            chain=tuple(chain),
            total=total,
            chased=tuple(steps),
        )
    last = steps[-1].resolution
    assert last is not None
    return replace(
        first,
        status=last.status,
        finding=Finding("chased"),
        chain=tuple(chain),
        answers=last.answers,
        total=total,
        chased=tuple(steps),
    )


def chase_step(target: str, after: str, outcome: Resolution) -> Chase:
    return Chase(
        target,
        after,
        outcome.status,
        outcome.rcode,
        outcome.server,
        outcome.transport,
        outcome.time,
        outcome.attempts,
        outcome,
    )


# -- the system resolver beside the direct query ----------------------------------------------


def nsswitch_hosts(path: str = NSSWITCH) -> list[str]:
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


def system_addresses(system: SystemLookup, families: Sequence[int]) -> set[str]:
    """The system resolver's addresses of the families asked about."""
    return {
        a for a in system.addresses if ipaddress.ip_address(a.split("%")[0]).version in families
    }


def agree(system: SystemLookup, direct: Sequence[Resolution], families: Sequence[int]) -> bool:
    # An answer that settled nothing (Status.INCOMPLETE) is nothing to agree with.
    return (
        system.ok == any(r.ok for r in direct)
        and system_addresses(system, families) == {a for r in direct for a in r.addresses}
        and not any(r.status is Status.INCOMPLETE for r in direct)
    )


def search_candidates(name: str, config: ResolverConfig, system: SystemLookup) -> list[str]:
    """The names getaddrinfo may have tried through the search list (resolv.conf(5)), when
    it would: a relative name with fewer dots than ndots."""
    bare = name.rstrip(".").lower()
    if name.endswith(".") or not config.search or name.count(".") >= config.ndots:
        return []
    if not system.ok:
        return []
    return [f"{bare}.{domain}" for domain in config.search]


def explain(
    name: str,
    system: SystemLookup,
    direct: Sequence[Resolution],
    families: Sequence[int],
    config: ResolverConfig,
    servers: Sequence[Server],
    search_hit: str | None,
) -> tuple[Reason, ...]:
    """Why the system resolver and the direct query disagree.  `search_hit`: the search-list
    name whose direct answer holds the system's addresses, when one does."""
    reasons: list[Reason] = []
    system_set = system_addresses(system, families)
    direct_set = {a for r in direct for a in r.addresses}
    configured = {str(s) for s in config.servers}
    for r in direct:
        if r.status is Status.INCOMPLETE:
            reasons.append(Reason("direct-incomplete", resolution=r))
            continue
        missing = set(r.addresses) - system_set
        if not (r.incomplete and r.chased and missing):
            continue  # what the chase found is no difference to explain
        reasons.append(Reason("chased", resolution=r, configured=r.chased[0].after in configured))
    order = tuple(nsswitch_hosts())
    bare = name.rstrip(".").lower()
    hosts = parse_hosts(_read(HOSTS)).get(bare, [])
    if hosts and "files" in order:
        before = order.index("files") < order.index("dns") if "dns" in order else True
        reasons.append(
            Reason(
                "hosts-file", path=HOSTS, name=bare, hosts=tuple(hosts), order=order, before=before
            )
        )
    if "dns" not in order:
        reasons.append(Reason("no-dns-source", order=order))
    others = tuple(s for s in order if s not in ("files", "dns"))
    if others and not hosts and system.ok and not direct_set & system_set:
        reasons.append(Reason("other-sources", others=others))
    if servers and {str(s) for s in servers} != configured:
        reasons.append(
            Reason(
                "other-servers",
                path=config.path,
                servers=tuple(str(s) for s in config.servers),
                asked=tuple(str(s) for s in servers),
            )
        )
    if search_hit is not None:
        reasons.append(Reason("search-list", name=bare, candidate=search_hit, config=config))
    if not system.ok and any(r.ok for r in direct) and not reasons:
        reasons.append(Reason("system-failed", system=system, config=config))
    if system.ok and not any(r.ok for r in direct) and not reasons:
        reasons.append(Reason("direct-failed", system=system, direct=tuple(direct)))
    if not reasons:
        reasons.append(Reason("differ"))
    return tuple(reasons)
