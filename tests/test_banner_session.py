"""`port --banner`'s BannerSession over fabricated connections (issue 14 point 6): a greeting
dripped byte by byte, a reset, an endless line (bounded), silence then the HEAD probe; and
UdpExchange (serve's udp prober, forward verify) over fabricated datagrams and ICMP errors — no
socket, no root.  test_port.py reads the same banners from real lab services."""

from __future__ import annotations

import errno

import pytest

from netladder.l4.banner import MAX_READ, BannerSession, UdpExchange, banner_of, banner_session
from netladder.net.linux import SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_LOCAL
from netladder.net.session import Close, Connect, OpenChannel, Opened, Step, Write
from netladder.net.sockets import SockError
from sessions import FakeClock, connected, received, sent, stream, written

ADDRESS = "198.51.100.10"


def opened(session: BannerSession, clock: FakeClock) -> Step:
    session.start(clock.now)
    step = session.poll(clock.now)
    assert [type(a) for a in step.actions] == [Connect]
    clock.advance(0.001)
    connected(session, 0, clock)
    return session.poll(clock.now)


def test_a_greeting_dripped_byte_by_byte_is_read_to_its_line_end() -> None:
    clock = FakeClock()
    session = banner_session(ADDRESS, 22, None, 3.0)
    opened(session, clock)
    greeting = b"SSH-2.0-OpenSSH_9.2p1\r\n"
    steps = stream(session, 0, [greeting[i : i + 1] for i in range(len(greeting))], clock,
                   spacing=0.01, eof=False)  # fmt: skip
    assert steps[-1].done and any(isinstance(a, Close) for a in steps[-1].actions)
    assert written(steps) == b""  # it spoke first: no probe
    banner, error = banner_of(session.result())
    assert error is None and banner is not None
    assert (banner.text, banner.probe, banner.end) == ("SSH-2.0-OpenSSH_9.2p1", "greeting", "line")


def test_a_reset_after_part_of_a_greeting_is_said_as_a_reset() -> None:
    clock = FakeClock()
    session = banner_session(ADDRESS, 25, None, 3.0)
    opened(session, clock)
    stream(session, 0, [b"220 mail"], clock, eof=False)
    session.on_error(0, errno.ECONNRESET, clock.now)
    assert session.poll(clock.now).done
    banner, _ = banner_of(session.result())
    assert banner is not None and (banner.text, banner.end) == ("220 mail", "reset")


def test_an_endless_line_stops_at_the_read_limit() -> None:
    clock = FakeClock()
    session = banner_session(ADDRESS, 2000, None, 3.0)
    opened(session, clock)
    steps = stream(session, 0, [b"A" * 4096] * 64, clock, eof=False)
    assert steps[0].done  # the first chunk filled the limit: nothing more is read
    answer = session.result()
    assert len(answer.data) == MAX_READ and answer.end == "limit"


def test_a_silent_http_port_is_asked_with_head_and_its_status_line_is_the_banner() -> None:
    clock = FakeClock()
    session = banner_session(ADDRESS, 80, "www.lab", 3.0)
    step = opened(session, clock)
    [write] = [a for a in step.actions if isinstance(a, Write)]  # at once on an HTTP port
    assert write.data.startswith(b"HEAD / HTTP/1.0\r\n") and b"Host: www.lab\r\n" in write.data
    stream(session, 0, [b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"], clock)
    banner, _ = banner_of(session.result())
    assert banner is not None and (banner.text, banner.probe) == ("HTTP/1.1 200 OK", "http-head")


def test_a_service_that_says_nothing_gets_the_probe_then_times_out_within_the_wait() -> None:
    clock = FakeClock()
    session = BannerSession(ADDRESS, 2001, b"PROBE\r\n", 1.0, greeting=0.5)
    step = opened(session, clock)
    assert step.wake_at == clock.at(0.5) and not written([step])
    clock.now = step.wake_at
    step = session.poll(clock.now)
    assert written([step]) == b"PROBE\r\n"
    assert step.wake_at == clock.at(1.0)
    clock.now = step.wake_at
    assert session.poll(clock.now).done
    answer = session.result()
    assert answer.end == "timeout" and answer.data == b"" and answer.probed


# -- UdpExchange: one datagram out, the first datagram or ICMP error back --------------------


def udp_sent(clock: FakeClock, wait: float = 2.0, opening: float = 0.003) -> UdpExchange:
    """An exchange whose socket opened `opening` seconds after its start and whose datagram
    left right then."""
    session = UdpExchange(ADDRESS, 7, b"hello", wait)
    session.start(clock.now)
    [open_channel] = session.poll(clock.now).actions
    assert isinstance(open_channel, OpenChannel) and open_channel.spec.connect == (ADDRESS, 7)
    clock.advance(opening)
    session.on_opened(0, 0, Opened("udp", 4, None, ("198.51.100.2", 40000), False))
    [send] = sent(session, session.poll(clock.now), clock)
    assert (send.data, send.address) == (b"hello", (ADDRESS, 7))
    return session


def test_an_answer_is_timed_from_its_send_not_from_the_socket_opening() -> None:
    clock = FakeClock()
    session = udp_sent(clock, opening=0.003)
    clock.advance(0.012)
    session.on_packet(0, received(b"hello", ADDRESS, clock, port=7))
    clock.advance(0.001)
    session.on_packet(0, received(b"later", ADDRESS, clock, port=7))  # only the first counts
    assert session.poll(clock.now).done
    answer = session.result()
    assert (answer.data, answer.error, answer.sent, answer.timed_out) == (
        b"hello",
        0,
        True,
        False,
    )
    assert answer.rtt == pytest.approx(0.012) and answer.elapsed == pytest.approx(0.015)


def test_port_unreachable_is_the_answer_with_its_icmp_error_and_time() -> None:
    clock = FakeClock()
    session = udp_sent(clock)
    clock.advance(0.0005)
    refusal = SockError(errno.ECONNREFUSED, SO_EE_ORIGIN_ICMP, 3, 3, 0, ADDRESS)
    session.on_packet(0, received(b"", ADDRESS, clock, error=refusal))
    assert session.poll(clock.now).done
    answer = session.result()
    assert (answer.data, answer.error, answer.icmp, answer.sent) == (
        None,
        errno.ECONNREFUSED,
        refusal,
        True,
    )
    assert answer.rtt == pytest.approx(0.0005)


def test_a_local_error_on_the_queue_is_no_answer_but_the_exchanges_end() -> None:
    # The kernel's own error about the datagram (origin local, no ICMP): nothing came back, so
    # no rtt, but waiting past it would report a timeout where the error is the news.
    clock = FakeClock()
    session = udp_sent(clock, wait=1.0)
    clock.advance(0.002)
    local = SockError(errno.EMSGSIZE, SO_EE_ORIGIN_LOCAL, 0, 0, 1400, None)
    session.on_packet(0, received(b"", "", clock, error=local))
    assert session.poll(clock.now).done
    answer = session.result()
    assert (answer.data, answer.error, answer.icmp, answer.timed_out, answer.rtt) == (
        None,
        errno.EMSGSIZE,
        local,
        False,
        None,
    )


def test_silence_ends_at_the_wait_with_the_datagram_sent_and_no_rtt() -> None:
    clock = FakeClock()
    session = udp_sent(clock, wait=1.0, opening=0.0)
    step = session.poll(clock.now)
    assert step.wake_at == clock.at(1.0) and not step.done
    clock.now = step.wake_at
    assert session.poll(clock.now).done
    answer = session.result()
    assert (answer.data, answer.timed_out, answer.sent, answer.rtt) == (None, True, True, None)
    assert answer.elapsed == pytest.approx(1.0)


def test_a_socket_that_does_not_open_or_a_failed_send_never_sent_anything() -> None:
    clock = FakeClock()
    session = UdpExchange(ADDRESS, 7, b"hello", 2.0)
    session.start(clock.now)
    session.poll(clock.now)
    session.on_opened(0, -1, errno.ENETUNREACH)  # connect() of the UDP socket: no route
    assert session.poll(clock.now).done
    answer = session.result()
    assert (answer.error, answer.sent, answer.timed_out, answer.rtt, answer.opened) == (
        errno.ENETUNREACH,
        False,
        False,
        None,
        False,
    )

    session = UdpExchange(ADDRESS, 7, b"hello", 2.0)
    session.start(clock.now)
    session.poll(clock.now)
    session.on_opened(0, 0, Opened("udp", 4, None, None, False))
    sent(session, session.poll(clock.now), clock, error=errno.EPERM)  # an OUTPUT filter
    assert session.poll(clock.now).done
    answer = session.result()
    # It opened: the error is the send's own (forward verify says "sendmsg: ...").
    assert (answer.error, answer.sent, answer.rtt, answer.opened) == (
        errno.EPERM,
        False,
        None,
        True,
    )
