"""The sweep's session without a socket or root: fabricated replies on a fake clock, and fping's
retries, back-off, count mode and matching rules (issue 14, point 6).  The lab tests beside
fping are in tests/test_sweep.py."""

from __future__ import annotations

import errno
import ipaddress
import struct
from typing import Any

from netladder.l3.sweep import PROBE, SweepSession
from netladder.l3.sweep_model import SweepOptions, SweepProgress, TargetList
from netladder.net.linux import SO_EE_ORIGIN_ICMP
from netladder.net.session import SendBurst, Step
from netladder.net.sockets import SockError
from netladder.proto.inet import checksum
from sessions import NS, FakeClock, ack_burst, fast, opened_icmp, received

ME = "203.0.113.2"
ROUTER = "203.0.113.1"
IDENT = 0x4242


def ipv4(src: str, dst: str, payload: bytes) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        0,
        0,
        60,
        1,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return header + payload


def reply_to(request: bytes, *, stamp: int | None = None, corrupt: bool = False) -> bytes:
    """The echo reply to an echo request (no IP header): type 0, the same fields and data;
    `stamp` rewrites the send time the probe carries, as a peer could."""
    body = bytearray(b"\x00\x00\x00\x00" + request[4:])
    if stamp is not None:
        struct.pack_into("!q", body, 8 + 8 + 6, stamp)  # after the cookie, index and probe
    struct.pack_into("!H", body, 2, checksum(body))
    if corrupt:
        body[-1] ^= 0xFF
    return bytes(body)


class Sweep:
    """A SweepSession on a fake clock: every burst built and acknowledged as the driver does."""

    def __init__(self, addresses: list[str], options: SweepOptions, kind: str = "dgram") -> None:
        self.clock = FakeClock()
        targets = TargetList(4)
        targets.extend(int(ipaddress.IPv4Address(a)) for a in addresses)
        self.addresses = addresses
        self.session = SweepSession(targets, options)
        self.kind = kind
        self.session.bind([opened_icmp(kind, identifier=IDENT)])
        self.session.start(self.clock.now)
        self.sends: list[tuple[float, str, bytes]] = []  # (seconds since start, to, request)
        self.start_ns = self.clock.now
        self.events: list[Any] = []
        self.answered = 0  # sends looked at for an answer so far
        self.step = self.poll()

    def poll(self) -> Step:
        step = self.session.poll(self.clock.now)
        self.events.extend(step.events)
        for _channel, _k, data, address in ack_burst(step, self.clock):
            self.sends.append(((self.clock.now - self.start_ns) / NS, address[0], data))
        self.step = step
        return step

    def run(self, seconds: float, answer: set[str] = frozenset()) -> Step:  # type: ignore[assignment]
        """Let time pass, waking the session when it asks; the hosts in `answer` reply to
        every probe 1 ms after it was sent."""
        end = self.clock.at(seconds)
        while True:
            for _at, to, request in self.sends[self.answered :]:
                if to in answer:
                    self.clock.advance(0.001)
                    self.deliver(reply_to(request), to)
            self.answered = len(self.sends)
            if self.step.done or self.step.wake_at is None or self.step.wake_at > end:
                break
            self.clock.now = max(self.step.wake_at, self.clock.now)
            self.poll()
        self.clock.now = max(self.clock.now, end)
        return self.step

    def deliver(self, data: bytes, source: str) -> None:
        if self.kind == "raw":
            data = ipv4(source, ME, data)
        self.session.on_packets(0, [fast(data, source, self.clock)])

    def times(self, to: str) -> list[float]:
        return [round(at, 6) for at, address, _ in self.sends if address == to]


def test_a_silent_target_is_retried_each_timeout_backoff_times_longer_as_fping() -> None:
    sweep = Sweep(["198.18.0.1", "198.18.0.2"], SweepOptions((), retries=3, timeout=0.5))
    sweep.run(10.0, answer={"198.18.0.1"})
    assert sweep.step.done
    # fping -t 500 -B 1.5 -r 3: timeouts of 0.5, 0.75, 1.125 and 1.6875 s.
    assert sweep.times("198.18.0.2") == [0.001, 0.501, 1.251, 2.376]
    assert sweep.times("198.18.0.1") == [0.0]  # answered: never retried
    result = sweep.session.result()
    assert list(result.sent) == [1, 4] and list(result.received) == [1, 0]
    assert result.packets_sent == 5 and result.alive_count == 1
    assert result.elapsed_ns >= round(4.0635 * NS)  # the last timeout ran out


def test_each_rtt_is_from_the_probes_own_send_time() -> None:
    sweep = Sweep(["198.18.0.1", "198.18.0.2"], SweepOptions((), rate=0, retries=0))
    bursts = [a for a in sweep.step.actions if isinstance(a, SendBurst)]
    assert [(b.start, b.stop) for b in bursts] == [(0, 2)]
    # Both sent at the same fake instant, the replies read 3 and 5 ms later.
    first, second = (request for _at, _to, request in sweep.sends)
    sweep.clock.advance(0.003)
    sweep.deliver(reply_to(first), "198.18.0.1")
    sweep.clock.advance(0.002)
    sweep.deliver(reply_to(second), "198.18.0.2")
    result = sweep.session.result()
    assert list(result.rtt_min_ns) == [3_000_000, 5_000_000]


def test_a_reply_whose_send_time_was_rewritten_is_not_ours() -> None:
    sweep = Sweep(["198.18.0.1", "198.18.0.2"], SweepOptions((), rate=0, retries=0))
    first, second = (request for _at, _to, request in sweep.sends)
    two_hours_ago = sweep.clock.now - 7200 * NS
    sweep.deliver(reply_to(first, stamp=two_hours_ago), "198.18.0.1")
    sweep.deliver(reply_to(second, stamp=sweep.clock.at(1.0)), "198.18.0.2")  # the future
    assert list(sweep.session.result().received) == [0, 0]


def test_replies_that_are_not_ours_are_ignored() -> None:
    sweep = Sweep(["198.18.0.1"], SweepOptions((), rate=0, retries=0), kind="raw")
    [(_at, _to, request)] = sweep.sends
    other = bytearray(request)
    other[8:16] = b"ANOTHER!"  # another run's cookie
    sweep.deliver(reply_to(bytes(other)), "198.18.0.1")
    sweep.deliver(reply_to(request), "198.18.0.9")  # from another host
    foreign = bytearray(reply_to(request))
    struct.pack_into("!H", foreign, 4, 0x0BAD)  # another identifier (raw sockets see it)
    struct.pack_into("!H", foreign, 2, 0)
    struct.pack_into("!H", foreign, 2, checksum(foreign))
    sweep.deliver(bytes(foreign), "198.18.0.1")
    sweep.deliver(reply_to(request, corrupt=True), "198.18.0.1")
    result = sweep.session.result()
    assert result.received[0] == 0 and result.corrupted == 1
    sweep.deliver(reply_to(request), "198.18.0.1")
    sweep.deliver(reply_to(request), "198.18.0.1")
    result = sweep.session.result()
    assert result.received[0] == 1 and result.duplicates == 1


def test_count_mode_sends_count_probes_period_apart_and_late_replies_still_count() -> None:
    options = SweepOptions((), count=3, period=0.2, timeout=0.1)
    sweep = Sweep(["198.18.0.1", "198.18.0.2"], options)
    sweep.run(0.05, answer={"198.18.0.1"})
    sweep.run(1.0, answer={"198.18.0.1"})
    assert sweep.step.done
    # fping -c: every target every period, 10 ms apart (fping's default -i in count mode).
    assert sweep.times("198.18.0.1") == [0.0, 0.2, 0.4]
    assert sweep.times("198.18.0.2") == [0.01, 0.21, 0.41]
    result = sweep.session.result()
    assert list(result.sent) == [3, 3] and list(result.received) == [3, 0]
    # A reply after its probe timed out: the run did not wait for it, yet it counts.
    late = next(r for _at, to, r in sweep.sends if to == "198.18.0.2")
    sweep.deliver(reply_to(late), "198.18.0.2")
    assert sweep.session.result().received[1] == 1


def test_a_reply_queued_before_the_last_deadline_counts_and_the_run_ends_after_a_look() -> None:
    sweep = Sweep(["198.18.0.1"], SweepOptions((), rate=0, retries=0, timeout=0.5))
    [(_at, _to, request)] = sweep.sends
    sweep.clock.advance(0.4)
    reply = reply_to(request)  # received by the kernel at 0.4 s, not read yet
    stamped = sweep.clock.now
    sweep.clock.advance(0.2)
    step = sweep.poll()  # the deadline passed: given up, but the socket was not read since
    assert not step.done and step.wake_at == sweep.clock.now
    sweep.session.on_packets(0, [(reply, stamped, "198.18.0.1")])
    assert not sweep.poll().done  # something was read: look once more
    assert sweep.poll().done  # nothing more: done
    result = sweep.session.result()
    assert result.received[0] == 1 and result.rtt_min_ns[0] == 400_000_000


def test_icmp_errors_are_counted_per_target_with_the_router_that_sent_them() -> None:
    sweep = Sweep(["198.51.100.200", "198.18.0.1"], SweepOptions((), rate=0, retries=0))
    requests = [r for _at, _to, r in sweep.sends]
    error = SockError(errno.ENETUNREACH, SO_EE_ORIGIN_ICMP, 3, 0, 0, ROUTER)
    sweep.session.on_packet(0, received(requests[0], "198.51.100.200", sweep.clock, error=error))
    result = sweep.session.result()
    assert list(result.errors) == [1, 0]
    assert list(result.error_events()) == [(0, 3, 0, ROUTER)]
    assert result.target(0).last_error == "Destination Net Unreachable"


def test_a_raw_socket_reads_the_error_quoting_our_probe() -> None:
    sweep = Sweep(["198.51.100.200"], SweepOptions((), rate=0, retries=0), kind="raw")
    [(_at, _to, request)] = sweep.sends
    quoted = ipv4(ME, "198.51.100.200", request)
    body = bytearray(struct.pack("!BBHI", 3, 1, 0, 0) + quoted)
    struct.pack_into("!H", body, 2, checksum(body))
    sweep.session.on_packets(0, [fast(ipv4(ROUTER, ME, bytes(body)), ROUTER, sweep.clock)])
    assert list(sweep.session.result().error_events()) == [(0, 3, 1, ROUTER)]


def test_sends_the_kernel_refuses_are_named_and_others_end_the_sweep() -> None:
    sweep = Sweep(["198.18.0.1", "198.18.0.2"], SweepOptions((), rate=0, retries=0))
    burst = SweepSession(sweep.session.targets, SweepOptions((), rate=0, retries=0))
    burst.bind([opened_icmp("dgram")])
    burst.start(sweep.clock.now)
    step = burst.poll(sweep.clock.now)
    ack_burst(step, sweep.clock, error=errno.EACCES)  # a broadcast address, both
    result = burst.result()
    assert result.send_errors() == {0: (1, errno.EACCES), 1: (1, errno.EACCES)}
    assert list(result.sent) == [1, 1]
    fatal = SweepSession(sweep.session.targets, SweepOptions((), rate=0, retries=0))
    fatal.bind([opened_icmp("dgram")])
    fatal.start(sweep.clock.now)
    ack_burst(fatal.poll(sweep.clock.now), sweep.clock, error=errno.EINVAL)
    assert fatal.fatal == (errno.EINVAL, "198.18.0.1")
    assert fatal.poll(sweep.clock.now).done


def test_a_rate_spaces_the_probes_and_never_catches_up_in_a_burst() -> None:
    sweep = Sweep([f"198.18.0.{i}" for i in range(1, 6)], SweepOptions((), rate=100, retries=0))
    sweep.run(0.045)
    assert [round(at, 3) for at, _to, _r in sweep.sends] == [0.0, 0.01, 0.02, 0.03, 0.04]


def test_a_large_block_hands_the_tail_of_its_first_round_to_a_helper() -> None:
    n = 8192
    targets = TargetList(4)
    targets.extend(range(0xC6120001, 0xC6120001 + n))
    session = SweepSession(targets, SweepOptions((), rate=0, retries=0))
    session.bind([opened_icmp("raw")])
    clock = FakeClock()
    session.start(clock.now)
    bursts = [a for a in session.poll(clock.now).actions if isinstance(a, SendBurst)]
    split = n - int(n * 0.55)
    assert [(b.start, b.stop, b.parallel) for b in bursts] == [(split, n, True), (0, 128, False)]
    tail, head = bursts
    # With IP_HDRINCL (the helper's socket) each datagram carries its IPv4 header, to k's target.
    data, address = tail.burst.build(split, clock.now, True)
    assert data[0] == 0x45 and bytes(data[16:20]) == (0xC6120001 + split).to_bytes(4, "big")
    assert address == (str(ipaddress.IPv4Address(0xC6120001 + split)), 0)
    for k in range(head.start, head.stop):
        head.burst.sent(k, clock.now, None)
    # The helper sent 10 of the rest and died: the others are given up, never counted sent.
    for k in range(split, split + 10):
        tail.burst.sent(k, clock.now, None)
    for k in range(split + 10, n):
        tail.burst.sent(k, clock.now, errno.ECANCELED)
    result = session.result()
    assert sum(result.sent) == 128 + 10 and result.sent[n - 1] == 0
    assert result.packets_sent == 138 and session.finished == n - split - 10


def test_progress_is_told_every_1024_verdicts_and_at_the_end() -> None:
    addresses = [str(ipaddress.IPv4Address(0xC6120000 + i)) for i in range(1, 2049)]
    sweep = Sweep(addresses, SweepOptions((), rate=0, retries=0, timeout=0.1))
    sweep.run(2.0)
    assert sweep.step.done
    assert sum(e.targets for e in sweep.events if isinstance(e, SweepProgress)) == 2048
    assert PROBE.size == 14  # index, probe number, send time: what every reply is matched by
