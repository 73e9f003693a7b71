"""`port --banner`'s BannerSession over fabricated connections (issue 14 point 6): a greeting
dripped byte by byte, a reset, an endless line (bounded), silence then the HEAD probe — no
socket, no root.  test_port.py reads the same banners from real lab services."""

from __future__ import annotations

import errno

from netladder.l4.banner import MAX_READ, BannerSession, banner_of, banner_session
from netladder.net.session import Close, Connect, Step, Write
from sessions import FakeClock, connected, stream, written

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
