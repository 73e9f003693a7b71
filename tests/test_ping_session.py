"""ping's session without a socket or root: fabricated replies and errors on a fake clock, and
the counters, events and stop rules iputils ping has for them (issue 14, point 6).  The lab
tests beside iputils are in tests/test_ping.py and tests/test_ping_hostile.py."""

from __future__ import annotations

import errno
import struct
from typing import Any

import pytest

from netladder.l3.model import Corrupted, PingOptions, PingStarted, ProbeError, Sample
from netladder.l3.ping import PingSession, PingSetup
from netladder.net.linux import SO_EE_ORIGIN_ICMP
from netladder.net.session import Send, Step
from netladder.net.sockets import SockError
from netladder.net.targets import Target
from netladder.proto.inet import checksum
from sessions import NS, FakeClock, opened_icmp, received, sent, start

TARGET = "198.51.100.10"
ME = "203.0.113.2"
ROUTER = "203.0.113.1"
COOKIE = b"COOKIE!!"
IDENT = 0x4242  # the kernel's identifier on a datagram socket


def ipv4(src: str, dst: str, payload: bytes, ttl: int = 61) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        0,
        0,
        ttl,
        1,
        0,
        bytes(int(x) for x in src.split(".")),
        bytes(int(x) for x in dst.split(".")),
    )
    return header + payload


def reply_to(request: bytes, *, ident: int | None = None, corrupt: bool = False) -> bytes:
    """The echo reply a host sends back: type 0, the request's identifier, sequence and data."""
    body = bytearray(b"\x00\x00\x00\x00" + request[4:])
    if ident is not None:
        struct.pack_into("!H", body, 4, ident)
    struct.pack_into("!H", body, 2, checksum(body))
    if corrupt:
        body[-1] ^= 0xFF  # after the checksum: it no longer adds up
    return bytes(body)


class Run:
    """One PingSession on a fake clock, its sends acknowledged as the driver would."""

    def __init__(self, options: PingOptions, kind: str = "raw", cookie: bytes = COOKIE) -> None:
        self.clock = FakeClock()
        target = Target(TARGET, TARGET, 4)
        setup = PingSetup(target, (TARGET, 0), None, ME, False)
        self.session = PingSession(setup, options, cookie)
        self.kind = kind
        self.requests: dict[int, bytes] = {}  # seq -> the echo request as sent
        self.events: list[Any] = []
        self.step = start(self.session, self.clock, [opened_icmp(kind, identifier=IDENT)])
        self._take(self.step)

    def _take(self, step: Step, error: int | None = None) -> None:
        self.events.extend(step.events)
        for send in sent(self.session, step, self.clock, error):
            self.requests[send.token] = send.data

    def poll(self, error: int | None = None) -> Step:
        """Poll now (the sends it asks for acknowledged with `error`), then once more at once
        when it sent something, as the driver does when a step asks to be woken now."""
        step = self.session.poll(self.clock.now)
        self._take(step, error)
        while step.actions and step.wake_at == self.clock.now:
            step = self.session.poll(self.clock.now)
            self._take(step)
        self.step = step
        return step

    def until(self, seconds: float) -> Step:
        """Let time pass, waking the session whenever it asked to be."""
        end = self.clock.at(seconds)
        while not self.step.done:
            wake = self.step.wake_at
            if wake is None or wake > end:
                break
            self.clock.now = max(wake, self.clock.now)
            self.poll()
        self.clock.now = max(self.clock.now, end)
        return self.step

    def answer(self, seq: int, *, source: str = TARGET, **reply: Any) -> None:
        """The target's reply to probe `seq`, as the socket reads it now."""
        data = reply_to(self.requests[seq], **reply)
        if self.kind == "raw":
            self.session.on_packet(
                0, received(ipv4(source, ME, data), source, self.clock, ttl=None)
            )
        else:
            self.session.on_packet(0, received(data, source, self.clock, ttl=62))

    def result(self) -> Any:
        return self.session.result()


def test_the_first_event_starts_the_run_and_a_probe_goes_at_once() -> None:
    run = Run(PingOptions((TARGET,), count=1))
    assert isinstance(run.events[0], PingStarted)
    started = run.events[0]
    assert (started.socket_kind, started.source, started.size) == ("raw", ME, 56)
    assert started.identifier == run.session.identifier
    assert list(run.requests) == [1]


def test_replies_and_a_duplicate_are_counted_as_iputils_counts_them() -> None:
    run = Run(PingOptions((TARGET,), count=2, interval=1.0))
    run.clock.advance(0.010)
    run.answer(1)
    run.clock.advance(0.002)
    run.answer(1)  # the same probe answered twice: a duplicate, not a reply
    run.poll()
    assert run.step.wake_at is not None
    run.clock.now = run.step.wake_at  # the second probe, one interval after the first
    run.poll()
    run.clock.advance(0.020)
    run.answer(2)
    run.poll()
    result = run.result()
    assert (result.transmitted, result.received, result.duplicates) == (2, 2, 1)
    assert result.loss_percent == 0.0
    samples = [e for e in run.events if isinstance(e, Sample)]
    assert [(s.seq, s.duplicate) for s in samples] == [(1, False), (1, True), (2, False)]
    # RTT: the kernel's receive stamp minus the driver's send stamp, to the nanosecond.
    assert [s.rtt_ns for s in samples] == [10_000_000, 12_000_000, 20_000_000]
    # iputils' statistics run over replies and duplicates, in whole microseconds.
    assert result.iputils is not None and result.iputils.avg_us == 14_000
    assert result.samples[0].ttl == 61  # a raw socket reads the TTL from the IP header


def test_a_corrupted_reply_is_named_and_not_counted() -> None:
    run = Run(PingOptions((TARGET,), count=1))
    run.clock.advance(0.005)
    run.answer(1, corrupt=True)
    run.poll()
    result = run.result()
    assert (result.received, result.corrupted) == (0, 1)
    assert [e for e in run.events if isinstance(e, Corrupted)] == [Corrupted(1, 64)]


@pytest.mark.parametrize(
    "foreign",
    [
        {"ident": 0x0BAD},  # another process's identifier (raw sockets see every echo)
        {"source": "198.51.100.99"},  # another host answering for the target (no -b)
    ],
)
def test_a_foreign_reply_is_ignored(foreign: dict[str, Any]) -> None:
    run = Run(PingOptions((TARGET,), count=1, wait=1.0))
    run.clock.advance(0.005)
    run.answer(1, **foreign)
    run.poll()
    assert run.result().received == 0
    assert not [e for e in run.events if isinstance(e, Sample)]


def test_a_reply_to_another_run_is_not_ours() -> None:
    """Another run of netladder with the same identifier and sequence: its cookie differs."""
    run = Run(PingOptions((TARGET,), count=1, wait=1.0))
    other = Run(PingOptions((TARGET,), count=1), cookie=b"ANOTHER!")
    request = bytearray(other.requests[1])
    struct.pack_into("!H", request, 4, run.session.identifier)
    data = reply_to(bytes(request))
    run.session.on_packet(0, received(ipv4(TARGET, ME, data), TARGET, run.clock, ttl=None))
    run.poll()
    assert run.result().received == 0


def test_an_icmp_error_quoting_our_probe_is_an_error_from_that_router() -> None:
    run = Run(PingOptions((TARGET,), count=1))
    quoted = ipv4(ME, TARGET, run.requests[1][:8], ttl=1)
    body = bytearray(struct.pack("!BBHI", 11, 0, 0, 0) + quoted)
    struct.pack_into("!H", body, 2, checksum(body))
    run.clock.advance(0.003)
    run.session.on_packet(0, received(ipv4(ROUTER, ME, bytes(body)), ROUTER, run.clock, ttl=None))
    step = run.poll()
    result = run.result()
    assert result.error_events == (ProbeError(1, ROUTER, 11, 0, "Time to live exceeded"),)
    assert (result.errors, result.received, result.verdict) == (1, 0, "ttl-exceeded")
    assert step.done  # -c 1: one answer (an error is one) ends the run


def test_the_error_queue_of_a_datagram_socket_names_the_router() -> None:
    run = Run(PingOptions((TARGET,), count=1), kind="dgram")
    error = SockError(errno.EHOSTUNREACH, SO_EE_ORIGIN_ICMP, 3, 1, 0, ROUTER)
    run.session.on_packet(0, received(run.requests[1], TARGET, run.clock, error=error))
    run.poll()
    result = run.result()
    assert result.error_events == (ProbeError(1, ROUTER, 3, 1, "Destination Host Unreachable"),)
    assert result.verdict == "unreachable"


def test_after_the_last_probe_it_waits_twice_the_longest_rtt_at_least_an_interval() -> None:
    run = Run(PingOptions((TARGET,), count=2, interval=0.2))
    run.clock.advance(0.150)
    run.answer(1)
    run.poll()
    run.until(0.05)  # the second probe at 0.2 s, never answered
    assert 2 in run.requests
    sent_at = run.clock.now
    step = run.poll()
    # iputils schedule_exit(): after the last probe, max(2 × tmax, interval) = 300 ms.
    assert not step.done and step.wake_at == sent_at + 300_000_000
    run.clock.now = step.wake_at - 1
    assert not run.poll().done
    run.clock.now += 1
    assert run.poll().done and run.result().received == 1


def test_a_silent_host_is_waited_for_W_seconds_after_the_last_probe() -> None:
    run = Run(PingOptions((TARGET,), count=2, interval=0.1, wait=0.5))
    run.until(0.1)
    last = run.clock.now
    step = run.step
    assert not step.done and step.wake_at == last + round(0.5 * NS)
    run.until(0.5)
    assert run.step.done and run.result().transmitted == 2


def test_a_deadline_ends_the_run_whatever_happens() -> None:
    run = Run(PingOptions((TARGET,), deadline=1.0, interval=0.3))
    run.until(2.0)
    result = run.result()
    assert run.step.done and result.transmitted == 4  # at 0, 0.3, 0.6 and 0.9 s
    assert not result.success


def test_with_a_deadline_count_is_answers_and_lost_probes_are_made_up_for() -> None:
    """`-c 2 -w 5`: iputils keeps sending until two replies came (the first probe was lost)."""
    run = Run(PingOptions((TARGET,), count=2, deadline=5.0, interval=0.2))
    run.until(0.2)
    run.clock.advance(0.001)
    run.answer(2)
    run.until(0.2)
    run.clock.advance(0.001)
    run.answer(3)
    step = run.poll()
    result = run.result()
    assert step.done and (result.transmitted, result.received) == (3, 2) and result.success


def test_with_a_deadline_the_first_error_ends_the_run() -> None:
    run = Run(PingOptions((TARGET,), deadline=5.0, interval=0.2), kind="dgram")
    error = SockError(errno.ENETUNREACH, SO_EE_ORIGIN_ICMP, 3, 0, 0, ROUTER)
    run.session.on_packet(0, received(run.requests[1], TARGET, run.clock, error=error))
    assert run.poll().done


def test_pipe_is_the_most_probes_out_when_one_was_answered() -> None:
    run = Run(PingOptions((TARGET,), count=3, interval=0.1))
    run.until(0.2)
    run.clock.advance(0.001)
    for seq in (1, 2, 3):
        run.answer(seq)
    run.poll()
    assert run.result().pipe == 3


def test_the_sequence_wraps_and_a_reused_number_is_a_new_reply() -> None:
    count = 65_537  # sequence numbers 1 … 65535, 0, 1
    run = Run(PingOptions((TARGET,), count=count, interval=0.0))
    run.clock.advance(0.001)
    run.answer(1)
    run.poll()
    for _ in range(count):
        run.poll()
        if run.session.transmitted == count:
            break
    assert run.session.transmitted == count
    run.answer(1)  # the 65537th probe carries sequence 1 again: not a duplicate
    run.poll()
    result = run.result()
    assert (result.received, result.duplicates) == (2, 0)


def test_what_comes_after_the_answer_that_ends_the_run_is_not_read() -> None:
    run = Run(PingOptions((TARGET,), count=1))
    run.answer(1)
    assert run.poll().done
    run.answer(1)  # a duplicate queued behind it, or a late reply
    assert (run.result().received, run.result().duplicates) == (1, 0)


def test_a_refused_send_is_an_error_as_iputils_prints_it() -> None:
    run = Run(PingOptions((TARGET,), count=3, interval=0.1))
    run.clock.advance(0.1)
    run.poll(error=errno.ENETUNREACH)  # probe 2: no route (iputils: `sendmsg: …`)
    run.clock.advance(0.1)
    run.poll(error=errno.ENOBUFS)  # probe 3: a full queue loses it without a word
    result = run.result()
    assert result.error_events == (
        ProbeError(2, "local", 0, 0, "sendmsg: Network is unreachable", errno.ENETUNREACH),
    )
    assert result.error_events[0].kind == "send" and result.errors == 1
    assert result.transmitted == 3 and result.send_error is None


def test_a_send_error_no_probe_is_to_blame_for_stops_the_run() -> None:
    run = Run(PingOptions((TARGET,), count=3, interval=0.1))
    run.clock.advance(0.1)
    step = run.session.poll(run.clock.now)
    send = next(a for a in step.actions if isinstance(a, Send))
    run.session.on_sent(send.token, run.clock.now, errno.EINVAL)
    assert run.session.poll(run.clock.now).done
    assert run.result().send_error == errno.EINVAL


def test_with_b_every_host_that_answers_a_broadcast_counts() -> None:
    run = Run(PingOptions((TARGET,), count=2, interval=0.1, broadcast=True))
    run.answer(1, source="198.51.100.66")
    run.answer(1, source="198.51.100.67")  # a second host: a duplicate of probe 1
    run.until(0.1)
    run.answer(2, source="198.51.100.66")
    run.answer(2, source="198.51.100.67")  # behind the answer that ends the run: unread
    run.poll()
    result = run.result()
    assert (result.received, result.duplicates) == (2, 1)
    assert [s.source for s in result.samples] == ["198.51.100.66", "198.51.100.67", "198.51.100.66"]
