"""TraceSession without a socket: fabricated ICMP errors, echo replies and TCP segments on a fake
clock (issue 14 point 6).

The lab tests (`tests/test_trace.py`) hold the same behaviours beside traceroute and mtr; here
each rule is pinned probe by probe: how hops are assembled from what answers, who may end a
trace, how long a probe waits once others answered, when silence stops the trace, that every
probe keeps one flow, and how report cycles count loss.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Sequence
from typing import Any

import pytest

from netladder.model import replace
from netladder.net.linux import SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6, SO_EE_ORIGIN_LOCAL
from netladder.net.session import (
    Close,
    Connect,
    ConnectOutcome,
    Opened,
    Send,
    Step,
)
from netladder.net.sockets import Received, SockError
from netladder.path.model import TraceCycle, TraceOptions, TraceResult
from netladder.path.probes import IcmpProbes, Probes, TcpConnectProbes, TcpSynProbes, UdpProbes
from netladder.path.session import FLOOR_NS, HERE, MAX_UNKNOWN, TraceSession
from netladder.path.trace import send_failure
from netladder.proto.icmp import build_echo, parse_icmp
from netladder.proto.inet import checksum
from netladder.proto.tcp import ACK, RST, SYN, parse_tcp
from netladder.render.trace import detail, verdict_text
from sessions import NS, FakeClock
from test_proto_icmp import ipv4

ME = "203.0.113.2"
TARGET = "198.51.100.10"
ROUTERS = ["203.0.113.1", "203.0.113.6", "203.0.113.10"]
TARGET6 = "2001:db8:3::2"


class Path:
    """The driver's half for one session: every Send stamped with the fake clock (on_sent),
    what the session asked for kept in order, the session polled again whenever the driver
    would (after input, or when its wake-up is due)."""

    def __init__(
        self, session: TraceSession, clock: FakeClock, opened: Sequence[Opened] = ()
    ) -> None:
        self.session = session
        self.clock = clock
        self.sent: list[Send] = []
        self.connects: list[Connect] = []
        self.closed: list[int] = []
        self.events: list[Any] = []
        self.wake_at: int | None = None
        self.done = False
        self.at: dict[int, int] = {}  # token -> send stamp
        session.bind(list(opened))
        session.start(clock.now)
        self.poll()

    def poll(self) -> Step:
        step = self.session.poll(self.clock.now)
        self.events += step.events
        for action in step.actions:
            if isinstance(action, Send):
                self.sent.append(action)
                self.at[action.token] = self.clock.now
                self.session.on_sent(action.token, self.clock.now, None)
            elif isinstance(action, Connect):
                self.connects.append(action)
                self.at[action.token] = self.clock.now
            elif isinstance(action, Close):
                self.closed.append(action.token)
        self.wake_at = step.wake_at
        self.done = step.done
        return step

    def packet(self, channel: int, packet: Received) -> None:
        self.session.on_packet(channel, packet)
        self.poll()

    def advance(self, seconds: float) -> None:
        """Let time pass as the driver would: polled at every wake-up on the way."""
        end = self.clock.at(seconds)
        while not self.done and self.wake_at is not None and self.wake_at <= end:
            self.clock.now = max(self.clock.now, self.wake_at)
            self.poll()
        self.clock.now = end
        if not self.done:
            self.poll()

    def probes(self) -> list[Send | Connect]:
        return [*self.sent, *self.connects]

    def ttl_of(self, token: int) -> int:
        for action in self.probes():
            if action.token == token:
                assert action.ttl is not None
                return action.ttl
        raise KeyError(token)

    def tokens(self, ttl: int) -> list[int]:
        return [a.token for a in self.probes() if a.ttl == ttl]


def options(**changes: Any) -> TraceOptions:
    return TraceOptions(TARGET, **changes)


def udp_session(**changes: Any) -> tuple[TraceSession, UdpProbes]:
    probes = UdpProbes(TARGET, 4, None)
    return TraceSession(options(**changes), TARGET, 4, probes), probes


UDP_OPENED = [Opened("udp", 4, None, ("0.0.0.0", 40000), False)]


def udp_path(**changes: Any) -> tuple[TraceSession, Path]:
    """A UDP trace to TARGET, bound and started on a fresh fake clock."""
    session, _ = udp_session(**changes)
    return session, Path(session, FakeClock(), UDP_OPENED)


def icmp_error(
    path: Path, token: int, source: str, icmp_type: int, code: int, info: int = 0
) -> Received:
    """What the error queue of a datagram socket hands back for probe `token`: our own payload,
    with the ICMP error's type, code and sender."""
    send = next(a for a in path.sent if a.token == token)
    err = errno.EHOSTUNREACH if icmp_type == 11 else errno.ECONNREFUSED
    error = SockError(err, SO_EE_ORIGIN_ICMP, icmp_type, code, info, source)
    return Received(send.data, TARGET, 33434, path.clock.now, None, error)


def answer_udp(path: Path, token: int, *, rtt: float = 0.001) -> None:
    """The router at the probe's TTL says time exceeded; past the routers, the target says
    port unreachable."""
    ttl = path.ttl_of(token)
    path.clock.now = path.at[token] + round(rtt * NS)
    if ttl <= len(ROUTERS):
        path.packet(0, icmp_error(path, token, ROUTERS[ttl - 1], 11, 0))
    else:
        path.packet(0, icmp_error(path, token, TARGET, 3, 3))


def hop_addresses(result: TraceResult) -> list[str | None]:
    return [h.address for h in result.hops]


# -- hop assembly ---------------------------------------------------------------------------------


def test_hops_are_assembled_from_time_exceeded_and_the_targets_port_unreachable() -> None:
    session, path = udp_path()
    # 16 in flight: TTLs 1-5 three times each, then the first query of TTL 6.
    assert [a.ttl for a in path.sent] == [t for t in range(1, 6) for _ in range(3)] + [6]
    assert all(a.address == (TARGET, 33434) for a in path.sent)
    for send in list(path.sent):
        if path.ttl_of(send.token) <= 4:
            answer_udp(path, send.token, rtt=0.001 * path.ttl_of(send.token))
    assert path.done  # the target answered at TTL 4 and every lower probe is in
    result = session.result()
    assert hop_addresses(result) == [*ROUTERS, TARGET]
    assert result.reached and result.destination_hop == 4
    assert [p.kind for p in result.hops[-1].probes] == ["reply"] * 3
    assert [detail(p) for p in result.hops[0].probes] == ["time exceeded"] * 3
    assert detail(result.hops[-1].probes[0]) == "port unreachable"
    assert result.hops[1].probes[0].rtt == pytest.approx(0.002)
    assert result.hops[1].stats.received == 3
    assert result.verdict.kind == "ok"
    assert verdict_text(result.verdict) == (
        "no hop adds latency or loss (destination at hop 4, 4.0 ms)"
    )


def test_a_port_unreachable_from_a_router_ends_the_trace_as_a_reject_on_the_way() -> None:
    session, path = udp_path(queries=1)
    for token in path.tokens(1) + path.tokens(2):
        answer_udp(path, token)
    # TTL 3: r3 rejects the probe with port unreachable (nft's REJECT default): not the target.
    (token,) = path.tokens(3)
    path.packet(0, icmp_error(path, token, ROUTERS[2], 3, 3))
    assert path.done
    result = session.result()
    assert not result.reached and hop_addresses(result) == ROUTERS
    last = result.hops[-1].probes[0]
    assert last.kind == "unreachable" and last.annotation == ""
    assert detail(last).startswith("port unreachable from a router, not the target")
    assert result.verdict.kind == "unreachable" and result.verdict.hop == 3
    assert verdict_text(result.verdict) == (
        "hop 3 (203.0.113.10) answered port unreachable from a router, not the target: "
        "rejected on the way (a firewall)"
    )


def test_an_administrative_reject_is_annotated_as_traceroute_does() -> None:
    session, path = udp_path(queries=1)
    (token,) = path.tokens(1)
    path.packet(0, icmp_error(path, token, ROUTERS[0], 3, 13))
    result = session.result()
    assert path.done and result.hops[0].probes[0].annotation == "!X"
    assert verdict_text(result.verdict) == "hop 1 (203.0.113.1) answered Packet filtered !X"


def test_errors_that_are_not_ours_are_ignored() -> None:
    session, path = udp_path(queries=1)
    clock = path.clock
    (token,) = path.tokens(1)
    ours = icmp_error(path, token, ROUTERS[0], 11, 0)
    # Another trace's datagram (another cookie), and a local error (no ICMP behind it).
    path.packet(0, replace(ours, data=b"\0\0\0\0" + ours.data[4:]))
    local = SockError(errno.EMSGSIZE, SO_EE_ORIGIN_LOCAL, 0, 0, 1500, None)
    path.packet(0, replace(ours, error=local))
    # A datagram from someone else that echoes our payload: only the target's port counts.
    path.packet(0, Received(ours.data, ROUTERS[0], 33434, clock.now))
    assert all(p.answer is None for p in session.history)
    path.packet(0, ours)
    assert session.history[token].answer is not None


# -- ICMP -----------------------------------------------------------------------------------------


def echo_reply(request: bytes, version: int = 4) -> bytes:
    """The target's answer to an echo request: type 0 (129), the same identifier, sequence and
    data, a checksum that holds."""
    reply = bytearray(request)
    reply[0] = 0 if version == 4 else 129
    reply[2:4] = b"\0\0"
    if version == 4:
        reply[2:4] = struct.pack("!H", checksum(bytes(reply)))
    return bytes(reply)


def test_echo_replies_end_an_icmp_trace_and_time_exceeded_comes_on_the_error_queue() -> None:
    clock = FakeClock()
    probes = IcmpProbes(TARGET6, 6, None)
    session = TraceSession(TraceOptions(TARGET6, "icmp", queries=1), TARGET6, 6, probes)
    path = Path(session, clock, [Opened("dgram", 6, 0x4242, None, False)])
    assert session.result().socket == "dgram"
    first, second = path.sent[0], path.sent[1]
    request = parse_icmp(first.data, 6)
    assert request is not None and request.identifier == 0x4242  # the kernel's identifier
    clock.advance(0.001)
    error = SockError(errno.EHOSTUNREACH, SO_EE_ORIGIN_ICMP6, 3, 0, 0, "2001:db8:1::1")
    path.packet(0, Received(first.data, TARGET6, 0, clock.now, None, error))
    # An echo reply to another trace (another cookie in the data) answers nothing.
    foreign = bytearray(echo_reply(second.data, 6))
    foreign[8:12] = b"\0\0\0\0"
    path.packet(0, Received(bytes(foreign), TARGET6, 0, clock.now, 63))
    assert not path.done
    path.packet(0, Received(echo_reply(second.data, 6), TARGET6, 0, clock.now, 63))
    assert path.done
    result = session.result()
    assert hop_addresses(result) == ["2001:db8:1::1", TARGET6] and result.reached
    assert detail(result.hops[1].probes[0]) == "echo reply"


def test_a_raw_icmp_socket_matches_by_identifier_and_reads_quoted_errors() -> None:
    clock = FakeClock()
    probes = IcmpProbes(TARGET, 4, None)
    session = TraceSession(options(protocol="icmp", queries=1), TARGET, 4, probes)
    path = Path(session, clock, [Opened("raw", 4, None, None, True)])
    assert session.result().socket == "raw"
    first = path.sent[0]
    ours = parse_icmp(first.data, 4)
    assert ours is not None
    # Time exceeded from r1, quoting our echo request behind our IPv4 header.
    quoted = ipv4(ME, TARGET, 1, first.data[:8], ttl=1)
    time_exceeded = icmp4(11, 0, quoted)
    clock.advance(0.001)
    path.packet(0, Received(ipv4(ROUTERS[0], ME, 1, time_exceeded), ROUTERS[0], 0, clock.now))
    # Another process's echo reply (another identifier) is not ours.
    other = build_echo(4, ours.identifier ^ 1, path.sent[1].data[7], ours.payload)
    path.packet(0, Received(ipv4(TARGET, ME, 1, echo_reply(other)), TARGET, 0, clock.now))
    path.packet(
        0, Received(ipv4(TARGET, ME, 1, echo_reply(path.sent[1].data)), TARGET, 0, clock.now)
    )
    result = session.result()
    assert path.done and hop_addresses(result) == [ROUTERS[0], TARGET]


def icmp4(icmp_type: int, code: int, body: bytes) -> bytes:
    message = struct.pack("!BBHI", icmp_type, code, 0, 0) + body
    return message[:2] + struct.pack("!H", checksum(message)) + message[4:]


# -- TCP ------------------------------------------------------------------------------------------


SYN_OPENED = [
    Opened("raw_tcp", 4, None, None, False),
    Opened("raw", 4, None, None, True),
    Opened("hold", 4, None, (ME, 40001), False),
]


def syn_session(**changes: Any) -> tuple[TraceSession, TcpSynProbes]:
    probes = TcpSynProbes(TARGET, 4, 22, ME)
    session = TraceSession(options(protocol="tcp", port=22, **changes), TARGET, 4, probes)
    return session, probes


def segment(
    send: Send, flags: int, *, ack_delta: int = 1, sport: int = 22, dport: int = 40001
) -> bytes:
    syn = parse_tcp(send.data)
    assert syn is not None
    body = struct.pack("!HHIIBBHHH", sport, dport, 7, syn.seq + ack_delta, 5 << 4, flags, 0, 0, 0)
    return ipv4(TARGET, ME, 6, body)


def test_syn_ack_and_rst_on_the_raw_channel_answer_the_probe_they_acknowledge() -> None:
    clock = FakeClock()
    session, _ = syn_session(queries=2)
    path = Path(session, clock, SYN_OPENED)
    syns = [parse_tcp(a.data) for a in path.sent]
    assert all(s is not None and s.flags == SYN and s.sport == 40001 for s in syns)
    assert len({s.sport for s in syns if s}) == 1  # one flow: the held port, always
    # r1's time exceeded for the first SYN (raw ICMP channel), quoting its ports and sequence.
    first = path.sent[0]
    quote = ipv4(ME, TARGET, 6, first.data[:8], ttl=1)
    clock.advance(0.001)
    path.packet(1, Received(ipv4(ROUTERS[0], ME, 1, icmp4(11, 0, quote)), ROUTERS[0], 0, clock.now))
    # TTL 2 reaches the target: SYN-ACK to its first SYN, RST to the second (the half-open
    # connection of the first one, RFC 9293 §3.10.7.4).
    one, two = path.tokens(2)
    sends = {a.token: a for a in path.sent}
    path.packet(0, Received(segment(sends[one], SYN | ACK), TARGET, 0, clock.now))
    # Not ours: another port, an acknowledgment that is no probe's sequence.
    path.packet(0, Received(segment(sends[two], RST | ACK, sport=23), TARGET, 0, clock.now))
    path.packet(0, Received(segment(sends[two], RST | ACK, ack_delta=99999), TARGET, 0, clock.now))
    assert not path.done
    path.packet(0, Received(segment(sends[two], RST | ACK), TARGET, 0, clock.now))
    (other,) = [t for t in path.tokens(1) if t != first.token]
    path.packet(
        1,
        Received(
            ipv4(
                ROUTERS[0], ME, 1, icmp4(11, 0, ipv4(ME, TARGET, 6, sends[other].data[:8], ttl=1))
            ),
            ROUTERS[0],
            0,
            clock.now,
        ),
    )
    assert path.done
    result = session.result()
    assert hop_addresses(result) == [ROUTERS[0], TARGET] and result.reached
    assert [detail(p) for p in result.hops[1].probes] == ["SYN-ACK (open)", "RST (closed)"]
    assert result.socket == "raw" and result.flow_constant


def test_connect_probes_time_exceeded_open_and_closed() -> None:
    clock = FakeClock()
    probes = TcpConnectProbes(TARGET, 4, 22)
    session = TraceSession(options(protocol="tcp", port=22, queries=1), TARGET, 4, probes)
    path = Path(session, clock)
    assert [(c.ttl, c.port) for c in path.connects][:3] == [(1, 22), (2, 22), (3, 22)]
    one, two = path.connects[0].token, path.connects[1].token
    time_exceeded = SockError(errno.EHOSTUNREACH, SO_EE_ORIGIN_ICMP, 11, 0, 0, ROUTERS[0])
    clock.advance(0.002)
    session.on_connect(one, ConnectOutcome(errno.EHOSTUNREACH, clock.now, None, time_exceeded))
    # The kernel's handshake RTT (300 µs) times the SYN-ACK, not our wake-up.
    sent = path.at[two]
    session.on_connect(two, ConnectOutcome(0, clock.now, 300_000, None, (ME, 5), sent))
    path.poll()
    assert path.done
    result = session.result()
    assert hop_addresses(result) == [ROUTERS[0], TARGET] and result.reached
    assert result.hops[1].probes[0].rtt == pytest.approx(0.0003)
    assert detail(result.hops[1].probes[0]) == "SYN-ACK (open)"
    assert result.socket == "connect" and not result.flow_constant


def test_a_connect_probe_that_times_out_is_closed_so_the_kernel_sends_no_retry() -> None:
    clock = FakeClock()
    probes = TcpConnectProbes(TARGET, 4, 80)
    session = TraceSession(options(protocol="tcp", queries=1, max_ttl=1), TARGET, 4, probes)
    path = Path(session, clock)
    (connect,) = path.connects
    assert path.wake_at == path.at[connect.token] + NS  # TCP waits 1 s at most (-w 5)
    path.advance(1.0)
    assert path.closed == [connect.token] and path.done
    assert session.result().hops[0].probes[0].kind == "timeout"


def test_a_connect_that_fails_here_stops_the_trace_with_the_error() -> None:
    clock = FakeClock()
    session = TraceSession(
        options(protocol="tcp", queries=1), TARGET, 4, TcpConnectProbes(TARGET, 4, 80)
    )
    path = Path(session, clock)
    session.on_connect(path.connects[0].token, ConnectOutcome(errno.ENETUNREACH, clock.now))
    path.poll()
    result = session.result()
    assert path.done and result.send_error == errno.ENETUNREACH and result.send_connect
    failure = send_failure(result)
    assert failure is not None and failure.exit_code == 1
    assert str(failure) == "cannot connect to 198.51.100.10: Network is unreachable"


def test_a_send_that_fails_stops_the_trace_with_the_error() -> None:
    clock = FakeClock()
    session, _ = udp_session()
    session.bind(UDP_OPENED)
    session.start(clock.now)
    step = session.poll(clock.now)
    for action in step.actions:
        assert isinstance(action, Send)
        session.on_sent(action.token, clock.now, errno.ENETUNREACH)
    assert session.poll(clock.now).done
    failure = send_failure(session.result())
    assert failure is not None
    assert str(failure) == "cannot send to 198.51.100.10: Network is unreachable"


# -- waits ----------------------------------------------------------------------------------------


def test_once_the_others_answered_a_missing_probe_waits_a_few_rtts_not_the_whole_wait() -> None:
    session, path = udp_path(max_ttl=1)
    first, second, third = path.tokens(1)
    assert path.wake_at == path.at[first] + 5 * NS
    answer_udp(path, first, rtt=0.050)
    # The same hop answered in 50 ms: the other two wait HERE x 50 ms, not 5 s.
    assert path.wake_at == path.at[second] + round(HERE * 0.050 * NS)
    answer_udp(path, second, rtt=0.050)
    path.advance(HERE * 0.050)
    assert path.done
    result = session.result()
    assert [p.kind for p in result.hops[0].probes] == ["time-exceeded"] * 2 + ["timeout"]
    assert result.elapsed == pytest.approx(HERE * 0.050)


def test_a_fast_path_still_waits_the_floor_for_a_slow_answer() -> None:
    session, path = udp_path(max_ttl=1)
    first, second, _ = path.tokens(1)
    answer_udp(path, first, rtt=0.0001)
    assert path.wake_at == path.at[second] + FLOOR_NS


def test_a_one_shot_ends_as_soon_as_every_answer_is_in() -> None:
    session, path = udp_path()
    for token in [a.token for a in path.sent if a.ttl is not None and a.ttl <= 4]:
        answer_udp(path, token, rtt=0.001)
    assert path.done and session.result().elapsed < 0.01  # the wait is 5 s


def test_a_late_answer_still_counts() -> None:
    session, path = udp_path(queries=1, max_ttl=3, wait=1.0)
    clock = path.clock
    one, two = path.tokens(1)[0], path.tokens(2)[0]
    answer_udp(path, two, rtt=0.001)  # hop 2 answers: hop 1's probe waits NEAR x 1 ms, floored
    clock.advance(0.2)
    path.poll()
    assert session.history[one].expired
    assert not path.done  # TTL 3 still waits its whole second
    answer_udp(path, one, rtt=0.3)  # ... and hop 1's answer, late, is still taken
    result = session.result()
    assert result.hops[0].probes[0].kind == "time-exceeded"
    assert result.hops[0].stats.received == 1


def test_five_silent_hops_after_the_last_answer_stop_the_trace() -> None:
    session, path = udp_path(queries=1, parallel=5, wait=1.0)
    answer_udp(path, path.tokens(1)[0])
    path.advance(1.0)  # TTLs 2-5 time out; 6-9 went out meanwhile
    path.advance(1.0)  # TTL 6 too: five silent hops, nothing more is sent
    assert path.done and max(a.ttl or 0 for a in path.sent) < 12
    result = session.result()
    assert [h.ttl for h in result.hops] == list(range(1, 2 + MAX_UNKNOWN))
    assert hop_addresses(result) == [ROUTERS[0]] + [None] * MAX_UNKNOWN
    verdict = result.verdict
    assert verdict.kind == "no-answer" and (verdict.from_hop, verdict.hop) == (1, 2)
    assert "silence from hop 2 on" in verdict_text(verdict)


# -- Paris: one flow ------------------------------------------------------------------------------


def test_every_udp_probe_carries_one_checksum() -> None:
    session, path = udp_path()
    for token in [a.token for a in path.sent]:
        answer_udp(path, token)
    # The UDP checksum covers addresses, ports and payload: with those constant, a constant
    # ones'-complement sum of the payload is a constant checksum.
    assert len({checksum(a.data) for a in path.sent}) == 1
    assert len({a.data[4:6] for a in path.sent}) == len(path.sent)  # the probe ids differ


@pytest.mark.parametrize("version", [4, 6])
def test_every_echo_request_carries_one_checksum(version: int) -> None:
    clock = FakeClock()
    target = TARGET if version == 4 else TARGET6
    probes: Probes = IcmpProbes(target, version, None)
    session = TraceSession(TraceOptions(target, "icmp"), target, version, probes)
    path = Path(session, clock, [Opened("dgram", version, 0x4242, None, False)])
    assert len(path.sent) == 16
    assert len({checksum(a.data) for a in path.sent}) == 1
    assert len({parse_icmp(a.data, version).sequence for a in path.sent}) == 16  # type: ignore[union-attr]


# -- report cycles --------------------------------------------------------------------------------


def test_report_cycles_count_loss_per_hop_and_tell_each_cycle() -> None:
    clock = FakeClock()
    probes = UdpProbes(TARGET, 4, None)
    opts = options(cycles=10, interval=0.1, wait=1.0)
    session = TraceSession(opts, TARGET, 4, probes, snapshots=True)
    path = Path(session, clock, UDP_OPENED)
    # The first cycle looks as far as `parallel` TTLs; the target answers at TTL 2 (the lab's
    # second hop, here), which every later cycle stops at.
    for token in path.tokens(1):
        answer_udp(path, token)
    for token in path.tokens(2):
        path.clock.now = path.at[token] + 1_000_000
        path.packet(0, icmp_error(path, token, TARGET, 3, 3))
    for cycle in range(2, 11):
        path.advance(0.1)
        sent = [a for a in path.sent if session.history[a.token].query == cycle]
        assert [a.ttl for a in sent] == [1, 2]
        answer_udp(path, sent[0].token)
        if cycle % 3:  # the target loses every third cycle's probe
            path.clock.now = path.at[sent[1].token] + 1_000_000
            path.packet(0, icmp_error(path, sent[1].token, TARGET, 3, 3))
    path.advance(1.0)
    assert path.done
    result = session.result()
    assert [h.stats.sent for h in result.hops] == [10, 10]
    assert [h.stats.loss_pct for h in result.hops] == [0.0, 30.0]
    assert result.queries == 3 and result.cycles == 10  # the option, as the JSON always said
    assert [e.cycle for e in path.events] == list(range(1, 11))
    assert all(isinstance(e, TraceCycle) for e in path.events)
    assert path.events[0].snapshot.hops[0].stats.sent == 1
    verdict = result.verdict
    assert verdict.kind == "loss" and verdict.hop == 2 and verdict.loss_pct == 30.0
    assert verdict_text(verdict).endswith(
        "(only the destination loses: it may be rate-limiting ICMP port unreachable, 1/s by "
        "default on Linux; --proto icmp tells them apart)"
    )


def test_an_interrupted_trace_counts_no_probe_still_in_flight() -> None:
    session, path = udp_path(queries=1)
    clock = path.clock
    answer_udp(path, path.tokens(1)[0])
    session.interrupt()
    assert session.poll(clock.now).done
    result = session.result()
    assert result.interrupted and hop_addresses(result)[0] == ROUTERS[0]
    assert result.hops[0].stats.sent == 1
    assert all(h.stats.sent == 0 for h in result.hops[1:])  # in flight: not counted, as mtr
