"""The path-MTU probe as a sans-IO session: a fake clock and a fabricated path that carries
packets up to some size, no socket, no root.  The lab test beside `ping -M do` and curl is in
tests/test_diagnose.py (test_pmtu_black_hole_*)."""

from __future__ import annotations

import errno
import struct

import pytest

from netladder.diagnose.pmtu import COMMON_MTUS, ROUND_SIZES, PmtuProbe, _spread, header_size
from netladder.net.linux import SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_LOCAL
from netladder.net.session import Send
from netladder.net.sockets import SockError
from netladder.proto.inet import checksum
from sessions import FakeClock, opened_icmp, received, sent, start

TARGET = "198.51.100.10"
ROUTER = "203.0.113.1"
IDENT = 0x1234


def reply_to(request: bytes) -> bytes:
    """The echo reply a host sends back (datagram socket: no IP header)."""
    body = b"\x00\x00\x00\x00" + request[4:]
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def ipv4(src: str, dst: str, payload: bytes, proto: int = 1) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        0,
        0x4000,
        64,
        proto,
        0,
        bytes(int(x) for x in src.split(".")),
        bytes(int(x) for x in dst.split(".")),
    )
    return header + payload


def frag_needed(request: bytes, mtu: int) -> bytes:
    """What a raw IPv4 socket reads: the router's ICMP 3/4 quoting our echo (RFC 1191 §4)."""
    quoted = ipv4("203.0.113.2", TARGET, request[:8])
    body = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + quoted
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return ipv4(ROUTER, "203.0.113.2", body)


class Path:
    """A path that carries packets up to `mtu` bytes and drops the rest without a word."""

    def __init__(self, mtu: int, lose_once: set[int] | None = None) -> None:
        self.mtu = mtu
        self.lose_once = set(lose_once or ())  # sizes whose first echo is lost anyway
        self.sizes: list[int] = []

    def carry(self, probe: PmtuProbe, sends: list[Send], clock: FakeClock) -> None:
        for send in sends:
            size = len(send.data) + 20
            self.sizes.append(size)
            if size in self.lose_once:
                self.lose_once.discard(size)
            elif size <= self.mtu:
                probe.on_packet(0, received(reply_to(send.data), TARGET, clock))


def run(probe: PmtuProbe, path: Path, clock: FakeClock, kind: str = "dgram") -> None:
    """Drive the probe over the path until it is done, jumping the clock to each wake-up."""
    step = start(probe, clock, [opened_icmp(kind, identifier=IDENT)])
    for _ in range(10_000):
        path.carry(probe, sent(probe, step, clock), clock)
        if step.done:
            return
        step = probe.poll(clock.now)
        if not step.actions and not step.done:
            assert step.wake_at is not None
            clock.now = max(clock.now, step.wake_at)
            step = probe.poll(clock.now)
    raise AssertionError("the probe never finished")


def first_look(kind: str = "dgram") -> tuple[PmtuProbe, FakeClock, Send]:
    """A probe towards TARGET over a 1500-byte link, started: its first full-size echo."""
    clock = FakeClock()
    probe = PmtuProbe(TARGET, 4, 1500)
    step = start(probe, clock, [opened_icmp(kind, identifier=IDENT if kind == "dgram" else None)])
    full = next(s for s in sent(probe, step, clock) if len(s.data) + 20 == 1500)
    return probe, clock, full


def test_a_full_size_reply_ends_the_check_within_one_round_trip() -> None:
    clock = FakeClock()
    probe = PmtuProbe(TARGET, 4, 1500)
    step = start(probe, clock, [opened_icmp(identifier=IDENT)])
    sends = sent(probe, step, clock)
    # The control (L3's size) and the first full-size echo go at once; two more wait 50 ms.
    assert sorted(len(s.data) + 20 for s in sends) == [84, 1500]
    clock.advance(0.0003)
    Path(1500).carry(probe, sends, clock)
    assert probe.poll(clock.now).done
    result = probe.result()
    assert result.outcome == "fits" and result.largest_through == 1500
    assert result.probes == 2 and result.elapsed == pytest.approx(0.0003)


@pytest.mark.parametrize("mtu", [1280, 1420, 1337, 600])
def test_a_black_hole_is_found_to_the_byte(mtu: int) -> None:
    clock = FakeClock()
    probe = PmtuProbe(TARGET, 4, 1500)
    path = Path(mtu)
    run(probe, path, clock)
    result = probe.result()
    assert result.outcome == "black-hole"
    assert (result.largest_through, result.smallest_lost) == (mtu, mtu + 1)
    assert result.data_size == mtu - 28  # what `ping -M do -s` gets through
    # The first look, then rounds of at most ROUND_SIZES sizes twice and a control each.
    assert result.probes <= 4 + 3 * (2 * ROUND_SIZES + 1)
    # The first look and each search round end 1 s after their last echo (~0.1 s of pacing):
    # a common MTU takes two rounds, an odd one three.
    assert result.elapsed <= (3.3 if mtu in COMMON_MTUS else 4.4)


def test_one_lost_echo_does_not_move_the_bound() -> None:
    clock = FakeClock()
    probe = PmtuProbe(TARGET, 4, 1500)
    # The first 1280-byte echo of the first round is lost: its copy still answers.
    path = Path(1280, lose_once={1280})
    run(probe, path, clock)
    assert path.sizes.count(1280) >= 2 and not path.lose_once
    result = probe.result()
    assert (result.outcome, result.largest_through, result.smallest_lost) == (
        "black-hole",
        1280,
        1281,
    )


def test_silence_to_every_size_is_not_called_a_black_hole() -> None:
    clock = FakeClock()
    probe = PmtuProbe(TARGET, 4, 1500)
    run(probe, Path(0), clock)
    result = probe.result()
    assert result.outcome == "no-echo" and result.largest_through is None
    assert result.probes == 4  # the first look only: no search without a control answered


def test_fragmentation_needed_from_a_router_is_path_mtu_discovery_working() -> None:
    probe, clock, full = first_look("raw")
    probe.on_packet(0, received(frag_needed(full.data, 1280), ROUTER, clock))
    assert probe.poll(clock.now).done
    result = probe.result()
    assert (result.outcome, result.reported_mtu, result.reporter) == ("told", 1280, ROUTER)


def test_fragmentation_needed_from_the_error_queue_names_the_router() -> None:
    probe, clock, full = first_look()
    error = SockError(errno.EMSGSIZE, SO_EE_ORIGIN_ICMP, 3, 4, 1280, ROUTER)
    probe.on_packet(0, received(full.data, "", clock, error=error))
    result = probe.result()
    assert (result.outcome, result.reported_mtu, result.reporter) == ("told", 1280, ROUTER)


def test_a_size_this_host_already_refuses_is_told_by_the_kernel() -> None:
    probe, clock, full = first_look()
    probe.on_sent(full.token or 0, clock.now, errno.EMSGSIZE)
    assert probe.result().outcome == "told" and probe.result().reporter is None
    local = PmtuProbe(TARGET, 4, 1500)
    start(local, clock, [opened_icmp(identifier=IDENT)])
    error = SockError(errno.EMSGSIZE, SO_EE_ORIGIN_LOCAL, 0, 0, 1400, None)
    local.on_packet(0, received(full.data, "", clock, error=error))
    assert (local.result().outcome, local.result().reported_mtu) == ("told", 1400)


def test_replies_of_other_runs_and_other_hosts_are_ignored() -> None:
    probe, clock, full = first_look()
    reply = reply_to(full.data)
    other_cookie = reply[:8] + bytes(8) + reply[16:]
    probe.on_packet(0, received(reply, "198.51.100.99", clock))  # another host
    probe.on_packet(0, received(other_cookie, TARGET, clock))  # another run's cookie
    probe.on_packet(0, received(reply[:100], TARGET, clock))  # cut short on the way back
    assert probe.outcome is None
    probe.on_packet(0, received(reply, TARGET, clock))
    assert probe.result().outcome == "fits"


def test_ipv6_sizes_count_the_40_byte_header() -> None:
    clock = FakeClock()
    probe = PmtuProbe("2001:db8:3::2", 6, 1500)
    step = start(probe, clock, [opened_icmp(version=6, identifier=IDENT)])
    sizes = sorted(len(s.data) + 40 for s in sent(probe, step, clock))
    assert sizes == [104, 1500] and header_size(6) == 48


def test_search_rounds_spread_over_the_unknown_range() -> None:
    first = _spread(84, 1500, first=True)
    assert all(84 < s < 1500 for s in first) and len(first) <= ROUND_SIZES
    assert {1492, 1420, 1280, 576} <= set(first)
    assert _spread(1280, 1300, first=False) == list(range(1281, 1300))
    later = _spread(1000, 1400, first=False)
    assert len(later) == ROUND_SIZES and 1280 not in later


def test_a_search_cut_short_claims_no_black_hole() -> None:
    probe, clock, _ = first_look()
    probe.interrupt()
    assert probe.result().outcome == "interrupted" and probe.result().smallest_lost is None
