"""The DNS probers as sans-IO sessions (`net/session.py`): what to send, when to wake, and
what the datagrams, bytes and errors that come back mean — no socket, no clock.

`DnsSession` resolves one question the way a stub resolver does (`names/resolve.py` says the
rules): the servers in order, UDP with retransmission over one connected channel per server,
TCP over a kept connection when the answer is truncated, the CNAME targets an incomplete answer
left unresolved asked for next.  Its plan is written as a generator (`_resolve`) that yields
one exchange at a time and is sent each exchange's outcome, so the order of the questions
reads as it happens; each exchange (`_Udp`, `_Tcp`) is a small state machine over the
driver's callbacks.  `ExchangeSession` is one exchange alone (blackbox's dns prober), and
`SystemSession` one getaddrinfo through the driver's `Lookup`.
"""

from __future__ import annotations

import errno
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from netladder.names.model import (
    RECORD_TYPES,
    Attempt,
    Chase,
    Exchange,
    ExchangeOptions,
    Record,
    Resolution,
    Server,
    Status,
    Stray,
    SystemLookup,
    rcode_name,
)
from netladder.names.resolve import (
    MAX_CHASE,
    answered,
    chase_step,
    chased,
    failed,
    loops,
    read_reply,
)
from netladder.net.linux import SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6
from netladder.net.session import (
    ChannelSpec,
    Close,
    CloseChannel,
    Connect,
    ConnectOutcome,
    Lookup,
    OpenChannel,
    Opened,
    Send,
    Session,
    Step,
    Write,
)

if TYPE_CHECKING:
    import dns.message

    from netladder.net.sockets import Received, SockError
    from netladder.net.targets import ResolveError, Target

__all__ = ["DnsSession", "ExchangeSession", "SystemSession"]

NS = 1_000_000_000
MAX_STRAY_KINDS = 3  # kinds of ignored replies kept as evidence (all of them are counted)
_LENGTH = 2  # RFC 1035 §4.2.2: a TCP message is preceded by its length, two octets

# ICMP errors that end an exchange, as the kernel reports them to a plain connected UDP
# socket (net/ipv4/icmp.c icmp_err_convert, net/ipv6/icmp.c icmpv6_err_convert: the "fatal"
# ones, RFC 1122 §4.2.3.9).  The soft ones — net or host unreachable, time exceeded, too big —
# are waited past, as glibc's res_send and dig do: the server may still answer.
_HARD_ICMP4 = {3: frozenset({2, 3, 6, 7, 8, 9, 10, 13, 14, 15}), 12: None}
_HARD_ICMP6 = {1: frozenset({1, 4, 5, 6}), 4: None}


def _hard(error: SockError) -> bool:
    table = {SO_EE_ORIGIN_ICMP: _HARD_ICMP4, SO_EE_ORIGIN_ICMP6: _HARD_ICMP6}.get(error.origin)
    if table is None or error.icmp_type not in table:
        return False
    codes = table[error.icmp_type]
    return codes is None or error.icmp_code in codes


# -- one exchange ------------------------------------------------------------------------------


class _Strays:
    """Replies that are not the answer to our query: counted, the first few kinds kept, and
    waited past — a stray datagram can neither end the query nor pass for its answer."""

    __slots__ = ("count", "kinds")

    def __init__(self) -> None:
        self.count = 0
        self.kinds: list[Stray] = []

    def add(self, stray: Stray) -> None:
        self.count += 1
        if stray not in self.kinds and len(self.kinds) < MAX_STRAY_KINDS:
            self.kinds.append(stray)


class _Reply:
    """An answer to our query (the message is None only for a truncated answer that does not
    parse: cut mid-record)."""

    __slots__ = ("at", "message", "rcode", "truncated")

    def __init__(self, message: dns.message.Message | None, rcode: int, truncated: bool) -> None:
        self.message, self.rcode, self.truncated = message, rcode, truncated


class _Exchange:
    """One query to one server over one transport, as a state machine over the driver's
    callbacks.  When `done`, `reply` or `failure` (an Attempt's outcome and cause) says how
    it ended, `elapsed` from the query sent (the connect started, over TCP) to then."""

    transport = "udp"

    def __init__(
        self, token: int, server: Server, query: dns.message.Message, wait: float, end: int
    ) -> None:
        self.token = token
        self.server = server
        self.query = query
        self.wire: bytes = query.to_wire()
        self.wait_ns = round(wait * NS)
        self.end = end  # the whole resolution's deadline (monotonic ns)
        self.started: int | None = None
        self.ended: int | None = None
        self.sent = 0
        self.strays = _Strays()
        self.reply: _Reply | None = None
        self.failure: tuple[str, str] | None = None  # (outcome, cause)
        self.errno: int | None = None
        self.size = 0
        self.why = ""
        self.done = False

    @property
    def elapsed(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return max(self.ended - self.started, 0) / NS

    def _finish(self, at: int) -> None:
        self.ended = at if self.started is None else max(at, self.started)
        self.done = True

    def _fail(self, outcome: str, cause: str, at: int, code: int | None = None) -> None:
        self.failure, self.errno = (outcome, cause), code
        self._finish(at)

    def _unreachable(self, code: int, at: int) -> None:
        if code == errno.ECONNREFUSED:
            cause = "refused"
        elif code in (
            errno.ENETUNREACH,
            errno.EHOSTUNREACH,
            errno.EADDRNOTAVAIL,
            errno.EAFNOSUPPORT,
        ):
            cause = "no-route"
        else:
            cause = "os"
        self._fail("unreachable", cause, at, code)

    def _received(self, wire: bytes, at: int) -> None:
        kind, value = read_reply(wire, self.query)
        if kind == "stray":
            self.strays.add(value)  # keep waiting for the real answer, as dig does
        elif kind == "malformed":
            self.size, self.why = len(wire), value
            self._fail("malformed", "garbage", at)
        elif kind == "truncated":
            self.reply = _Reply(None, value, True)
            self._finish(at)
        else:
            import dns.flags

            self.reply = _Reply(value, value.rcode(), bool(value.flags & dns.flags.TC))
            self._finish(at)

    def attempt(self) -> Attempt:
        server, transport, elapsed = str(self.server), self.transport, self.elapsed
        strays = tuple(self.strays.kinds)
        if self.reply is not None:
            return Attempt(
                server,
                transport,
                "answer",
                elapsed,
                rcode_name(self.reply.rcode),
                self.sent,
                self.reply.truncated,
                self.strays.count,
                strays,
            )
        assert self.failure is not None
        outcome, cause = self.failure
        return Attempt(
            server,
            transport,
            outcome,
            elapsed,
            None,
            self.sent,
            False,
            self.strays.count,
            strays,
            cause,
            self.errno,
            self.size,
            self.why,
        )

    # What the session forwards; each exchange overrides what its transport uses.
    def poll(self, now: int) -> tuple[list[Any], int | None]:
        raise NotImplementedError

    def closing(self) -> list[Any]:
        return []

    def on_opened(self, channel: int, opened: Opened | int, now: int) -> None: ...
    def on_sent(self, at: int, error: int | None) -> None: ...
    def on_packet(self, packet: Received) -> None: ...
    def on_connect(self, outcome: ConnectOutcome) -> None: ...
    def on_data(self, data: bytes, at: int) -> None: ...
    def on_error(self, error: int, at: int) -> None: ...


class _Udp(_Exchange):
    """`tries` datagrams `wait` seconds apart on one connected UDP channel; the first reply
    that answers our query ends it."""

    def __init__(
        self,
        token: int,
        server: Server,
        query: dns.message.Message,
        wait: float,
        end: int,
        tries: int,
    ) -> None:
        super().__init__(token, server, query, wait, end)
        self.tries = tries
        self.channel: int | None = None
        self.state = "open"  # open -> opening -> send -> sending -> wait
        self.try_end = 0

    def poll(self, now: int) -> tuple[list[Any], int | None]:
        if self.done:
            return [], None
        if self.state == "open":
            self.state = "opening"
            spec = ChannelSpec(
                "udp", self.server.version, connect=(self.server.address, self.server.port)
            )
            return [OpenChannel(self.token, spec)], None
        if self.state == "wait" and now >= self.try_end:
            if self.sent < self.tries and now < self.end:
                self.state = "send"  # retransmit: the same query, the same ID
            else:
                self._fail("timeout", "silent", now)
                return [], None
        if self.state == "send":
            assert self.channel is not None
            self.state = "sending"
            address = (self.server.address, self.server.port)
            # Polled again at once: by then on_sent has said when this try ends.
            return [Send(self.channel, self.wire, address, self.token)], now
        return [], self.try_end if self.state == "wait" else None

    def closing(self) -> list[Any]:
        return [CloseChannel(self.channel)] if self.channel is not None else []

    def on_opened(self, channel: int, opened: Opened | int, now: int) -> None:
        if isinstance(opened, int):  # connect() refused it: no route, no address
            self._unreachable(opened, now)
            return
        self.channel = channel
        self.state = "send"

    def on_sent(self, at: int, error: int | None) -> None:
        if self.started is None:
            self.started = at
        if error is not None:
            self._unreachable(error, at)
            return
        self.sent += 1
        self.try_end = min(at + self.wait_ns, self.end)
        self.state = "wait"

    def on_packet(self, packet: Received) -> None:
        if self.done or self.state != "wait":
            return
        if packet.error is not None:
            if _hard(packet.error):
                self._unreachable(packet.error.errno, packet.monotonic_ns)
            return
        self._received(packet.data, packet.monotonic_ns)


class _Tcp(_Exchange):
    """One query over a kept TCP connection (RFC 7766), the answer read by its length; replies
    to other queries on it are waited past (§7: they may come out of order)."""

    transport = "tcp"

    def __init__(
        self, token: int, server: Server, query: dns.message.Message, wait: float, end: int
    ) -> None:
        super().__init__(token, server, query, wait, end)
        self.sent = 1
        self.state = "connect"  # connect -> connecting -> reading
        self.limit = 0
        self.buffer = bytearray()
        self.connected_at: int | None = None

    @property
    def connect(self) -> float:
        if self.started is None or self.connected_at is None:
            return 0.0
        return (self.connected_at - self.started) / NS

    def poll(self, now: int) -> tuple[list[Any], int | None]:
        if self.done:
            return [], None
        if self.state == "connect":
            self.state = "connecting"
            self.started = now
            self.limit = min(now + self.wait_ns, self.end)
            address, port = self.server.address, self.server.port
            return [Connect(self.token, address, port, keep=True)], self.limit
        if now >= self.limit:
            self._fail("timeout", "silent", now)
            return [], None
        if self.state == "write":
            self.state = "reading"
            framed = len(self.wire).to_bytes(_LENGTH, "big") + self.wire
            return [Write(self.token, framed)], self.limit
        return [], self.limit

    def closing(self) -> list[Any]:
        # A connect still in progress is given up too (the driver forgets a closed one).
        return [Close(self.token)] if self.state != "connect" else []

    def on_connect(self, outcome: ConnectOutcome) -> None:
        if self.done:
            return
        if outcome.error:
            self.state = "failed"
            self._unreachable(outcome.error, outcome.at)
            return
        self.connected_at = outcome.at
        self.state = "write"

    def on_data(self, data: bytes, at: int) -> None:
        if self.done:
            return
        if not data:
            self.state = "closed"
            # The bytes of the unit being read when the server closed: the length prefix,
            # or the message it announced.
            have = len(self.buffer)
            if have >= _LENGTH:
                have -= _LENGTH
            self.size = have
            self._fail("malformed", "closed", at)
            return
        self.buffer += data
        while len(self.buffer) >= _LENGTH:
            size = int.from_bytes(self.buffer[:_LENGTH], "big")
            if len(self.buffer) < _LENGTH + size:
                return
            wire = bytes(self.buffer[_LENGTH : _LENGTH + size])
            del self.buffer[: _LENGTH + size]
            self._received(wire, at)
            if self.done:
                return

    def on_error(self, error: int, at: int) -> None:
        if not self.done:
            self.state = "failed"
            self._unreachable(error, at)


# -- sessions ----------------------------------------------------------------------------------


class _Exchanges(Session[Any]):
    """A session that runs one exchange at a time, handing the driver's callbacks to it."""

    def __init__(self) -> None:
        self.now = 0
        self.tokens = 0
        self.current: _Exchange | None = None
        self.interrupted = False

    def _new_token(self) -> int:
        self.tokens += 1
        return self.tokens

    def _mine(self, token: int) -> _Exchange | None:
        current = self.current
        return current if current is not None and current.token == token else None

    def on_opened(self, token: int, channel: int, opened: Opened | int) -> None:
        exchange = self._mine(token)
        if exchange is not None:
            exchange.on_opened(channel, opened, self.now)

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        exchange = self._mine(token)
        if exchange is not None:
            exchange.on_sent(at, error)

    def on_packet(self, channel: int, packet: Received) -> None:
        current = self.current
        if isinstance(current, _Udp) and current.channel == channel:
            current.on_packet(packet)

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        exchange = self._mine(token)
        if exchange is not None:
            exchange.on_connect(outcome)

    def on_data(self, token: int, data: bytes, at: int) -> None:
        exchange = self._mine(token)
        if exchange is not None:
            exchange.on_data(data, at)

    def on_error(self, token: int, error: int, at: int) -> None:
        exchange = self._mine(token)
        if exchange is not None:
            exchange.on_error(error, at)

    def interrupt(self) -> None:
        self.interrupted = True


class DnsSession(_Exchanges):
    """One question resolved at `servers` (already checked: an absolute name, a known type,
    at least one server); `result()` is the Resolution, never an exception."""

    def __init__(
        self,
        qname: str,
        qtype: str,
        servers: Sequence[Server],
        *,
        tcp: bool = False,
        wait: float = 2.0,
        tries: int = 2,
        deadline: float | None = None,
        servers_from: str = "--server",
    ) -> None:
        super().__init__()
        self.qname, self.qtype = qname, qtype
        self.servers = tuple(servers)
        self.tcp, self.wait, self.tries = tcp, wait, tries
        budget = (
            deadline
            if deadline is not None
            else len(self.servers) * (wait * (1 if tcp else tries) + wait)
        )
        self.budget_ns = round(budget * NS)
        self.servers_from = servers_from
        self.started = 0
        self.end = 0
        self.plan: Generator[_Exchange, None, Resolution] | None = None
        self.outcome: Resolution | None = None

    def start(self, now: int) -> None:
        self.now = self.started = now
        self.end = now + self.budget_ns
        self.plan = self._resolve()

    def poll(self, now: int) -> Step:
        self.now = now
        actions: list[Any] = []
        while self.outcome is None and not self.interrupted:
            current = self.current
            if current is None:
                assert self.plan is not None
                try:
                    self.current = next(self.plan)
                except StopIteration as stop:
                    self.outcome = stop.value
                    break
                continue
            more, wake = current.poll(now)
            actions += more
            if not current.done:
                return Step(actions, wake)
            actions += current.closing()
            # The plan reads the finished exchange from self.current when it resumes.
            assert self.plan is not None
            try:
                self.current = self.plan.send(None)
            except StopIteration as stop:
                self.current = None
                self.outcome = stop.value
        return Step(actions, None, (), True)

    def result(self) -> Resolution:
        assert self.outcome is not None, "the resolution was interrupted"
        return self.outcome

    # -- the plan (a generator: yields each exchange; reads it back once it is done) ----------

    def _total(self) -> float:
        return (self.now - self.started) / NS

    def _resolve(self) -> Generator[_Exchange, None, Resolution]:
        first = yield from self._ask(self.qname, self.servers)
        if first.status is Status.INCOMPLETE and first.chain and not loops(first.name, first.chain):
            return (yield from self._chase(first))
        return first

    def _ask(self, qname: str, servers: Sequence[Server]) -> Generator[_Exchange, None, Resolution]:
        """One question at the servers in order, under the deadline of the whole resolution."""
        import dns.message
        import dns.rdatatype

        qtype = self.qtype
        attempts: list[Attempt] = []
        errors: list[tuple[Attempt, int]] = []
        for server in servers:
            if self.now >= self.end:
                break
            query = dns.message.make_query(qname, dns.rdatatype.RdataType(RECORD_TYPES[qtype]))
            tcp = self.tcp
            while True:
                exchange: _Exchange
                if tcp:
                    exchange = _Tcp(self._new_token(), server, query, self.wait, self.end)
                else:
                    exchange = _Udp(
                        self._new_token(), server, query, self.wait, self.end, self.tries
                    )
                yield exchange
                attempt = exchange.attempt()
                reply = exchange.reply
                if reply is not None and reply.truncated and tcp:
                    # RFC 7766 §8: a TCP answer carries everything; TC there says it does not.
                    attempt = Attempt(
                        attempt.server,
                        "tcp",
                        "incomplete",
                        attempt.time,
                        attempt.rcode,
                        attempt.sent,
                        True,
                        attempt.ignored,
                        attempt.strays,
                        "tc-over-tcp",
                    )
                    reply = None
                attempts.append(attempt)
                if reply is not None and reply.truncated:
                    tcp = True  # RFC 7766 §5: retry the truncated answer over TCP
                    continue
                break
            if reply is None:
                continue
            assert reply.message is not None  # only a truncated answer lacks one
            if reply.rcode not in (0, 3):
                errors.append((attempts[-1], reply.rcode))
                continue  # SERVFAIL, REFUSED, ...: a stub resolver asks the next server
            return answered(
                qname,
                qtype,
                server,
                attempts,
                reply.message,
                attempts[-1].time or 0.0,
                self._total(),
                self.servers_from,
            )
        return failed(qname, qtype, attempts, errors, self._total(), self.servers_from)

    def _chase(self, first: Resolution) -> Generator[_Exchange, None, Resolution]:
        """Ask for the CNAME target that `first` (an incomplete answer) left unresolved, and on
        along the chain while each answer stops at a further CNAME."""
        chain: list[Record] = list(first.chain)
        seen = {first.name.lower(), *(r.name.lower() for r in chain)}
        steps: list[Chase] = []
        last = first
        while (
            last.status is Status.INCOMPLETE
            and last.chain
            and not loops(last.name, last.chain)
            and len(steps) < MAX_CHASE
            and self.now < self.end
        ):
            target = chain[-1].value
            if target.lower() in seen:
                break
            seen.add(target.lower())
            # The server that gave the incomplete answer first, then the others, as configured.
            order = sorted(self.servers, key=lambda s: str(s) != last.server)
            after = last.server or ""
            last = yield from self._ask(target, order)
            steps.append(chase_step(target, after, last))
            chain += last.chain
            if any(r.value.lower() in seen for r in last.chain):
                break
            seen.update(r.name.lower() for r in last.chain)
        return chased(first, chain, steps, self._total())


class ExchangeSession(_Exchanges):
    """One exchange alone (ExchangeOptions): the reply message itself, or why none came."""

    def __init__(self, options: ExchangeOptions, query: dns.message.Message) -> None:
        super().__init__()
        self.options = options
        self.query = query
        self.exchange: _Exchange | None = None

    def start(self, now: int) -> None:
        self.now = now
        o = self.options
        end = now + round(o.wait * NS)
        token = self._new_token()
        if o.tcp:
            self.current = _Tcp(token, o.server, self.query, o.wait, end)
        else:
            self.current = _Udp(token, o.server, self.query, o.wait, end, 1)
        self.exchange = self.current

    def poll(self, now: int) -> Step:
        self.now = now
        current = self.current
        if current is None or self.interrupted:
            return Step((), None, (), True)
        actions, wake = current.poll(now)
        if not current.done:
            return Step(actions, wake)
        self.current = None
        return Step([*actions, *current.closing()], None, (), True)

    def result(self) -> Exchange:
        exchange = self.exchange
        assert exchange is not None and exchange.done, "the exchange was interrupted"
        message = exchange.reply.message if exchange.reply is not None else None
        connect = exchange.connect if isinstance(exchange, _Tcp) else 0.0
        return Exchange(
            self.options.server,
            exchange.attempt(),
            message,
            connect,
            max(exchange.elapsed - connect, 0.0),
        )


# -- the system resolver -----------------------------------------------------------------------


class SystemSession(Session[SystemLookup]):
    """getaddrinfo(name) through the driver's Lookup: every address and the canonical name,
    what every program here gets; a lookup that hangs is cut off at `wait`."""

    def __init__(self, name: str, wait: float = 10.0) -> None:
        self.name = name
        self.wait_ns = round(wait * NS)
        self.wait = wait
        self.asked = False
        self.started = 0
        self.outcome: SystemLookup | None = None

    def start(self, now: int) -> None:
        self.started = now

    def poll(self, now: int) -> Step:
        if self.outcome is not None:
            return Step((), None, (), True)
        if not self.asked:
            self.asked = True
            # The driver's own cut-off comes later than ours: ours is the one that counts.
            lookup = Lookup(0, self.name, wait=self.wait + 1.0, every=True)
            return Step((lookup,), self.started + self.wait_ns)
        if now >= self.started + self.wait_ns:
            self.outcome = SystemLookup(
                self.name, False, time=(now - self.started) / NS, waited=self.wait
            )
            return Step((), None, (), True)
        return Step((), self.started + self.wait_ns)

    def on_lookup(self, token: int, answer: Target | ResolveError, at: int) -> None:
        if self.outcome is not None:
            return
        took = max(at - self.started, 0) / NS
        if isinstance(answer, Exception):
            code = _eai_name(answer.code)
            self.outcome = SystemLookup(
                self.name, False, time=took, reason=answer.reason, code=code
            )
            return
        addresses = answer.addresses or (answer.address,)
        canonical = answer.canonical if answer.lookup_s else answer.name
        self.outcome = SystemLookup(self.name, True, addresses, canonical, took)

    def interrupt(self) -> None:
        if self.outcome is None:
            self.outcome = SystemLookup(self.name, False, reason="interrupted")

    def result(self) -> SystemLookup:
        assert self.outcome is not None
        return self.outcome


def _eai_name(code: int | None) -> str | None:
    """getaddrinfo's error as its symbolic name (EAI_NONAME), as netdb.h spells it."""
    if code is None:
        return None
    import socket

    names = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
    return names.get(code, str(code))
