"""The port scans as sans-IO state machines (issue 14 point 6): fabricated answers and a fake
clock, no socket, no root.  What each answer means is nmap's reading (nmap book, "TCP SYN
scan", "UDP scan"); the lab tests in test_port.py compare the same states with nmap itself."""

from __future__ import annotations

import errno
import struct

import pytest

from netladder.l4.engine import BASE_TRIES, LOSSY_TRIES
from netladder.l4.model import PortState, ScanResult
from netladder.l4.plan import ConnectScanPlan
from netladder.l4.syn import SynScanSession
from netladder.l4.udp import UDP_TRIES, UdpScanSession
from netladder.net.session import OpenChannel, Opened, Send, SendBurst, Step
from netladder.net.sockets import SockError
from netladder.proto.inet import checksum
from netladder.proto.tcp import ACK, RST, SYN
from sessions import NS, FakeClock, ack_burst, fast, received
from test_proto_icmp import ipv4

TARGET, SOURCE, ROUTER = "198.51.100.10", "203.0.113.2", "203.0.113.6"
SPORT = 40000
RAW, ICMP, HOLD = 0, 1, 2  # SynScanSession's channels
ICMP4, ICMP6 = 2, 3  # SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6


def tcp_answer(syn: bytes, flags: int, ttl: int = 62) -> bytes:
    """The target's answer to one of our SYNs (`syn`: the TCP segment sent), with its IPv4
    header as the raw socket hands it over."""
    sport, dport, seq = struct.unpack_from("!HHI", syn)
    segment = struct.pack("!HHIIBBHHH", dport, sport, 777, (seq + 1) & 0xFFFFFFFF, 5 << 4, flags,
                          1024, 0, 0)  # fmt: skip
    return ipv4(TARGET, SOURCE, 6, segment, ttl)


def icmp_error(syn: bytes, icmp_type: int, code: int, reporter: str, ttl: int = 63) -> bytes:
    """An ICMP error about one of our SYNs (RFC 792: its IP header and first 8 bytes quoted)."""
    quoted = ipv4(SOURCE, TARGET, 6, syn[:8], ttl=1)
    body = struct.pack("!BBHI", icmp_type, code, 0, 0) + quoted
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return ipv4(reporter, SOURCE, 1, body, ttl)


def echo_reply(session: SynScanSession, ttl: int) -> bytes:
    body = struct.pack("!BBHHH", 0, 0, 0, session.echo_id, 1) + b"netladder"
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return ipv4(TARGET, SOURCE, 1, body, ttl)


def syn_scan(
    ports: tuple[int, ...], clock: FakeClock, **options: object
) -> tuple[SynScanSession, Step]:
    session = SynScanSession("target", TARGET, SOURCE, ports, 0x12345678, **options)  # type: ignore[arg-type]
    session.bind(
        [
            Opened("raw_tcp", 4, None, None, True),
            Opened("icmp", 4, None, None, True),
            Opened("hold", 4, None, (SOURCE, SPORT), False),
        ]
    )
    session.start(clock.now)
    return session, session.poll(clock.now)


def send_all(session: SynScanSession, step: Step, clock: FakeClock) -> dict[int, bytes]:
    """Acknowledge a step's sends as the driver does; the SYNs sent, by destination port."""
    for action in step.actions:
        if isinstance(action, Send):
            session.on_sent(action.token, clock.now, None)
    syns: dict[int, bytes] = {}
    for channel, _k, data, _address in ack_burst(step, clock):
        assert channel == RAW
        syns[struct.unpack_from("!H", data, 2)[0]] = data
    return syns


def run_out(session: SynScanSession, step: Step, clock: FakeClock, limit: int = 100) -> ScanResult:
    """Send what `step` asks, then let the clock run to each wake-up, answering nothing
    more, until the scan is done."""
    send_all(session, step, clock)
    for _ in range(limit):
        if step.done:
            return session.result()
        assert step.wake_at is not None, "a scan with work left must ask to be woken"
        idle = step.wake_at <= clock.now and not step.actions
        clock.now = max(clock.now, step.wake_at)
        step = session.poll(clock.now)
        # Woken now for nothing, twice in a row: the driver would spin until the next due.
        assert not (idle and step.wake_at is not None and step.wake_at <= clock.now), step
        send_all(session, step, clock)
    raise AssertionError("the scan did not end")


def by_port(result: ScanResult) -> dict[int, tuple[str, str, str | None, int]]:
    return {p.port: (p.state.value, p.reason, p.reporter, p.tries) for p in result.ports}


def test_syn_ack_is_open_rst_is_closed_and_icmp_unreachables_filter_with_their_reporter() -> None:
    clock = FakeClock()
    ports = (22, 23, 81, 82, 83, 84, 85, 86, 87)
    session, step = syn_scan(ports, clock)
    syns = send_all(session, step, clock)
    assert sorted(syns) == list(ports)  # every port's SYN in the first burst
    assert syns[22][13] == SYN and struct.unpack_from("!H", syns[22], 0)[0] == SPORT
    clock.advance(0.002)
    session.on_packets(
        RAW,
        [
            fast(tcp_answer(syns[22], SYN | ACK), TARGET, clock),
            fast(tcp_answer(syns[23], RST | ACK), TARGET, clock),
        ],
    )
    # nmap's filtered reasons for TCP: ICMP 3/1, 3/2, 3/3 (from a router), 3/9, 3/10, 3/13.
    for port, code in ((81, 1), (82, 2), (83, 3), (84, 9), (85, 10), (86, 13)):
        session.on_packet(ICMP, received(icmp_error(syns[port], 3, code, ROUTER), ROUTER, clock))
    session.on_packet(ICMP, received(echo_reply(session, 62), TARGET, clock))
    result = run_out(session, session.poll(clock.now), clock)
    assert by_port(result) == {
        22: ("open", "syn-ack", None, 1),
        23: ("closed", "reset", None, 1),
        81: ("filtered", "host-unreach", ROUTER, 1),
        82: ("filtered", "proto-unreach", ROUTER, 1),
        83: ("filtered", "port-unreach", ROUTER, 1),
        84: ("filtered", "net-prohibited", ROUTER, 1),
        85: ("filtered", "host-prohibited", ROUTER, 1),
        86: ("filtered", "admin-prohibited", ROUTER, 1),
        87: ("filtered", "no-response", None, BASE_TRIES),  # silent: retried, then filtered
    }
    rows = {p.port: p for p in result.ports}
    assert rows[22].rtt == pytest.approx(0.002) and rows[22].ttl == 62
    assert result.host_ttl == 62 and result.probes_sent == len(ports) + BASE_TRIES - 1


def test_an_answer_that_does_not_acknowledge_our_sequence_number_is_ignored() -> None:
    clock = FakeClock()
    session, step = syn_scan((22,), clock)
    syns = send_all(session, step, clock)
    forged = bytearray(tcp_answer(syns[22], SYN | ACK))
    forged[20 + 8 : 20 + 12] = b"\0\0\0\1"  # an ACK number that is not our seq + 1
    session.on_packets(RAW, [fast(bytes(forged), TARGET, clock)])
    assert session.tally.decided == 0


def test_a_poll_that_sends_asks_to_be_woken_even_with_nothing_in_flight_yet() -> None:
    # The driver reports the sends after the poll returns and polls again only when asked: a
    # silent port must not leave the scan waiting forever (it once hung on a dropped port).
    clock = FakeClock()
    session, step = syn_scan((81,), clock)
    assert step.wake_at is not None and step.wake_at <= clock.at(session.timing.timeout)
    send_all(session, step, clock)
    clock.now = step.wake_at
    retry = session.poll(clock.now)
    assert any(isinstance(a, SendBurst) for a in retry.actions)
    assert retry.wake_at is not None  # the retry's own timeout
    result = run_out(session, retry, clock)
    assert by_port(result) == {81: ("filtered", "no-response", None, BASE_TRIES)}


def test_an_answered_retransmission_means_loss_and_silent_ports_get_nmaps_full_retries() -> None:
    clock = FakeClock()
    session, step = syn_scan((22, 81), clock)
    send_all(session, step, clock)
    clock.now = step.wake_at or 0
    step = session.poll(clock.now)  # both silent: both retried
    syns = send_all(session, step, clock)
    assert sorted(syns) == [22, 81]
    clock.advance(0.001)
    session.on_packets(RAW, [fast(tcp_answer(syns[22], SYN | ACK), TARGET, clock)])
    result = run_out(session, session.poll(clock.now), clock)
    assert by_port(result) == {
        22: ("open", "syn-ack", None, 2),
        81: ("filtered", "no-response", None, LOSSY_TRIES),
    }
    assert result.max_tries == LOSSY_TRIES


def test_a_reset_from_nearer_than_the_host_is_set_apart_by_its_ttl() -> None:
    clock = FakeClock()
    session, step = syn_scan((22, 23), clock)
    syns = send_all(session, step, clock)
    session.on_packet(ICMP, received(echo_reply(session, 62), TARGET, clock))
    session.on_packets(
        RAW,
        [
            fast(tcp_answer(syns[22], SYN | ACK, ttl=62), TARGET, clock),
            fast(tcp_answer(syns[23], RST | ACK, ttl=63), TARGET, clock),  # one hop nearer
        ],
    )
    result = run_out(session, session.poll(clock.now), clock)
    rows = {p.port: p for p in result.ports}
    assert rows[23].state is PortState.CLOSED and rows[23].reset_hops_before == 1
    assert rows[22].reset_hops_before is None


def test_rate_spaces_the_probes_one_at_a_time() -> None:
    clock = FakeClock()
    session, step = syn_scan((1, 2, 3), clock, rate=10.0)
    assert len(send_all(session, step, clock)) == 1
    assert step.wake_at is not None and step.wake_at <= clock.at(0.1)
    assert len(send_all(session, session.poll(clock.now), clock)) == 0  # not yet due
    clock.advance(0.1)
    assert len(send_all(session, session.poll(clock.now), clock)) == 1


# -- the connect scan's plan (net/connectscan.py runs it) -------------------------------------


def test_the_connect_plan_reads_each_outcome_as_nmap_st_does() -> None:
    plan = ConnectScanPlan(TARGET, (22, 23, 81, 82, 83, 84))
    taken = [plan.next(0) for _ in range(6)]
    assert taken == [0, 1, 2, 3, 4, 5] and plan.next(0) is None
    ms = 1_000_000
    router_unreach = SockError(errno.ECONNREFUSED, ICMP4, 3, 3, 0, ROUTER)
    target_unreach = SockError(errno.EHOSTUNREACH, ICMP4, 3, 1, 0, TARGET)
    plan.answered(0, 0, 0, 1 * ms, None)
    plan.answered(1, errno.ECONNREFUSED, 0, 1 * ms, None)
    plan.answered(2, errno.ECONNREFUSED, 0, 1 * ms, router_unreach)  # a router's REJECT
    plan.answered(3, errno.EHOSTUNREACH, 0, 1 * ms, target_unreach)
    plan.answered(4, errno.EHOSTUNREACH, 0, 1 * ms, None)  # no ICMP queued: no ARP answer
    plan.silent(5, 0, plan.timeout_ns())
    assert plan.next(0) == 5 and not plan.done()  # retried once
    plan.silent(5, 0, 2 * plan.timeout_ns())
    assert plan.done()
    t = plan.tally
    got = {t.ports[i]: (t.state[i], t.reason[i], t.reporter.get(i)) for i in range(6)}
    code = {s: i for i, s in enumerate(PortState, start=1)}
    assert got == {
        22: (code[PortState.OPEN], "syn-ack", None),
        23: (code[PortState.CLOSED], "conn-refused", None),
        81: (code[PortState.FILTERED], "port-unreach", ROUTER),
        82: (code[PortState.FILTERED], "host-unreach", TARGET),
        83: (code[PortState.FILTERED], "host-unreach", None),
        84: (code[PortState.FILTERED], "no-response", None),
    }


def test_a_connect_that_ran_out_of_local_ports_is_put_back_not_counted() -> None:
    plan = ConnectScanPlan(TARGET, tuple(range(1, 101)))
    before = plan.window()
    assert [plan.next(0) for _ in range(60)] == list(range(60))
    plan.answered(0, errno.EADDRNOTAVAIL, 0, 1, None)  # this host's shortage, not an answer
    assert plan.tally.decided == 0 and plan.tally.tries[0] == 0 and plan.probes_sent == 59
    assert plan.window() < min(before, 60)  # fewer in flight from now on
    assert plan.next(0) == 0  # and it goes again first


# -- the UDP scan --------------------------------------------------------------------------------


def test_udp_silence_is_retried_then_open_filtered_and_the_session_always_asks_to_wake() -> None:
    clock = FakeClock()
    session = UdpScanSession("target", TARGET, (9, 10))
    session.bind([])
    session.start(clock.now)
    step = session.poll(clock.now)
    opens = [a for a in step.actions if isinstance(a, OpenChannel)]
    assert len(opens) == 2
    for n, opening in enumerate(opens):
        session.on_opened(opening.token, 10 + n, Opened("udp", 4, None, (SOURCE, 5000 + n), False))
    decided: dict[int, tuple[str, str, str | None]] = {}
    for _ in range(50):
        step = session.poll(clock.now)
        for action in step.actions:
            if isinstance(action, Send):
                session.on_sent(action.token, clock.now, None)
                if action.address[1] == 10 and not decided:
                    # Port 10 closed: the target's port unreachable on that socket's queue.
                    clock.advance(0.001)
                    error = SockError(errno.ECONNREFUSED, ICMP4, 3, 3, 0, TARGET)
                    session.on_packet(action.channel, received(b"", TARGET, clock, error=error))
                    decided[10] = ("closed", "port-unreach", TARGET)
        if step.done:
            break
        assert step.wake_at is not None, "a UDP scan with work left must ask to be woken"
        clock.now = max(clock.now, step.wake_at)
    result = session.result()
    assert {p.port: (p.state.value, p.reason, p.reporter) for p in result.ports} == {
        9: ("open|filtered", "no-response", None),
        **decided,
    }
    assert {p.port: p.tries for p in result.ports}[9] == UDP_TRIES
    assert result.elapsed < 10 * NS
