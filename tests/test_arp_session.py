"""ArpSession without a socket: fabricated ARP frames on a fake clock (issue 14 point 6).

The lab tests (`tests/test_arp.py`) hold the same behaviours beside iputils arping; here each
rule is pinned frame by frame: which request a reply answers, when two stations are a
conflict, what a flood may cost, how duplicate-address detection reads a frame.
"""

from __future__ import annotations

import errno

import pytest

from netladder.l2.model import ProbeSetup
from netladder.l2.probe import MAX_CLAIMANTS, ArpSession
from netladder.net.linux import (
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_OTHERHOST,
    SO_EE_ORIGIN_LOCAL,
)
from netladder.net.session import Opened, Send, Step
from netladder.net.sockets import Received, SockError
from netladder.proto.arp import ETH_P_ARP, build_arp, build_ether, parse_arp_frame
from netladder.render.arp import summary
from sessions import NS, FakeClock

OURS = "02:00:5e:00:53:01"
GATEWAY = "02:00:5e:00:53:0a"
OTHER = "02:00:5e:00:53:0b"
SPOOF = "02:00:5e:00:53:99"
ME, TARGET = "203.0.113.2", "203.0.113.1"
BROADCAST = "ff:ff:ff:ff:ff:ff"


def setup(dad: bool = False, target: str = TARGET) -> ProbeSetup:
    return ProbeSetup(target, 4, "to-r1", 2, OURS, "0.0.0.0" if dad else ME, dad)


class Link:
    """The driver's half: one packet channel, each request stamped with the fake clock."""

    def __init__(self, session: ArpSession, clock: FakeClock) -> None:
        self.session = session
        self.clock = clock
        self.sent: list[bytes] = []
        self.events: list[object] = []
        self.wake_at: int | None = None
        self.done = False
        session.bind([Opened("packet", 4, None, ("to-r1", ETH_P_ARP), False)])
        session.start(clock.now)
        self.poll()

    def poll(self) -> Step:
        while True:
            step = self.session.poll(self.clock.now)
            self.events += step.events
            for action in step.actions:
                assert isinstance(action, Send) and action.channel == 0
                self.sent.append(action.data)
                self.session.on_sent(action.token, self.clock.now, None)
            self.wake_at, self.done = step.wake_at, step.done
            if step.done or step.wake_at is None or step.wake_at > self.clock.now:
                return step

    def frame(self, data: bytes, *, kind: int = PACKET_HOST, after: float = 0.0) -> Step:
        self.clock.advance(after)
        packet = Received(data, "to-r1", ETH_P_ARP, self.clock.now, None, None, kind)
        self.session.on_packet(0, packet)
        return self.poll()

    def run_to(self, seconds: float) -> Step:
        """Let the clock run, waking the session when it asked to be, up to `seconds` from
        now (or until it is done)."""
        end = self.clock.now + round(seconds * NS)
        step = self.poll()
        while not self.done and self.wake_at is not None and self.wake_at <= end:
            self.clock.now = max(self.clock.now, self.wake_at)
            step = self.poll()
        self.clock.now = max(self.clock.now, end) if not self.done else self.clock.now
        return step


def reply(mac: str = GATEWAY, sender: str = TARGET, to_mac: str = OURS, to_ip: str = ME) -> bytes:
    return build_ether(to_mac, mac, ETH_P_ARP, build_arp(2, mac, sender, to_mac, to_ip))


def gratuitous(mac: str, address: str = TARGET) -> bytes:
    return build_ether(BROADCAST, mac, ETH_P_ARP, build_arp(1, mac, address, BROADCAST, address))


def test_requests_go_out_interval_apart_and_each_reply_is_timed_from_the_one_it_answers() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=3, interval=1.0, wait=1.0)
    link = Link(session, clock)
    assert len(link.sent) == 1
    ether, arp = parse_arp_frame(link.sent[0]) or (None, None)
    assert arp is not None and (arp.sender_ip, arp.target_ip, arp.sender_mac) == (ME, TARGET, OURS)
    link.frame(reply(), after=0.0007)
    link.run_to(0.9993)  # the second request, 1 s after the first
    assert len(link.sent) == 2
    link.frame(reply(), after=0.0004)
    link.run_to(0.9996)
    assert len(link.sent) == 3
    link.frame(reply(), after=0.0009)
    link.run_to(1.0)  # the linger after the last answer, not the whole wait
    assert link.done
    result = session.result()
    assert (result.sent, result.received, result.macs, result.ok) == (3, 3, (GATEWAY,), True)
    assert [r.after_request for r in result.replies] == [1, 2, 3]
    assert [round(r.rtt * 1e6) for r in result.replies] == [700, 400, 900]
    assert link.events == list(result.replies)  # each reply was an event as it came
    assert result.elapsed == pytest.approx(2.0 + 0.0009 + 0.02, abs=1e-6)


def test_a_reply_that_arrived_before_the_next_request_answers_the_earlier_one() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=2, interval=0.1, wait=0.3)
    link = Link(session, clock)
    clock.advance(0.05)
    early = Received(reply(), "to-r1", ETH_P_ARP, clock.now, None, None, PACKET_HOST)
    clock.advance(0.06)  # the second request goes out before the frame is read
    link.poll()
    assert len(link.sent) == 2
    session.on_packet(0, early)
    link.poll()
    [answer] = session.result().replies
    assert (answer.after_request, round(answer.rtt * 1000)) == (1, 50)


def test_two_stations_answering_one_address_are_a_conflict() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=1, wait=1.0)
    link = Link(session, clock)
    link.frame(reply(GATEWAY), after=0.001)
    link.frame(reply(OTHER), after=0.002)
    link.run_to(1.0)
    result = session.result()
    assert result.conflict and result.macs == (GATEWAY, OTHER) and not result.ok
    assert any(
        line == f"conflict: 2 stations answer for {TARGET}: {GATEWAY}, {OTHER} (a duplicate "
        "address on to-r1)"
        for line in summary(result)
    )


def test_a_station_answering_one_request_again_is_a_duplicate_not_a_reply() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=1, wait=1.0)
    link = Link(session, clock)
    for _ in range(5):
        link.frame(reply(GATEWAY), after=0.0001)
    link.run_to(1.0)
    result = session.result()
    assert (result.received, result.duplicates, result.ok) == (1, 4, True)


def test_a_gratuitous_flood_is_a_bounded_claim_not_an_answer() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=1, wait=0.3)
    link = Link(session, clock)
    for i in range(2000):
        link.frame(gratuitous(f"02:00:5e:00:{i // 256:02x}:{i % 256:02x}"))
    link.frame(gratuitous(SPOOF))
    link.frame(reply(GATEWAY), after=0.001)
    link.run_to(1.0)
    result = session.result()
    assert result.macs == (GATEWAY,) and result.ok
    assert len(result.claims) == MAX_CLAIMANTS  # a flood of forged MACs is bounded
    assert all(c.frames == 1 for c in result.claims) and SPOOF not in {c.mac for c in result.claims}


def test_frames_a_bridge_floods_for_another_station_are_not_counted() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=1, wait=0.2)
    link = Link(session, clock)
    link.frame(reply(SPOOF, to_mac=OTHER), kind=PACKET_OTHERHOST)
    link.frame(reply(SPOOF, to_ip="203.0.113.99"))  # to our MAC but another address: a claim
    link.frame(reply(GATEWAY), kind=PACKET_BROADCAST, after=0.001)
    link.run_to(1.0)
    result = session.result()
    assert result.macs == (GATEWAY,) and result.replies[0].broadcast
    assert [(c.mac, c.frames) for c in result.unsolicited] == [(SPOOF, 1)]


def test_dad_probes_from_zero_and_stops_at_the_first_answer() -> None:
    clock = FakeClock()
    session = ArpSession(setup(dad=True), count=3, interval=1.0, wait=1.0)
    link = Link(session, clock)
    _ether, arp = parse_arp_frame(link.sent[0]) or (None, None)
    assert arp is not None and arp.is_probe and arp.sender_ip == "0.0.0.0"
    # RFC 5227 §2.1.1: any ARP packet whose sender is the address is a conflict — a
    # gratuitous one too (to a DAD probe, a station's request is an answer).
    link.frame(gratuitous(SPOOF), after=0.01)
    link.run_to(3.0)
    result = session.result()
    assert (result.sent, result.macs, result.ok) == (1, (SPOOF,), False)
    assert result.replies[0].kind == "request"


def test_dad_of_a_free_address_sends_every_probe_and_passes() -> None:
    clock = FakeClock()
    session = ArpSession(setup(dad=True), count=2, interval=0.1, wait=0.3)
    link = Link(session, clock)
    link.run_to(5.0)
    result = session.result()
    assert link.done and (result.sent, result.received, result.ok) == (2, 0, True)
    assert result.elapsed == pytest.approx(0.1 + 0.3)


def test_without_a_count_it_sends_until_the_deadline() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=None, interval=0.2, wait=1.0, deadline=1.0)
    link = Link(session, clock)
    link.run_to(5.0)
    assert link.done and session.result().sent == 5  # at 0, 0.2, 0.4, 0.6, 0.8 s


def test_frames_the_kernel_dropped_make_the_answer_uncertain() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=1, wait=0.2)
    link = Link(session, clock)
    link.frame(reply(GATEWAY), after=0.001)
    drops = SockError(errno.ENOBUFS, SO_EE_ORIGIN_LOCAL, 0, 0, 37, None)
    session.on_packet(0, Received(b"", "", 0, clock.now, None, drops))
    link.run_to(1.0)
    result = session.result()
    assert (result.dropped, result.ok) == (37, False)


def test_a_request_that_cannot_be_sent_ends_the_probe_with_the_errno() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=3)
    session.bind([Opened("packet", 4, None, None, False)])
    session.start(clock.now)
    step = session.poll(clock.now)
    [send] = step.actions
    assert isinstance(send, Send)
    session.on_sent(send.token, clock.now, errno.ENETDOWN)
    assert session.poll(clock.now).done
    result = session.result()
    assert (result.send_error, result.sent) == (errno.ENETDOWN, 0)


def test_ctrl_c_keeps_what_was_gathered() -> None:
    clock = FakeClock()
    session = ArpSession(setup(), count=1000, interval=0.1)
    link = Link(session, clock)
    link.frame(reply(), after=0.001)
    link.run_to(0.25)
    session.interrupt()
    assert session.poll(clock.now).done
    result = session.result()
    assert result.interrupted and result.sent == 3 and result.received == 1
