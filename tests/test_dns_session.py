"""DnsSession, ExchangeSession and SystemSession without a socket: queries answered with
fabricated messages on a fake clock (issue 14 point 6: DNS answer interpretation).

`Wire` plays the driver: it opens the channels and connections a session asks for, stamps
its sends with the fake clock, and hands back what each test scripts for each query — the
same messages the hostile lab server (`lab/dnsserver.py`) sends, checked there beside dig.
"""

from __future__ import annotations

import errno
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from netladder.names.model import Server, Status
from netladder.names.session import DnsSession, ExchangeSession, SystemSession
from netladder.net.session import (
    Close,
    CloseChannel,
    Connect,
    Lookup,
    OpenChannel,
    Opened,
    Send,
    Session,
    Step,
    Write,
)
from netladder.net.sockets import Received, SockError
from netladder.render.dns import attempt_text, sentence
from sessions import FakeClock, connected, looked_up, received

SERVER = "198.51.100.1"
OTHER = "198.51.100.2"


class Wire:
    """The driver's half for one DNS session: channels, sends, connects, writes."""

    def __init__(self, session: Session[Any], clock: FakeClock) -> None:
        self.session = session
        self.clock = clock
        self.channels: dict[int, tuple[str, int]] = {}  # index -> server
        self.open: set[int] = set()
        self.sent: list[tuple[int, bytes]] = []  # (channel, datagram)
        self.connects: list[Connect] = []
        self.written: dict[int, bytes] = {}
        self.closed: list[int] = []
        self.lookups: list[Lookup] = []
        self.refuse_open: int | None = None  # errno for the next OpenChannel
        self.wake_at: int | None = None
        self.dirty = False
        session.bind([])
        session.start(clock.now)

    def poll(self) -> Step:
        """Poll until the session has nothing more to do now, as the driver does; the last
        step."""
        while True:
            self.dirty = False
            step = self.session.poll(self.clock.now)
            for action in step.actions:
                self.perform(action)
            self.wake_at = step.wake_at
            if step.done:
                return step
            due = step.wake_at is not None and step.wake_at <= self.clock.now
            if not (self.dirty or due):
                return step

    def perform(self, action: object) -> None:
        if isinstance(action, OpenChannel):
            if self.refuse_open is not None:
                self.session.on_opened(action.token, -1, self.refuse_open)
                self.dirty = True
                return
            index = len(self.channels)
            assert action.spec.connect is not None
            self.channels[index] = action.spec.connect
            self.open.add(index)
            opened = Opened("udp", action.spec.version, None, ("198.51.100.9", 40000), False)
            self.session.on_opened(action.token, index, opened)
            self.dirty = True  # the driver's input(): polled again at once
        elif isinstance(action, Send):
            assert action.channel in self.open
            self.sent.append((action.channel, action.data))
            self.session.on_sent(action.token, self.clock.now, None)
        elif isinstance(action, CloseChannel):
            self.open.discard(action.channel)
        elif isinstance(action, Connect):
            self.connects.append(action)
        elif isinstance(action, Write):
            self.written[action.token] = self.written.get(action.token, b"") + action.data
        elif isinstance(action, Close):
            self.closed.append(action.token)
        elif isinstance(action, Lookup):
            self.lookups.append(action)
        else:
            raise AssertionError(f"unexpected action {action!r}")

    # -- what the tests look at and answer with -------------------------------------------------

    def query(self) -> dns.message.Message:
        """The last query sent, over UDP or TCP."""
        if self.connects and self.connects[-1].token in self.written:
            wire = self.written[self.connects[-1].token][2:]
        else:
            wire = self.sent[-1][1]
        return dns.message.from_wire(wire)

    def datagram(self, wire: bytes, source: str = SERVER, after: float = 0.0) -> Step:
        """A datagram on the channel of the last send, `after` seconds from now."""
        self.clock.advance(after)
        channel = self.sent[-1][0]
        self.session.on_packet(channel, received(wire, source, self.clock, port=53))
        return self.poll()

    def icmp(self, code: int, kind: int, icmp_code: int, after: float = 0.0) -> Step:
        self.clock.advance(after)
        channel = self.sent[-1][0]
        error = SockError(code, 2, kind, icmp_code, 0, "198.51.100.254")
        self.session.on_packet(channel, Received(b"", SERVER, 53, self.clock.now, None, error))
        return self.poll()

    def connect(self, error: int = 0, after: float = 0.0) -> Step:
        self.clock.advance(after)
        connected(self.session, self.connects[-1].token, self.clock, error=error)
        return self.poll()

    def stream(self, data: bytes, after: float = 0.0) -> Step:
        self.clock.advance(after)
        self.session.on_data(self.connects[-1].token, data, self.clock.now)
        return self.poll()

    def wait(self) -> Step:
        """Let the fake clock run to the session's next wake-up."""
        assert self.wake_at is not None, "the session waits for nothing"
        self.clock.now = max(self.clock.now, self.wake_at)
        return self.poll()


def answer(
    query: dns.message.Message,
    *records: tuple[str, int, str, str],
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR,
    aa: bool = True,
    authority: tuple[tuple[str, int, str, str], ...] = (),
    tc: bool = False,
) -> bytes:
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    if aa:
        response.flags |= dns.flags.AA
    if tc:
        response.flags |= dns.flags.TC
    for name, ttl, rtype, value in records:
        response.answer.append(dns.rrset.from_text(name, ttl, "IN", rtype, value))
    for name, ttl, rtype, value in authority:
        response.authority.append(dns.rrset.from_text(name, ttl, "IN", rtype, value))
    return response.to_wire()


def framed(wire: bytes) -> bytes:
    return len(wire).to_bytes(2, "big") + wire


def resolve(name: str, *servers: str, **options: Any) -> tuple[DnsSession, Wire, FakeClock]:
    clock = FakeClock()
    session = DnsSession(name, options.pop("qtype", "A"), [Server(s) for s in servers], **options)
    wire = Wire(session, clock)
    wire.poll()
    return session, wire, clock


SOA = ("lab.", 300, "SOA", "ns.lab. admin.lab. 1 3600 600 86400 300")


# -- answers -----------------------------------------------------------------------------------


def test_records_are_the_answer_with_the_chain_before_them() -> None:
    session, wire, clock = resolve("www.lab.", SERVER)
    q = wire.query()
    step = wire.datagram(
        answer(
            q,
            ("www.lab.", 300, "CNAME", "web.lab."),
            ("web.lab.", 120, "CNAME", "host.lab."),
            ("host.lab.", 60, "A", "198.51.100.6"),
        ),
        after=0.012,
    )
    assert step.done
    r = session.result()
    assert (r.status, r.rcode, r.server, r.transport) == (
        Status.OK,
        "NOERROR",
        "198.51.100.1:53",
        "udp",
    )
    assert [(c.name, c.ttl, c.value) for c in r.chain] == [
        ("www.lab.", 300, "web.lab."),
        ("web.lab.", 120, "host.lab."),
    ]
    assert r.addresses == ("198.51.100.6",) and r.authoritative
    assert r.time == pytest.approx(0.012) and r.attempts[0].sent == 1
    assert sentence(r) == "1 A record (authoritative answer from 198.51.100.1:53)"
    assert wire.open == set()  # the channel was closed when the answer came


def test_nxdomain_is_final_and_names_the_alias_that_leads_nowhere() -> None:
    session, wire, _ = resolve("dangling.lab.", SERVER, OTHER)
    step = wire.datagram(
        answer(
            wire.query(),
            ("dangling.lab.", 300, "CNAME", "gone.lab."),
            rcode=dns.rcode.NXDOMAIN,
            authority=(SOA,),
        )
    )
    r = session.result()
    assert step.done and (r.status, r.rcode) == (Status.NXDOMAIN, "NXDOMAIN")
    assert len(wire.sent) == 1  # NXDOMAIN is final: the second server is not asked
    assert sentence(r) == (
        "NXDOMAIN: dangling.lab. is an alias of gone.lab., which does not exist "
        "(authoritative answer from 198.51.100.1:53)"
    )


def test_nodata_says_the_name_exists_and_ignores_records_for_other_names() -> None:
    session, wire, _ = resolve("v4only.lab.", SERVER, qtype="AAAA")
    wire.datagram(
        answer(wire.query(), ("other.lab.", 300, "AAAA", "2001:db8::9"), authority=(SOA,))
    )
    r = session.result()
    assert (r.status, r.answers, r.chain) == (Status.NODATA, (), ())
    assert sentence(r) == (
        "no AAAA records: v4only.lab. exists but has none of that type (authoritative answer "
        "from 198.51.100.1:53); the answer section holds 1 record for other names, ignored"
    )


def test_a_referral_is_not_taken_for_nodata() -> None:
    session, wire, _ = resolve("www.sub.lab.", SERVER)
    wire.datagram(
        answer(wire.query(), aa=False, authority=(("sub.lab.", 300, "NS", "ns.sub.lab."),))
    )
    r = session.result()
    assert (r.status, r.rcode, r.incomplete) == (Status.INCOMPLETE, "NOERROR", True)
    assert sentence(r) == (
        "referral from 198.51.100.1:53: no answer for www.sub.lab., only the servers of "
        "sub.lab. (ns.sub.lab.); ask a recursive resolver or one of those"
    )


def test_a_cname_loop_is_named_and_not_chased() -> None:
    session, wire, _ = resolve("loop1.lab.", SERVER)
    step = wire.datagram(
        answer(
            wire.query(),
            ("loop1.lab.", 300, "CNAME", "loop2.lab."),
            ("loop2.lab.", 300, "CNAME", "loop1.lab."),
        )
    )
    r = session.result()
    assert step.done and (r.status, r.chased) == (Status.INCOMPLETE, ())
    assert len(wire.sent) == 1
    assert sentence(r).startswith("CNAME loop: loop1.lab. -> loop2.lab. -> loop1.lab.")


def test_a_cname_without_its_target_is_chased_at_the_same_server_first() -> None:
    session, wire, _ = resolve("alias.dm.", SERVER, OTHER)
    wire.datagram(answer(wire.query(), ("alias.dm.", 0, "CNAME", "target.dm."), aa=False))
    q = wire.query()
    assert (str(q.question[0].name), wire.channels[wire.sent[-1][0]]) == (
        "target.dm.",
        (SERVER, 53),
    )
    step = wire.datagram(answer(q, ("target.dm.", 0, "A", "198.51.100.5"), aa=False))
    r = session.result()
    assert step.done and (r.status, r.incomplete, r.addresses) == (
        Status.OK,
        True,
        ("198.51.100.5",),
    )
    [chase] = r.chased
    assert (chase.name, chase.after, chase.server, chase.status) == (
        "target.dm.",
        "198.51.100.1:53",
        "198.51.100.1:53",
        Status.OK,
    )
    assert sentence(r) == (
        "incomplete answer from 198.51.100.1:53: it ends at the CNAME to target.dm.; asked "
        "for target.dm., 198.51.100.1:53 gives 1 A record"
    )


# -- transports ---------------------------------------------------------------------------------


def test_a_truncated_answer_is_asked_again_over_tcp_with_the_same_query() -> None:
    session, wire, _ = resolve("big.lab.", SERVER)
    udp_query = wire.query()
    wire.datagram(answer(udp_query, tc=True))
    [connect] = wire.connects
    assert (connect.address, connect.port, connect.keep) == (SERVER, 53, True)
    wire.connect(after=0.001)
    tcp_query = wire.query()
    assert tcp_query.id == udp_query.id  # one query per server, retried as it is
    records = [("big.lab.", 300, "A", f"198.51.100.{i}") for i in range(1, 101)]
    step = wire.stream(framed(answer(tcp_query, *records)), after=0.002)
    r = session.result()
    assert step.done and (r.transport, len(r.answers)) == ("tcp", 100)
    assert [(a.transport, a.truncated) for a in r.attempts] == [("udp", True), ("tcp", False)]
    assert connect.token in wire.closed


def test_tc_over_tcp_too_is_incomplete_not_nodata() -> None:
    session, wire, _ = resolve("truncated-tcp.lab.", SERVER, tcp=True)
    wire.connect()
    step = wire.stream(framed(answer(wire.query(), tc=True)))
    r = session.result()
    assert step.done and (r.status, r.rcode) == (Status.INCOMPLETE, "NOERROR")
    assert sentence(r) == (
        "incomplete answer from 198.51.100.1:53: the answer has TC set over TCP: the server "
        "says it is incomplete"
    )


def test_a_tcp_answer_read_in_pieces_waits_past_a_reply_to_another_query() -> None:
    session, wire, _ = resolve("host.lab.", SERVER, tcp=True)
    wire.connect()
    q = wire.query()
    other = dns.message.make_query("other.lab.", "A")
    stray = framed(answer(other, ("other.lab.", 1, "A", "198.51.100.99")))
    real = framed(answer(q, ("host.lab.", 60, "A", "198.51.100.6")))
    data = stray + real
    for i in range(0, len(data), 7):  # a server that drips
        step = wire.stream(data[i : i + 7])
    r = session.result()
    assert step.done and r.addresses == ("198.51.100.6",)
    assert r.attempts[0].ignored == 1  # another ID: waited past


def test_a_tcp_answer_cut_short_is_malformed() -> None:
    session, wire, _ = resolve("host.lab.", SERVER, tcp=True)
    wire.connect()
    whole = framed(answer(wire.query(), ("host.lab.", 60, "A", "198.51.100.6")))
    wire.stream(whole[:20])
    step = wire.stream(b"")
    r = session.result()
    assert step.done and r.status is Status.MALFORMED
    assert sentence(r) == (
        "malformed answer from 198.51.100.1:53: the server closed the connection after 18 "
        "bytes of the answer"
    )


# -- replies that are not the answer -----------------------------------------------------------


def test_a_wrong_id_is_waited_past_and_the_right_one_taken() -> None:
    session, wire, _ = resolve("wrong-id-first.lab.", SERVER)
    q = wire.query()
    forged = bytearray(answer(q, ("wrong-id-first.lab.", 1, "A", "198.51.100.66")))
    forged[:2] = ((q.id + 1) % 65536).to_bytes(2, "big")
    step = wire.datagram(bytes(forged))
    assert not step.done  # still waiting for the real answer
    wire.datagram(answer(q, ("wrong-id-first.lab.", 1, "A", "198.51.100.1")))
    r = session.result()
    assert r.addresses == ("198.51.100.1",) and r.attempts[0].ignored == 1
    assert attempt_text(r.attempts[0]) == (
        f"ignored 1 reply that is not an answer to this query: ID mismatch (expected ID "
        f"{q.id}, got {(q.id + 1) % 65536})"
    )


@pytest.mark.parametrize(
    ("stray", "said"),
    [
        ("other-question", "question mismatch (got other.lab. A)"),
        ("short", "a 5-byte message, shorter than a DNS header"),
        ("echo", "a query, not a response (QR clear)"),
    ],
)
def test_replies_that_answer_another_question_are_waited_past_until_the_timeout(
    stray: str, said: str
) -> None:
    session, wire, _ = resolve("x.lab.", SERVER, wait=1.0, tries=1)
    q = wire.query()
    if stray == "other-question":
        other = dns.message.make_query("other.lab.", "A")
        other.id = q.id
        data = answer(other, ("other.lab.", 1, "A", "198.51.100.99"))
    elif stray == "short":
        data = q.to_wire()[:5]
    else:
        data = q.to_wire()  # our own query sent back
    assert not wire.datagram(data, after=0.1).done
    step = wire.wait()
    r = session.result()
    assert step.done and r.status is Status.TIMEOUT
    assert sentence(r) == (
        "timeout: no answer from 198.51.100.1:53 (no answer in 1.0 s (1 query sent); ignored "
        f"1 reply that is not an answer to this query: {said})"
    )


def test_a_compression_pointer_loop_is_malformed() -> None:
    session, wire, _ = resolve("pointer-loop.lab.", SERVER)
    q = wire.query()
    header = q.id.to_bytes(2, "big") + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00"
    looped = (
        header
        + b"\xc0\x0c\x00\x01\x00\x01"
        + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc6\x33\x64\x01"
    )
    wire.datagram(looped)
    r = session.result()
    assert r.status is Status.MALFORMED
    assert sentence(r).startswith(
        f"malformed answer from 198.51.100.1:53: {len(looped)} bytes that do not parse as a "
        "DNS message"
    )


def test_a_server_that_answers_twice_gives_one_answer() -> None:
    session, wire, _ = resolve("twice.lab.", SERVER)
    q = wire.query()
    first = answer(q, ("twice.lab.", 300, "A", "198.51.100.1"))
    step = wire.datagram(first)
    assert step.done
    session.on_packet(wire.sent[-1][0], received(first, SERVER, wire.clock))  # late: ignored
    assert len(session.result().answers) == 1


def test_a_flood_of_strays_is_counted_and_three_kinds_kept() -> None:
    session, wire, _ = resolve("flood.lab.", SERVER)
    q = wire.query()
    for i in range(50):
        forged = bytearray(answer(q))
        forged[:2] = ((q.id + 1 + i) % 65536).to_bytes(2, "big")
        wire.datagram(bytes(forged))
    wire.datagram(answer(q, ("flood.lab.", 1, "A", "198.51.100.1")))
    attempt = session.result().attempts[0]
    assert (attempt.ignored, len(attempt.strays)) == (50, 3)
    assert attempt_text(attempt).endswith("; ...") and len(attempt_text(attempt)) < 300


# -- failures and the next server ----------------------------------------------------------------


def test_silence_is_retransmitted_then_the_next_server_is_asked() -> None:
    session, wire, clock = resolve("www.lab.", SERVER, OTHER, wait=0.5, tries=2)
    first = clock.now
    wire.wait()  # 0.5 s: the second try, the same query
    assert [d for _c, d in wire.sent] == [wire.sent[0][1]] * 2
    wire.wait()  # 1.0 s: the first server is given up
    assert wire.channels[wire.sent[-1][0]] == (OTHER, 53)
    assert clock.now - first == 1_000_000_000
    wire.datagram(answer(wire.query(), ("www.lab.", 1, "A", "198.51.100.6")), after=0.003)
    r = session.result()
    assert (r.status, r.server) == (Status.OK, "198.51.100.2:53")
    silent, good = r.attempts
    assert (silent.outcome, silent.sent, silent.time) == ("timeout", 2, 1.0)
    assert attempt_text(silent) == "no answer in 1.0 s (2 queries sent)"
    assert good.time == pytest.approx(0.003)


def test_servfail_sends_the_question_to_the_next_server_and_is_said_when_all_fail() -> None:
    session, wire, _ = resolve("servfail.lab.", SERVER, OTHER)
    wire.datagram(answer(wire.query(), rcode=dns.rcode.SERVFAIL, aa=False))
    wire.datagram(answer(wire.query(), rcode=dns.rcode.REFUSED, aa=False), source=OTHER)
    r = session.result()
    assert (r.status, r.rcode, r.server) == (Status.SERVFAIL, "SERVFAIL", "198.51.100.1:53")
    assert sentence(r) == (
        "SERVFAIL: the server failed to produce an answer (a broken upstream, a lame "
        "delegation or a DNSSEC failure) (198.51.100.1:53)"
    )


def test_port_unreachable_ends_the_exchange_but_host_unreachable_is_waited_past() -> None:
    session, wire, _ = resolve("www.lab.", SERVER, wait=1.0, tries=1)
    # ICMP host unreachable (3/1) is soft (RFC 1122 §4.2.3.9): the server may still answer.
    assert not wire.icmp(errno.EHOSTUNREACH, 3, 1, after=0.1).done
    step = wire.icmp(errno.ECONNREFUSED, 3, 3, after=0.1)
    r = session.result()
    assert step.done and r.status is Status.UNREACHABLE
    assert sentence(r) == (
        "no server reachable (198.51.100.1:53): nothing listens there (connection refused / "
        "ICMP port unreachable)"
    )


def test_a_server_without_a_route_is_unreachable_at_once() -> None:
    clock = FakeClock()
    session = DnsSession("www.lab.", "A", [Server(SERVER)])
    wire = Wire(session, clock)
    wire.refuse_open = errno.ENETUNREACH
    step = wire.poll()
    r = session.result()
    assert step.done and (r.status, r.attempts[0].sent, r.attempts[0].time) == (
        Status.UNREACHABLE,
        0,
        0.0,
    )
    assert sentence(r) == (
        "no server reachable (198.51.100.1:53): no route to the server (Network is unreachable)"
    )


def test_truncated_over_udp_and_refused_over_tcp_says_both() -> None:
    session, wire, _ = resolve("truncated.lab.", SERVER)
    wire.datagram(answer(wire.query(), tc=True))
    step = wire.connect(error=errno.ECONNREFUSED)
    r = session.result()
    assert step.done and r.status is Status.UNREACHABLE
    assert sentence(r) == (
        "198.51.100.1:53 could not be asked over TCP: its UDP answer was truncated (TC), and "
        "over TCP: nothing listens there (connection refused / ICMP port unreachable)"
    )


# -- one exchange alone, and the system resolver -------------------------------------------------


def test_one_exchange_returns_the_message_as_it_came_without_retrying() -> None:
    from netladder.names.model import ExchangeOptions

    clock = FakeClock()
    query = dns.message.make_query("lab.", "SOA", use_edns=False)
    session = ExchangeSession(ExchangeOptions(Server(SERVER), "lab.", "SOA"), query)
    wire = Wire(session, clock)
    wire.poll()
    step = wire.datagram(answer(wire.query(), SOA, tc=True), after=0.004)
    result = session.result()
    assert step.done and result.ok and not wire.connects  # TC is the caller's to judge
    assert result.message.flags & dns.flags.TC and result.elapsed == pytest.approx(0.004)


def test_one_exchange_that_hears_nothing_times_out_after_one_query() -> None:
    from netladder.names.model import ExchangeOptions

    clock = FakeClock()
    query = dns.message.make_query("lab.", "A")
    session = ExchangeSession(ExchangeOptions(Server(SERVER), "lab.", wait=0.2), query)
    wire = Wire(session, clock)
    wire.poll()
    step = wire.wait()
    result = session.result()
    assert step.done and len(wire.sent) == 1 and result.attempt.outcome == "timeout"


def test_the_system_resolver_is_asked_through_a_lookup_for_every_address() -> None:
    clock = FakeClock()
    session = SystemSession("host.lab", wait=10.0)
    wire = Wire(session, clock)
    wire.poll()
    [lookup] = wire.lookups
    assert (lookup.host, lookup.every) == ("host.lab", True)
    looked_up(session, lookup.token, "host.lab", "no address associated", clock)
    assert sentence(session.result()) == "no address associated"


def test_a_hung_system_resolver_is_cut_off_at_its_wait() -> None:
    clock = FakeClock()
    session = SystemSession("host.lab", wait=5.0)
    wire = Wire(session, clock)
    wire.poll()
    step = wire.wait()
    assert step.done and sentence(session.result()) == "no result in 5 s"
