"""`forward verify`'s probes and findings without a socket or root (issue 14, area D): the TCP
dialogue on l4's BannerSession and the UDP exchange on UdpExchange over fabricated input, read
back as the Attempts verify reasons with; and every finding said, word for word, as the engine
said it before its sentences moved to render/forward.py.  test_forward.py proves the same
against curl, socat, nmap and iptables in the lab."""

from __future__ import annotations

import errno
import os

import pytest

from netladder.nat.model import Attempt, Cause, Finding, VerifyResult
from netladder.nat.netns import Vantage
from netladder.nat.rules import ForeignRule
from netladder.nat.verify import TCP_PROBE, UDP_PROBE, _attempt_of, _probe, _target_failure
from netladder.net.linux import SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_LOCAL
from netladder.net.session import Connect, Opened, Send, Session, Step
from netladder.net.sockets import Received, SockError
from netladder.output import to_jsonable
from netladder.render.forward import finding_sentence, sentence, verify_lines
from sessions import FakeClock, connected, stream, written

HOST = "198.51.100.10"
ROUTER = "198.51.100.1"
HERE = Vantage("this machine")


def tcp(clock: FakeClock, wait: float = 2.0) -> Session[object]:
    session = _probe(HERE, HOST, 22, "tcp", wait)
    session.start(clock.now)
    step = session.poll(clock.now)
    assert [type(a) for a in step.actions] == [Connect]
    return session


def opened(clock: FakeClock, wait: float = 2.0) -> Session[object]:
    session = tcp(clock, wait)
    clock.advance(0.001)
    connected(session, 0, clock)
    session.poll(clock.now)
    return session


def until_done(session: Session[object], clock: FakeClock, step: float = 0.05) -> list[Step]:
    steps = [session.poll(clock.now)]
    while not steps[-1].done:
        clock.advance(step)
        steps.append(session.poll(clock.now))
    return steps


def icmp(code: int, sender: str) -> SockError:
    return SockError(errno.ECONNREFUSED, SO_EE_ORIGIN_ICMP, 3, code, 0, sender)


def test_a_greeting_is_the_answer_and_no_probe_is_sent() -> None:
    clock = FakeClock()
    session = opened(clock)
    steps = stream(session, 0, [b"SSH-2.0-OpenSSH_9.2p1\r\n"], clock, eof=False)
    steps += until_done(session, clock)
    assert written(steps) == b""
    attempt = _attempt_of(HOST, 22, session)
    assert (attempt.outcome, attempt.answer, attempt.connect_time) == (
        "answered",
        "SSH-2.0-OpenSSH_9.2p1",
        0.001,
    )
    assert attempt.connected and attempt.error is None


def test_a_silent_service_is_asked_with_the_probe_and_date_lines_are_dropped() -> None:
    clock = FakeClock()
    session = opened(clock)
    clock.advance(0.5)  # BANNER_WAIT_S: it did not speak first
    step = session.poll(clock.now)
    assert written([step]) == TCP_PROBE
    answer = [b"HTTP/1.0 200 OK\r\n", b"Date: Mon, 07 Dec 2026 22:00:00 GMT\r\n\r\nhello"]
    stream(session, 0, answer, clock, spacing=0.05, eof=True)
    attempt = _attempt_of(HOST, 22, session)
    assert (attempt.outcome, attempt.answer) == ("answered", "HTTP/1.0 200 OK\n\nhello")


def test_silence_after_the_probe_is_silent_and_an_end_without_bytes_is_closed() -> None:
    clock = FakeClock()
    session = opened(clock)
    until_done(session, clock)
    silent = _attempt_of(HOST, 22, session)
    assert (silent.outcome, silent.answer, silent.connected) == ("silent", "", True)
    assert 2.5 <= silent.elapsed < 2.6  # the greeting's 0.5 s, then the probe's 2 s

    session = opened(clock)
    stream(session, 0, [], clock, eof=True)
    closed = _attempt_of(HOST, 22, session)
    assert (closed.outcome, closed.answer) == ("closed", "")


def test_a_trickling_peer_gets_the_wait_and_not_more() -> None:
    clock = FakeClock()
    session = opened(clock, wait=1.0)
    steps = stream(session, 0, [b"x"] * 40, clock, spacing=0.1, eof=False)
    done = next(i for i, s in enumerate(steps) if s.done)
    assert done == 10  # one second after its first byte, however slowly it keeps talking
    attempt = _attempt_of(HOST, 22, session)
    # what came up to that second (its first byte at 0 s, the last at 1.0 s) and nothing after
    assert attempt.outcome == "answered" and attempt.answer == "x" * 11


def test_a_reset_after_the_handshake_is_the_service_resetting() -> None:
    clock = FakeClock()
    session = opened(clock)
    stream(session, 0, [b"220 mail"], clock, eof=False)
    session.on_error(0, errno.ECONNRESET, clock.now)
    attempt = _attempt_of(HOST, 22, session)
    assert (attempt.outcome, attempt.answer, attempt.error) == (
        "reset",
        None,
        "Connection reset by peer",
    )
    assert attempt.connected


@pytest.mark.parametrize(
    ("error", "queued", "outcome", "reason", "text"),
    [
        (errno.ECONNREFUSED, None, "refused", "conn-refused", "Connection refused"),
        (
            errno.ECONNREFUSED,
            icmp(3, ROUTER),
            "filtered",  # a router's port unreachable: nmap's filtered, not closed
            "port-unreach",
            f"Connection refused; ICMP Destination Port Unreachable from {ROUTER}",
        ),
        (
            errno.ECONNREFUSED,
            icmp(3, HOST),
            "refused",
            "port-unreach",
            f"Connection refused; ICMP Destination Port Unreachable from {HOST}",
        ),
        (
            errno.EHOSTUNREACH,
            icmp(13, ROUTER),
            "unreachable",
            "admin-prohibited",
            f"No route to host; ICMP Packet filtered from {ROUTER}",
        ),
        # This machine's own failures: the call that failed, as socat says it.
        (errno.ENETUNREACH, None, "unreachable", None, "connect: Network is unreachable"),
        (errno.EPERM, None, "error", "local-prohibited", "connect: Operation not permitted"),
    ],
)
def test_a_failed_connect_says_what_answered_and_who_sent_it(
    error: int, queued: SockError | None, outcome: str, reason: str | None, text: str
) -> None:
    clock = FakeClock()
    session = tcp(clock)
    clock.advance(0.003)
    connected(session, 0, clock, error=error, icmp=queued)
    assert session.poll(clock.now).done
    attempt = _attempt_of(HOST, 22, session)
    assert (attempt.outcome, attempt.reason, attempt.error) == (outcome, reason, text)
    assert attempt.port == 22 and attempt.answer is None and not attempt.connected


def test_no_handshake_within_the_wait_is_a_timeout() -> None:
    clock = FakeClock()
    session = tcp(clock, wait=2.0)
    until_done(session, clock)
    attempt = _attempt_of(HOST, 22, session)
    assert (attempt.outcome, attempt.reason, attempt.connect_time) == (
        "timeout",
        "no-response",
        None,
    )


def test_a_udp_answer_an_icmp_error_and_silence() -> None:
    clock = FakeClock()
    session = _probe(HERE, HOST, 53, "udp", 2.0)
    session.start(clock.now)
    session.poll(clock.now)
    session.on_opened(0, 0, Opened("dgram", 4, None, None, False))
    sends = [a for a in session.poll(clock.now).actions if isinstance(a, Send)]
    assert [s.data for s in sends] == [UDP_PROBE]
    clock.advance(0.002)
    session.on_packet(0, Received(b"pong\r\nDate: x\n", HOST, 53, clock.now))
    answered = _attempt_of(HOST, 53, session)
    assert (answered.outcome, answered.answer) == ("answered", "pong")

    session = _probe(HERE, HOST, 53, "udp", 2.0)
    session.start(clock.now)
    session.poll(clock.now)
    session.on_opened(0, 0, Opened("dgram", 4, None, None, False))
    refusal = Received(b"", HOST, 53, clock.now, error=icmp(3, HOST))
    session.on_packet(0, refusal)
    refused = _attempt_of(HOST, 53, session)
    assert (refused.outcome, refused.reason) == ("refused", "port-unreach")

    session = _probe(HERE, HOST, 53, "udp", 2.0)
    session.start(clock.now)
    until_done(session, clock)
    silent = _attempt_of(HOST, 53, session)
    assert (silent.outcome, silent.reason) == ("timeout", "no-response")


def udp(clock: FakeClock) -> Session[object]:
    session = _probe(HERE, HOST, 53, "udp", 2.0)
    session.start(clock.now)
    session.poll(clock.now)
    session.on_opened(0, 0, Opened("dgram", 4, None, None, False))
    assert [type(a) for a in session.poll(clock.now).actions] == [Send]
    return session


def test_a_refused_udp_send_is_the_sendmsg_error_at_once_not_a_timeout() -> None:
    # An OUTPUT rule's drop (EPERM), or no route left by the time of the send: socat says
    # "write(...): Operation not permitted", ping "sendmsg: ...".
    for error, outcome, reason in (
        (errno.EPERM, "error", "local-prohibited"),
        (errno.ENETUNREACH, "unreachable", None),
    ):
        clock = FakeClock()
        session = udp(clock)
        clock.advance(0.001)
        session.on_sent(0, clock.now, error)
        assert session.poll(clock.now).done
        attempt = _attempt_of(HOST, 53, session)
        text = f"sendmsg: {os.strerror(error)}"
        assert (attempt.outcome, attempt.reason, attempt.error) == (outcome, reason, text)
        assert attempt.elapsed == pytest.approx(0.001)


def test_a_udp_socket_that_cannot_connect_says_connect() -> None:
    clock = FakeClock()
    session = _probe(HERE, HOST, 53, "udp", 2.0)
    session.start(clock.now)
    session.poll(clock.now)
    session.on_opened(0, -1, errno.ENETUNREACH)
    assert session.poll(clock.now).done
    attempt = _attempt_of(HOST, 53, session)
    assert (attempt.outcome, attempt.reason, attempt.error) == (
        "unreachable",
        None,
        "connect: Network is unreachable",
    )


def test_a_local_error_queued_for_the_datagram_ends_the_exchange() -> None:
    # Not an ICMP error: the kernel's own about our datagram (e.g. EMSGSIZE, origin local).
    clock = FakeClock()
    session = udp(clock)
    session.on_sent(0, clock.now, None)
    clock.advance(0.002)
    local = SockError(errno.EMSGSIZE, SO_EE_ORIGIN_LOCAL, 0, 0, 1400, None)
    session.on_packet(0, Received(b"", "", 0, clock.now, error=local))
    assert session.poll(clock.now).done
    attempt = _attempt_of(HOST, 53, session)
    assert (attempt.outcome, attempt.error) == ("error", "sendmsg: Message too long")
    assert attempt.elapsed == pytest.approx(0.002)


# -- the findings, as the engine worded them before they moved to render/forward.py -----------

RULE = ForeignRule(
    "ip", "nat", "PREROUTING", "prerouting", -100, 7, "dnat", None, ("tcp",), ((80, 80),),
    "tcp dport 80 dnat", 1,
)  # fmt: skip
SAID = {
    Finding("no-rule", "tcp", 80): "netladder has no forward for tcp port 80",
    Finding("no-rule-elsewhere", "tcp", 80, rule=RULE): (
        "netladder has no forward for tcp port 80; table ip nat chain PREROUTING handle 7 "
        "handles it (tcp dport 80 dnat)"
    ),
    Finding("no-route", "tcp", 80, vantage="namespace nl-x-client"): (
        "namespace nl-x-client has no route to this machine"
    ),
    Finding("output-hook", "tcp", 80): (
        "connections made on this machine take the OUTPUT hook, which this forward does not "
        "cover: add it with --local, or verify --from a namespace or host"
    ),
    Finding("shadowed", "tcp", 80, rule=RULE): (
        "table ip nat chain PREROUTING handle 7 (tcp dport 80 dnat) catches tcp port 80 before "
        "netladder's rule"
    ),
    Finding("not-reached", "tcp", 80, outcome="timeout", via="203.0.113.1"): (
        "no connection reached the rule (timeout from 203.0.113.1): a wrong address, or a "
        "filter before NAT?"
    ),
    Finding(
        "not-sent-firewall",
        "udp",
        7007,
        vantage="namespace nl-x-client",
        error="sendmsg: Operation not permitted",
    ): (
        "no connection reached the rule: namespace nl-x-client could not send it (sendmsg: "
        "Operation not permitted): its own firewall refuses it (an OUTPUT rule there)"
    ),
    Finding(
        "not-sent-no-route",
        "udp",
        7007,
        vantage="namespace nl-x-client",
        via="203.0.113.1",
        error="connect: Network is unreachable",
    ): (
        "no connection reached the rule: namespace nl-x-client could not send it (connect: "
        "Network is unreachable): it has no route to 203.0.113.1"
    ),
    Finding("elsewhere", "tcp", 80): (
        "the connection was answered, but not through netladder's rule"
    ),
    Finding("forwarding-off", "tcp", 80, sysctl="net.ipv4.ip_forward"): (
        "the rule was hit but net.ipv4.ip_forward is 0, so the kernel drops the translated "
        "packets (sysctl -w net.ipv4.ip_forward=1)"
    ),
    Finding("target-closed", "udp", 53, "198.51.100.10:53", 53, error="Connection refused"): (
        "the rule was hit, but the target 198.51.100.10:53 itself is closed (Connection refused)"
    ),
    Finding("target-refused", "tcp", 80, None, 8080, error="Connection refused"): (
        "the rule was hit, but the target port 8080 here itself refused the connection "
        "(Connection refused): closed, nothing listens"
    ),
    Finding("target-silent", "udp", 53, "198.51.100.10:53", 53, wait=2.0): (
        "the rule was hit, but the target 198.51.100.10:53 itself sent no reply and no ICMP "
        "error within 2 s: open|filtered (the service may ignore this probe, or something "
        "drops it)"
    ),
    Finding("target-dropped", "tcp", 80, "[2001:db8::10]:22", 22, wait=0.5): (
        "the rule was hit, but the target [2001:db8::10]:22 itself is filtered: no SYN-ACK, "
        "reset or ICMP error within 0.5 s (something drops the packets, or no host has that "
        "address)"
    ),
    Finding("no-answer", "tcp", 80, outcome="refused"): (
        "the rule was hit and the target answers directly, but not through the forward "
        "(refused): a filter on the way, or replies that do not come back through this "
        "machine?"
    ),
    Finding("wrong-answer", "tcp", 80, through="SSH-2.0-a", direct="SSH-2.0-'b'"): (
        "something else answered: 'SSH-2.0-a' through the forward, \"SSH-2.0-'b'\" from the target"
    ),
    Finding("ok", "tcp", 8022, "198.51.100.10:22", 22): (
        "the intended target 198.51.100.10:22 answered through the forward"
    ),
}


@pytest.mark.parametrize(
    ("found", "said"), list(SAID.items()), ids=lambda v: getattr(v, "kind", "")
)
def test_each_finding_is_said_as_the_engine_said_it(found: Finding, said: str) -> None:
    assert finding_sentence(found) == said == sentence(found)


# What the engine's _target_failure said after "the rule was hit, but the target W itself ".
TARGET_SAID = [
    ("tcp", "refused", "port-unreach", "E", Cause.TARGET_FILTERED,
     "is filtered: a firewall rejects it with an ICMP error, not a reset (E)"),
    ("udp", "filtered", "port-unreach", "E", Cause.TARGET_FILTERED,
     "is filtered: a firewall rejects it with an ICMP error, not a reset (E)"),
    ("udp", "refused", "port-unreach", "E", Cause.TARGET_CLOSED, "is closed (E)"),
    ("tcp", "refused", "conn-refused", None, Cause.TARGET_CLOSED,
     "refused the connection: closed, nothing listens"),
    ("tcp", "error", "local-prohibited", "E", Cause.TARGET_FILTERED,
     "is filtered by this machine's own firewall (E)"),
    ("tcp", "unreachable", "admin-prohibited", "E", Cause.TARGET_FILTERED, "is filtered (E)"),
    ("tcp", "unreachable", None, "E", Cause.TARGET_UNREACHABLE,
     "is unreachable (E): no route from this machine"),
    ("tcp", "unreachable", "host-unreach", "E", Cause.TARGET_UNREACHABLE, "is unreachable (E)"),
    ("tcp", "error", None, None, Cause.TARGET_UNREACHABLE, "is unreachable"),
]  # fmt: skip


@pytest.mark.parametrize(("proto", "outcome", "reason", "error", "cause", "how"), TARGET_SAID)
def test_a_target_failure_is_named_as_nmap_would_with_its_evidence(
    proto: str, outcome: str, reason: str | None, error: str | None, cause: Cause, how: str
) -> None:
    attempt = Attempt(HOST, 22, outcome, None, 0.1, error, None, reason)
    named, kind = _target_failure(attempt, proto)
    found = Finding(kind, proto, 8022, "198.51.100.10:22", 22, error=error)
    assert named is cause
    assert (
        finding_sentence(found) == f"the rule was hit, but the target 198.51.100.10:22 itself {how}"
    )


def test_json_detail_and_the_verdict_line_are_the_same_sentence() -> None:
    found = Finding("no-rule", "tcp", 9999)
    result = VerifyResult(
        9999, "tcp", "this machine", None, None, None, None, 0, "output", None, (),
        Cause.NO_RULE, found, 0.0123,
    )  # fmt: skip
    doc = to_jsonable(result, sentence)
    assert list(doc)[-4:] == ["cause", "detail", "elapsed_ms", "ok"]
    assert doc["detail"] == "netladder has no forward for tcp port 9999"
    assert doc["elapsed_ms"] == pytest.approx(12.3)
    line = list(verify_lines(result))[-1]
    assert "FAIL (no_rule): netladder has no forward for tcp port 9999" in line
