"""`api._udp.exchange` (serve's udp prober) on loopback: one datagram out through the driver,
the echo back timed from its send by the kernel's stamps, a closed port's ICMP error, and
options that cannot be run refused before any socket opens."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from netladder.api._udp import Datagram, UdpOptions, exchange
from netladder.errors import UsageError


def test_an_echo_comes_back_timed_from_its_send() -> None:
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    echo.setblocking(False)
    port = echo.getsockname()[1]

    async def main() -> Datagram:
        loop = asyncio.get_running_loop()

        def reply() -> None:
            data, peer = echo.recvfrom(2048)
            echo.sendto(data[::-1], peer)

        loop.add_reader(echo.fileno(), reply)
        try:
            return await exchange(UdpOptions("127.0.0.1", port, b"hello", timeout=2.0))
        finally:
            loop.remove_reader(echo.fileno())

    try:
        answer = asyncio.run(main())
    finally:
        echo.close()
    assert answer.data == b"olleh" and answer.sent and not answer.timed_out
    assert answer.rtt is not None and 0 < answer.rtt <= answer.elapsed < 2.0


def test_a_closed_port_answers_with_port_unreachable_and_silence_times_out() -> None:
    closed = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    closed.bind(("::1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        refused = asyncio.run(exchange(UdpOptions("::1", closed_port, b"x", timeout=2.0)))
        quiet = asyncio.run(
            exchange(UdpOptions("127.0.0.1", silent.getsockname()[1], b"x", timeout=0.2))
        )
        assert silent.recv(16) == b"x"  # it did arrive: silence is the service's
    finally:
        silent.close()
    assert refused.error == errno.ECONNREFUSED and refused.sent and refused.data is None
    assert refused.icmp is not None and refused.icmp.offender == "::1"
    assert quiet.timed_out and quiet.sent and quiet.rtt is None
    assert 0.2 <= quiet.elapsed < 1.0


@pytest.mark.parametrize(
    ("options", "said", "korean"),
    [
        (UdpOptions("localhost", 7), "not an address: 'localhost'", "주소가 아닙니다: 'localhost'"),
        (UdpOptions("[::1]", 7), "not an address: '[::1]'", "주소가 아닙니다: '[::1]'"),
        (
            UdpOptions("127.0.0.1", 0),
            "the port must be 1-65535, not 0",
            "포트는 1-65535여야 합니다 (0은(는) 안 됩니다)",
        ),
        (
            UdpOptions("127.0.0.1", 7, timeout=0.0),
            "the timeout must be positive, not 0 s",
            "제한 시간은 0보다 커야 합니다 (0초는 안 됩니다)",
        ),
    ],
)
def test_options_that_cannot_be_run_are_a_usage_error(
    options: UdpOptions, said: str, korean: str
) -> None:
    """English by default; a template the command line says in Korean under --lang ko."""
    with pytest.raises(UsageError) as refused:
        asyncio.run(exchange(options))
    assert str(refused.value) == said
    from netladder import i18n

    i18n.set_language("ko")
    try:
        assert refused.value.render(i18n._) == korean
    finally:
        i18n.set_language("en")
