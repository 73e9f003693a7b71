"""The one I/O driver over real loopback sockets: datagrams with their stamps, connects,
streams, TLS, many sessions on one asyncio loop, and Ctrl-C."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netladder.net.driver import blocking, run
from netladder.net.session import (
    ChannelSpec,
    Close,
    Connect,
    ConnectOutcome,
    Opened,
    Send,
    Session,
    StartTls,
    Step,
    TlsOutcome,
    Write,
)
from netladder.net.sockets import Received
from netladder.proto.icmp import build_echo, parse_icmp

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP needs root")
MS = 1_000_000


class EchoSession(Session[list[tuple[int, int]]]):
    """Sends `count` ICMP echo requests to 127.0.0.1, 10 ms apart; collects (seq, rtt_ns)."""

    _next_ident = 0x4000

    def __init__(self, count: int = 3, prefer: str = "raw") -> None:
        self.channels = (ChannelSpec("icmp", 4, prefer=prefer),)  # type: ignore[arg-type]
        self.count = count
        self.sent_at: dict[int, int] = {}
        self.rtts: list[tuple[int, int]] = []
        self.next_send = 0
        self.seq = 0
        EchoSession._next_ident += 1
        self.ident = EchoSession._next_ident  # raw sockets see every reply: tell ours apart
        self.interrupted = False
        self.opened: list[Opened] = []

    def bind(self, opened: Any) -> None:
        self.opened = list(opened)
        if opened[0].identifier is not None:
            self.ident = opened[0].identifier

    def start(self, now: int) -> None:
        self.next_send = now

    def poll(self, now: int) -> Step:
        actions = []
        if self.seq < self.count and now >= self.next_send:
            self.seq += 1
            actions.append(
                Send(
                    0,
                    build_echo(4, self.ident, self.seq, b"netladder-test" * 4),
                    ("127.0.0.1", 0),
                    token=self.seq,
                )
            )
            self.next_send = now + 10 * MS
        done = len(self.rtts) >= self.count or self.interrupted
        return Step(
            actions,
            None if done else self.next_send if self.seq < self.count else now + 1000 * MS,
            (),
            done,
        )

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        assert error is None
        self.sent_at[token] = at

    def on_packet(self, channel: int, packet: Received) -> None:
        message = parse_icmp(packet.data, 4, self.opened[0].includes_ip_header)
        if message is None or not message.is_echo_reply or message.identifier != self.ident:
            return
        sent = self.sent_at.pop(message.sequence, None)
        if sent is not None:
            self.rtts.append((message.sequence, packet.monotonic_ns - sent))

    def interrupt(self) -> None:
        self.interrupted = True

    def result(self) -> list[tuple[int, int]]:
        return self.rtts


@pytest.mark.parametrize("prefer", ["raw", "dgram"])
def test_datagram_sessions_get_each_reply_with_its_own_send_stamp(prefer: str) -> None:
    if prefer == "dgram":
        with open("/proc/sys/net/ipv4/ping_group_range", "w") as f:
            f.write("0 2147483647")
    session = EchoSession(count=3, prefer=prefer)
    blocking(run([session]))
    assert session.opened[0].kind == prefer
    assert sorted(seq for seq, _ in session.result()) == [1, 2, 3]
    # Each RTT is a kernel receive stamp minus the stamp taken right before that send: positive
    # and small on loopback, never one shared "now".
    assert all(0 < rtt < 50 * MS for _, rtt in session.result())
    assert len({rtt for _, rtt in session.result()}) == 3


class ConnectSession(Session[dict[int, ConnectOutcome]]):
    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.outcomes: dict[int, ConnectOutcome] = {}
        self.started = False

    def poll(self, now: int) -> Step:
        actions: list[Any] = []
        if not self.started:
            self.started = True
            actions = [Connect(p, "127.0.0.1", p) for p in self.ports]
        done = len(self.outcomes) == len(self.ports)
        return Step(actions, None, (), done)

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        self.outcomes[token] = outcome

    def result(self) -> dict[int, ConnectOutcome]:
        return self.outcomes


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    yield s
    s.close()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_connects_report_open_and_refused_each_from_its_own_answer(listener: socket.socket) -> None:
    open_port = listener.getsockname()[1]
    closed = free_port()
    session = ConnectSession([open_port, closed])
    blocking(run([session]))
    assert session.outcomes[open_port].error == 0
    assert session.outcomes[closed].error == errno.ECONNREFUSED


class StreamSession(Session[bytes]):
    """Connects, optionally starts TLS, writes a line, reads until EOF."""

    def __init__(self, port: int, tls: bool = False, server_name: str | None = None) -> None:
        self.port = port
        self.tls = tls
        self.server_name = server_name
        self.data = bytearray()
        self.state = "new"
        self.tls_outcome: TlsOutcome | None = None
        self.queue: list[Any] = []

    def poll(self, now: int) -> Step:
        if self.state == "new":
            self.state = "connecting"
            return Step([Connect(1, "127.0.0.1", self.port, keep=True)])
        actions, self.queue = self.queue, []
        return Step(actions, None, (), self.state == "done")

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        assert outcome.error == 0
        if self.tls:
            self.queue.append(StartTls(1, self.server_name, verify=False))
        else:
            self.queue.append(Write(1, b"hello\n"))

    def on_tls(self, token: int, outcome: TlsOutcome) -> None:
        self.tls_outcome = outcome
        if outcome.error is None:
            self.queue.append(Write(1, b"hello\n"))
        else:
            self.queue.append(Close(1))
            self.state = "done"

    def on_data(self, token: int, data: bytes, at: int) -> None:
        if data:
            self.data += data
        else:
            self.state = "done"

    def result(self) -> bytes:
        return bytes(self.data)


def _serve_once(server: socket.socket, context: ssl.SSLContext | None) -> threading.Thread:
    def work() -> None:
        conn, _ = server.accept()
        if context is not None:
            conn = context.wrap_socket(conn, server_side=True)
        line = b""
        while not line.endswith(b"\n"):
            chunk = conn.recv(100)
            if not chunk:
                break
            line += chunk
        conn.sendall(b"echo: " + line * 1000)  # more than one read's worth
        conn.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_kept_connection_carries_bytes_both_ways_until_eof(listener: socket.socket) -> None:
    thread = _serve_once(listener, None)
    session = StreamSession(listener.getsockname()[1])
    blocking(run([session]))
    thread.join(5)
    assert session.result() == b"echo: " + b"hello\n" * 1000


def _self_signed(directory: Path) -> ssl.SSLContext:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "driver.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def test_tls_over_a_kept_connection_under_both_reactors(
    listener: socket.socket, tmp_path: Path
) -> None:
    context = _self_signed(tmp_path)
    thread = _serve_once(listener, context)
    sync_session = StreamSession(listener.getsockname()[1], tls=True, server_name="driver.test")
    blocking(run([sync_session]))
    thread.join(5)
    assert sync_session.tls_outcome is not None and sync_session.tls_outcome.error is None
    assert sync_session.result().startswith(b"echo: hello\n")

    thread = _serve_once(listener, context)
    async_session = StreamSession(listener.getsockname()[1], tls=True, server_name="driver.test")
    asyncio.run(run([async_session]))
    thread.join(5)
    assert async_session.result() == sync_session.result()


def test_a_failed_tls_handshake_is_an_outcome_not_an_exception(listener: socket.socket) -> None:
    def plain_answer() -> None:
        conn, _ = listener.accept()
        conn.recv(1000)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=plain_answer, daemon=True)
    thread.start()
    session = StreamSession(listener.getsockname()[1], tls=True)
    blocking(run([session]))
    thread.join(5)
    assert session.tls_outcome is not None and session.tls_outcome.error


def test_hundreds_of_sessions_share_one_asyncio_loop(listener: socket.socket) -> None:
    open_port = listener.getsockname()[1]
    closed = free_port()

    async def main() -> tuple[list[EchoSession], list[ConnectSession]]:
        echoes = [EchoSession(count=2) for _ in range(150)]
        connects = [ConnectSession([open_port, closed]) for _ in range(150)]
        ticks = 0

        async def ticker() -> None:  # the loop stays free for other work meanwhile
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        tick = asyncio.create_task(ticker())
        everything: list[Session[Any]] = [*echoes, *connects]
        await asyncio.gather(*(run([s]) for s in everything))
        tick.cancel()
        assert ticks > 0
        return echoes, connects

    echoes, connects = asyncio.run(main())
    # Raw ICMP sockets each see every reply: each session must keep only its own.
    assert all(sorted(seq for seq, _ in e.result()) == [1, 2] for e in echoes)
    assert all(c.outcomes[open_port].error == 0 for c in connects)
    assert all(c.outcomes[closed].error == errno.ECONNREFUSED for c in connects)


class ForeverSession(EchoSession):
    def poll(self, now: int) -> Step:
        if self.interrupted:
            return Step((), None, (), True)
        if self.seq == 1:
            raise KeyboardInterrupt  # as if Ctrl-C arrived while it waited
        return super().poll(now)


def test_ctrl_c_interrupts_every_session_closes_its_sockets_and_says_so() -> None:
    session = ForeverSession(count=10)
    before = set(os.listdir("/proc/self/fd"))
    assert blocking(run([session])) is True
    assert session.interrupted
    assert set(os.listdir("/proc/self/fd")) <= before | {str(n) for n in range(3)}
