"""names/stun.py without a socket: a Binding exchange fed fabricated datagrams on a fake
clock — XOR-MAPPED and classic MAPPED answers, another transaction's answer waited past, an
error class, the ICMP port unreachable from the error queue, RFC 8489's retransmissions."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import threading

from netladder import api
from netladder.names.model import StunOptions, StunResult
from netladder.names.stun import StunSession
from netladder.net.driver import blocking
from netladder.net.session import ChannelSpec, Lookup, OpenChannel, Opened, Send
from netladder.net.sockets import SockError
from netladder.proto import stun
from netladder.render.myip import failure_text
from sessions import FakeClock, looked_up, received, sent, start

SERVER = "203.0.113.6"
TXID = bytes(range(12))
LOCAL = ("198.51.100.2", 40000)


def asking(clock: FakeClock, timeout: float = 3.0) -> StunSession:
    """A session whose lookup and channel are done and whose first request went out."""
    session = StunSession(SERVER, 3478, txid=TXID, timeout=timeout)
    first = start(session, clock, opened=[])
    assert first.actions == [Lookup(1, SERVER, version=None, wait=timeout)]
    looked_up(session, 1, SERVER, SERVER, clock)
    step = session.poll(clock.now)
    assert step.actions == [
        OpenChannel(2, ChannelSpec("udp", 4, connect=(SERVER, 3478), recv_ttl=False))
    ]
    session.on_opened(2, 0, Opened("udp", 4, None, LOCAL, False))
    (request,) = sent(session, session.poll(clock.now), clock)
    assert request == Send(0, stun.build_binding_request(TXID, fingerprint=True), (SERVER, 3478), 1)
    return session


def answer(session: StunSession, clock: FakeClock, data: bytes) -> StunResult:
    clock.advance(0.003)
    session.on_packet(0, received(data, SERVER, clock, port=3478))
    session.poll(clock.now)
    return session.result()


def test_a_xor_mapped_answer_is_the_public_address_beside_our_end() -> None:
    clock = FakeClock()
    session = asking(clock)
    result = answer(session, clock, stun.build_binding_response(TXID, "203.0.113.5", 40000))
    assert result.ok and (result.address, result.port) == ("203.0.113.5", 40000)
    assert (result.local_address, result.local_port) == LOCAL and result.server == SERVER
    assert result.time == 0.003 and result.requests == 1
    assert session.poll(clock.now).done


def test_a_classic_mapped_address_is_read_too() -> None:
    clock = FakeClock()
    session = asking(clock)
    data = stun.build_binding_response(TXID, "203.0.113.5", 1234, xor=False, classic=True)
    assert answer(session, clock, data).address == "203.0.113.5"


def test_an_answer_to_another_transaction_is_counted_and_waited_past() -> None:
    clock = FakeClock()
    session = asking(clock, timeout=0.8)
    other = stun.build_binding_response(bytes(12), "198.51.100.99", 1)  # not ours
    result = answer(session, clock, other)
    assert not result.ok and result.error is None and result.ignored == 1
    result = answer(session, clock, b"\x00garbage")
    assert result.ignored == 2
    clock.advance(0.8)
    step = session.poll(clock.now)
    assert step.done
    result = session.result()
    assert result.error is not None and failure_text(result.error) == (
        "timeout after 0.8 s: no answer to 1 Binding request(s); 2 unrelated or unparsable "
        "datagram(s) ignored"
    )


def test_an_error_answer_is_no_address_with_its_code() -> None:
    clock = FakeClock()
    session = asking(clock)
    reason = b"Server Error"
    code = struct.pack("!HBB", 0, 5, 0) + reason
    data = stun.build_message(
        stun.BINDING_ERROR, TXID, (stun.Attribute(stun.ERROR_CODE, code),), fingerprint=True
    )
    result = answer(session, clock, data)
    assert result.error is not None and failure_text(result.error) == "STUN error 500 Server Error"


def test_our_own_request_echoed_back_is_named() -> None:
    clock = FakeClock()
    session = asking(clock)
    result = answer(session, clock, stun.build_binding_request(TXID, fingerprint=True))
    assert result.error is not None and result.error.kind == "echo"


def test_an_icmp_port_unreachable_means_nothing_listens() -> None:
    clock = FakeClock()
    session = asking(clock)
    refused = SockError(errno.ECONNREFUSED, 2, 3, 3, 0, SERVER)
    session.on_packet(0, received(b"", SERVER, clock, error=refused))
    assert session.poll(clock.now).done
    result = session.result()
    assert result.error is not None and failure_text(result.error) == (
        "nothing listens on 203.0.113.6 port 3478 (ICMP port unreachable)"
    )


def test_requests_are_retransmitted_at_0_0_5_and_1_5_s() -> None:
    clock = FakeClock()
    session = asking(clock, timeout=2.0)
    times = [0.0]
    start_ns = clock.now
    while True:
        step = session.poll(clock.now)
        if step.done:
            break
        assert step.wake_at is not None
        clock.now = step.wake_at
        if sent(session, session.poll(clock.now), clock):
            times.append((clock.now - start_ns) / 1e9)
    assert times == [0.0, 0.5, 1.5]
    assert session.result().requests == 3


def test_a_literal_of_the_other_family_is_refused_without_a_lookup() -> None:
    clock = FakeClock()
    session = StunSession("2001:db8:b::2", version=4, txid=TXID)
    step = start(session, clock, opened=[])
    assert step.done and step.actions == []
    result = session.result()
    assert result.error is not None and failure_text(result.error) == (
        "2001:db8:b::2 is not an IPv4 address (-4 was asked)"
    )


def test_an_interrupted_exchange_says_what_it_sent() -> None:
    clock = FakeClock()
    session = asking(clock)
    session.interrupt()
    result = session.result()
    assert result.interrupted and result.error is not None and result.error.cut == "interrupted"
    assert result.requests == 1


# -- the same session through the driver, against a STUN responder on loopback ----------------


def _responder(sock: socket.socket) -> threading.Thread:
    def work() -> None:
        data, peer = sock.recvfrom(2048)
        message = stun.parse_message(data)
        sock.sendto(stun.build_binding_response(message.transaction_id, peer[0], peer[1]), peer)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_api_stun_under_both_drivers_and_a_closed_port() -> None:
    for drive in ("select", "asyncio"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            thread = _responder(sock)
            options = StunOptions(f"127.0.0.1:{sock.getsockname()[1]}", timeout=5.0)
            if drive == "select":
                result = blocking(api.stun(options))
            else:
                result = asyncio.run(api.stun(options))
            thread.join(5)
        assert result.ok and result.address == "127.0.0.1" == result.local_address
        assert result.port == result.local_port and result.requests == 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result = blocking(api.stun(StunOptions(f"127.0.0.1:{closed}", timeout=5.0)))
    assert result.error is not None and result.error.kind == "refused"
    assert result.time is not None and result.time < 5.0  # the ICMP error ended it
