"""The session contract's additions (issue 14 §1.6) and the three entry points (§1.5), each
once through the real driver over loopback or a private namespace and, where a session is
involved, once through the fabricated helpers of tests/sessions.py — one engine, two drivers."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netladder.errors import UsageError
from netladder.net.driver import blocking, lookup, run
from netladder.net.session import (
    ChannelSpec,
    Close,
    CloseChannel,
    Connect,
    ConnectOutcome,
    Lookup,
    OpenChannel,
    Opened,
    Packet,
    ScanConnects,
    Send,
    SendBurst,
    Session,
    StartTls,
    Step,
    TlsOutcome,
    Write,
)
from netladder.net.sockets import Received, SockError, source_for
from netladder.net.targets import ResolveError, Target
from sessions import (
    FakeClock,
    ack_burst,
    connected,
    fast,
    looked_up,
    stream,
    tls_done,
    written,
)

MS = 1_000_000
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (raw sockets, namespaces)")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield s
    s.close()


_NAMES = itertools.count()


@pytest.fixture
def netns() -> Iterator[str]:
    """A private network namespace with only loopback, down: nothing is routed there."""
    if not ROOT:
        pytest.skip("needs root (ip netns)")
    name = f"nl-drv-{os.getpid()}-{next(_NAMES)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


# -- a fetch: Lookup → Connect(keep) → StartTls? → Write → read to the end -------------------


class Fetch(Session[bytes]):
    """The shape of every stream prober (HTTP, banners, myip's echo), in miniature."""

    def __init__(self, host: str, port: int, tls: bool = False, netns: str | None = None) -> None:
        self.host, self.port, self.tls, self.netns = host, port, tls, netns
        self.queue: list[Any] = [Lookup(1, host, version=4)]
        self.data = bytearray()
        self.target: Target | ResolveError | None = None
        self.outcome: ConnectOutcome | None = None
        self.tls_outcome: TlsOutcome | None = None
        self.finished = False
        self.at: dict[str, int] = {}

    def poll(self, now: int) -> Step:
        actions, self.queue = self.queue, []
        return Step(actions, None, (), self.finished)

    def on_lookup(self, token: int, answer: Target | ResolveError, at: int) -> None:
        self.target, self.at["lookup"] = answer, at
        if isinstance(answer, ResolveError):
            self.finished = True
        else:
            self.queue.append(Connect(2, answer.address, self.port, keep=True, netns=self.netns))

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        self.outcome, self.at["connect"] = outcome, outcome.at
        if outcome.error:
            self.finished = True
        elif self.tls:
            self.queue.append(StartTls(2, "driver.test", verify=False, alpn=("http/1.1",)))
        else:
            self.queue.append(Write(2, b"GET / HTTP/1.0\r\n\r\n"))

    def on_tls(self, token: int, outcome: TlsOutcome) -> None:
        self.tls_outcome = outcome
        if outcome.error is None:
            self.queue.append(Write(2, b"GET / HTTP/1.0\r\n\r\n"))
        else:
            self.finished = True

    def on_data(self, token: int, data: bytes, at: int) -> None:
        self.data += data
        if not data:
            self.finished = True

    def interrupt(self) -> None:
        self.finished = True

    def result(self) -> bytes:
        return bytes(self.data)


def test_a_fetch_over_fabricated_input_needs_no_socket() -> None:
    clock = FakeClock()
    session = Fetch("www.lab", 80)
    first = session.poll(clock.now)
    assert first.actions == [Lookup(1, "www.lab", version=4)]
    clock.advance(0.004)
    looked_up(session, 1, "www.lab", "198.51.100.10", clock)
    (connect,) = session.poll(clock.now).actions
    assert connect == Connect(2, "198.51.100.10", 80, keep=True)
    clock.advance(0.001)
    connected(session, 2, clock, rtt=0.001)
    step = session.poll(clock.now)
    steps = stream(session, 2, [b"HTTP/1.0 200 OK\r\n", b"\r\nbody"], clock, spacing=0.002)
    assert written([step]) == b"GET / HTTP/1.0\r\n\r\n"
    assert session.result() == b"HTTP/1.0 200 OK\r\n\r\nbody"
    assert steps[-1].done and not steps[0].done

    failing = Fetch("nowhere.lab", 80)
    failing.poll(clock.now)
    answer = looked_up(failing, 1, "nowhere.lab", "Name or service not known", clock)
    assert isinstance(answer, ResolveError) and failing.poll(clock.now).done

    secure = Fetch("www.lab", 443, tls=True)
    secure.poll(clock.now)
    looked_up(secure, 1, "www.lab", "2001:db8::10", clock)
    secure.poll(clock.now)
    connected(secure, 2, clock)
    assert isinstance(secure.poll(clock.now).actions[0], StartTls)
    outcome = tls_done(secure, 2, clock, alpn="http/1.1")
    assert outcome.info is not None and outcome.info.alpn == "http/1.1"
    assert written([secure.poll(clock.now)]).startswith(b"GET")


def _serve(listener: socket.socket, answer: bytes, tls: Any = None) -> threading.Thread:
    def work() -> None:
        conn, _ = listener.accept()
        if tls is not None:
            conn = tls.wrap_socket(conn, server_side=True)
        with conn:
            request = b""
            while not request.endswith(b"\r\n\r\n"):
                chunk = conn.recv(100)
                if not chunk:
                    return
                request += chunk
            conn.sendall(answer)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_the_same_fetch_through_the_driver_under_both_reactors(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    for drive in ("select", "asyncio"):
        thread = _serve(listener, b"HTTP/1.0 200 OK\r\n\r\nbody")
        session = Fetch("localhost", port)
        if drive == "select":
            assert blocking(run([session])) is False
        else:
            assert asyncio.run(run([session])) is False
        thread.join(5)
        assert session.result() == b"HTTP/1.0 200 OK\r\n\r\nbody"
        assert isinstance(session.target, Target) and session.target.address == "127.0.0.1"
        assert session.at["lookup"] <= session.at["connect"]


def test_tls_outcome_carries_the_one_tls_details_type(
    listener: socket.socket, tmp_path: Path
) -> None:
    from test_driver import _self_signed

    context = _self_signed(tmp_path)
    context.set_alpn_protocols(["http/1.1"])
    thread = _serve(listener, b"HTTP/1.0 204 No Content\r\n\r\n", context)
    session = Fetch("127.0.0.1", listener.getsockname()[1], tls=True)
    blocking(run([session]))
    thread.join(5)
    outcome = session.tls_outcome
    assert outcome is not None and outcome.error is None and outcome.info is not None
    info = outcome.info
    assert info.subject == "CN=driver.test" and info.issuer == "CN=driver.test"
    assert info.version.startswith("TLSv1.") and info.alpn == "http/1.1"
    assert info.verified is False and info.error is None
    assert info.validity == "valid" and 0 < info.days_to_expiry <= 1
    assert info.not_after.endswith("Z") and info.not_after_offset.endswith("+00:00")
    assert session.result().startswith(b"HTTP/1.0 204")


class Handshake(Session[TlsOutcome | None]):
    """Connect, then StartTls with the given verification: the outcome is the result."""

    def __init__(self, port: int, *, cafile: str | None = None, verify: bool = True) -> None:
        self.queue: list[Any] = [Connect(1, "127.0.0.1", port, keep=True)]
        self.cafile, self.verify = cafile, verify
        self.outcome: TlsOutcome | None = None
        self.finished = False

    def poll(self, now: int) -> Step:
        actions, self.queue = self.queue, []
        return Step(actions, None, (), self.finished)

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        if outcome.error:
            self.finished = True
        else:
            self.queue.append(StartTls(1, "driver.test", self.verify, self.cafile))

    def on_tls(self, token: int, outcome: TlsOutcome) -> None:
        self.outcome = outcome
        self.queue.append(Close(1))
        self.finished = True

    def interrupt(self) -> None:
        self.finished = True

    def result(self) -> TlsOutcome | None:
        return self.outcome


def test_a_failed_handshake_says_whether_the_certificate_or_the_setup_failed(
    listener: socket.socket, tmp_path: Path
) -> None:
    from test_driver import _self_signed

    context = _self_signed(tmp_path)

    def handshake_once() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):  # our side refuses the certificate
            context.wrap_socket(conn, server_side=True)

    thread = threading.Thread(target=handshake_once, daemon=True)
    thread.start()
    session = Handshake(listener.getsockname()[1])  # verified against the system store
    blocking(run([session]))
    thread.join(5)
    outcome = session.result()
    assert outcome is not None and outcome.cause == "certificate"
    assert outcome.error is not None and "self-signed" in outcome.error
    # An unreadable CA file is an outcome too, never an exception out of the driver.
    bad = tmp_path / "garbage.pem"
    bad.write_text("not a certificate\n")
    session = Handshake(listener.getsockname()[1], cafile=str(bad))
    thread = threading.Thread(target=lambda: listener.accept()[0].close(), daemon=True)
    thread.start()
    blocking(run([session]))
    thread.join(5)
    outcome = session.result()
    assert outcome is not None and outcome.cause == "setup" and outcome.info is None


class LiteralLookup(Session[int]):
    def __init__(self) -> None:
        self.polled: int | None = None
        self.at = 0

    def poll(self, now: int) -> Step:
        if self.polled is None:
            self.polled = now
            return Step([Lookup(1, "198.51.100.10")])
        return Step(done=bool(self.at))

    def on_lookup(self, token: int, answer: Target | ResolveError, at: int) -> None:
        self.at = at

    def result(self) -> int:
        return self.at


def test_a_literal_lookup_is_stamped_when_it_is_answered() -> None:
    # HTTP's dns phase of an address literal is the little time it took, as curl's
    # time_namelookup: not zero, and not before the request asked for it.
    session = LiteralLookup()
    blocking(run([session]))
    assert session.polled is not None and session.result() > session.polled


# -- run, blocking, lookup --------------------------------------------------------------------


def test_the_cli_path_never_imports_asyncio() -> None:
    code = (
        "import sys\n"
        "from netladder.net.driver import blocking, lookup, run\n"
        "async def main():\n"
        "    a = await lookup('127.0.0.1')\n"
        "    b = await lookup('localhost', 4)\n"
        "    return a.address, b.address, await run([])\n"
        "print(blocking(main()), 'asyncio' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "('127.0.0.1', '127.0.0.1', False) False"


def test_a_literal_needs_no_thread_and_a_bad_name_is_bad_input() -> None:
    before = threading.active_count()
    target = blocking(lookup("[2001:db8::1]"))
    assert target == Target("2001:db8::1", "2001:db8::1", 6)
    assert threading.active_count() == before
    with pytest.raises(UsageError, match="invalid target"):
        blocking(lookup("300.1.2.3"))
    with pytest.raises(UsageError, match="not an IPv6 address"):
        blocking(lookup("127.0.0.1", 6))


def test_a_hung_lookup_ends_after_its_wait_under_both_reactors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()

    def hang(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    try:
        for how in ("select", "asyncio"):
            started = time.monotonic()
            with pytest.raises(ResolveError, match="no answer from the resolver within 0.2 s"):
                if how == "select":
                    blocking(lookup("slow.lab", wait=0.2))
                else:
                    asyncio.run(lookup("slow.lab", wait=0.2))
            assert 0.2 <= time.monotonic() - started < 10
    finally:
        release.set()


class Lookups(Session[dict[int, Any]]):
    def __init__(self, actions: list[Lookup]) -> None:
        self.actions: list[Any] = list(actions)
        self.answers: dict[int, Any] = {}
        self.expected = len(actions)

    def poll(self, now: int) -> Step:
        actions, self.actions = self.actions, []
        return Step(actions, None, (), len(self.answers) == self.expected)

    def on_lookup(self, token: int, answer: Any, at: int) -> None:
        assert token not in self.answers
        self.answers[token] = answer

    def result(self) -> dict[int, Any]:
        return self.answers


def test_lookups_inside_a_session_each_end_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    release = threading.Event()

    def maybe_hang(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.lab":
            release.wait(30)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", maybe_hang)
    session = Lookups(
        [
            Lookup(1, "localhost", version=4),
            Lookup(2, "198.51.100.7"),
            Lookup(3, "slow.lab", wait=0.2),
            Lookup(4, "a b"),
        ]
    )
    try:
        blocking(run([session]))
    finally:
        release.set()
    answers = session.result()
    assert answers[1].address == "127.0.0.1" and answers[1].lookup_s > 0
    assert answers[2] == Target("198.51.100.7", "198.51.100.7", 4)
    assert isinstance(answers[3], ResolveError) and "within 0.2 s" in answers[3].reason
    assert isinstance(answers[4], ResolveError) and answers[4].name == "a b"


class Forever(Session[None]):
    """Holds a UDP channel and never finishes on its own."""

    channels = (ChannelSpec("udp", 4),)

    def __init__(self) -> None:
        self.interrupted = False

    def poll(self, now: int) -> Step:
        return Step((), None, (), self.interrupted)

    def interrupt(self) -> None:
        self.interrupted = True

    def result(self) -> None:
        return None


def test_cancellation_under_asyncio_interrupts_closes_and_propagates() -> None:
    session = Forever()
    before = set(os.listdir("/proc/self/fd"))

    async def main() -> None:
        task = asyncio.create_task(run([session]))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert session.interrupted
    assert set(os.listdir("/proc/self/fd")) <= before


# -- datagrams: SendBurst, fast channels, the error queue, recv_ttl ---------------------------


class EchoBurst:
    """A burst of ICMP echo requests to 127.0.0.1 carrying their own send time (a sweep's)."""

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.built: dict[int, int] = {}
        self.sent_at: dict[int, int] = {}

    def build(self, k: int, now_ns: int, ip_header: bool) -> tuple[bytes, tuple[Any, ...]]:
        from netladder.proto.icmp import build_echo

        assert not ip_header  # the plain strategy never sends with IP_HDRINCL
        self.built[k] = now_ns
        return build_echo(4, self.ident, k, struct.pack("!q", now_ns) + b"x" * 24), (
            "127.0.0.1",
            0,
        )

    def sent(self, k: int, at_ns: int, error: int | None) -> None:
        assert error is None
        self.sent_at[k] = at_ns


class Sweep(Session[dict[int, int]]):
    def __init__(self, count: int, recv_ttl: bool = True) -> None:
        self.channels = (ChannelSpec("icmp", 4, prefer="raw", fast=True, recv_ttl=recv_ttl),)
        self.burst = EchoBurst(0x5000 + os.getpid() % 0x1000)
        self.count = count
        self.rtts: dict[int, int] = {}
        self.batches = 0
        self.started = False

    def poll(self, now: int) -> Step:
        actions: list[Any] = []
        if not self.started:
            self.started = True
            actions.append(SendBurst(0, self.burst, 0, self.count))
        return Step(actions, now + 2000 * MS, (), len(self.rtts) == self.count)

    def on_packets(self, channel: int, packets: list[Packet]) -> None:
        from netladder.proto.icmp import parse_icmp

        self.batches += 1
        for data, stamp, source in packets:
            message = parse_icmp(data, 4, True)
            if message is None or not message.is_echo_reply:
                continue
            if message.identifier != self.burst.ident:
                continue
            (sent,) = struct.unpack_from("!q", message.payload)
            self.rtts[message.sequence] = stamp - sent
            assert source == "127.0.0.1"

    def result(self) -> dict[int, int]:
        return self.rtts


@needs_root
def test_a_burst_stamps_each_probe_and_fast_channels_take_replies_in_batches() -> None:
    session = Sweep(64)
    blocking(run([session]))
    burst = session.burst
    assert sorted(session.rtts) == list(range(64))
    # Each probe carries the time the driver read right before building it, and that is the
    # time `sent` reports: one clock read per probe, never one `now` for the whole burst.
    assert burst.built == burst.sent_at
    assert len(set(burst.built.values())) == 64
    assert all(0 < rtt < 500 * MS for rtt in session.rtts.values())
    assert session.batches < 64  # replies came in batches, not one call each


def test_a_burst_through_the_helpers() -> None:
    clock = FakeClock()
    burst = EchoBurst(7)
    step = Step([SendBurst(0, burst, 3, 6)])
    sent = ack_burst(step, clock, spacing=0.001)
    assert [k for _c, k, _d, _a in sent] == [3, 4, 5]
    assert burst.built == burst.sent_at
    assert burst.built[5] - burst.built[3] == 2 * MS
    assert fast(b"x", "198.51.100.9", clock) == (b"x", clock.now, "198.51.100.9")


class UdpEcho(Session[list[Any]]):
    """Datagrams to a UDP echo and to a closed port; what comes back, by path."""

    def __init__(self, echo: tuple[str, int], closed: int, fast: bool, recv_ttl: bool) -> None:
        self.channels = (ChannelSpec("udp", 4, fast=fast, recv_ttl=recv_ttl),)
        self.echo, self.closed = echo, closed
        self.packets: list[Packet] = []
        self.received: list[Received] = []
        self.errors: list[SockError] = []
        self.acks: dict[int, int | None] = {}
        self.sent = False

    def poll(self, now: int) -> Step:
        actions: list[Any] = []
        if not self.sent:
            self.sent = True
            actions = [
                Send(0, b"one", self.echo, 1),
                Send(0, b"two", self.echo, 2),
                Send(0, b"lost", ("127.0.0.1", self.closed), 3),
            ]
        got = len(self.packets) + len(self.received)
        return Step(actions, now + 2000 * MS, (), got == 2 and len(self.errors) == 1)

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        self.acks[token] = error

    def on_packet(self, channel: int, packet: Received) -> None:
        if packet.error is not None:
            self.errors.append(packet.error)
        else:
            self.received.append(packet)

    def on_packets(self, channel: int, packets: list[Packet]) -> None:
        self.packets += packets

    def result(self) -> list[Any]:
        return [*self.packets, *self.received]


@pytest.fixture
def udp_echo() -> Iterator[tuple[str, int]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                data, peer = server.recvfrom(100)
            except TimeoutError:
                continue
            server.sendto(data, peer)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield server.getsockname()
    stop.set()
    thread.join(5)
    server.close()


@pytest.mark.parametrize("fast_channel", [True, False])
def test_the_error_queue_arrives_beside_data_on_fast_and_plain_channels(
    udp_echo: tuple[str, int], fast_channel: bool
) -> None:
    session = UdpEcho(udp_echo, closed_port(), fast_channel, recv_ttl=not fast_channel)
    blocking(run([session]))
    assert session.acks == {1: None, 2: None, 3: None}
    assert sorted(p[0] if isinstance(p, tuple) else p.data for p in session.result()) == [
        b"one",
        b"two",
    ]
    assert (len(session.packets), len(session.received)) == ((2, 0) if fast_channel else (0, 2))
    (error,) = session.errors  # ICMP port unreachable about "lost", from the error queue
    assert error.errno == errno.ECONNREFUSED and error.is_icmp
    for packet in session.received:
        assert packet.ttl == 64  # recv_ttl on: loopback's default TTL


# -- channels opened and closed while running; hold; netns ------------------------------------


class PerPort(Session[dict[int, Any]]):
    """UDP scan style: one connected channel per port, closed once answered."""

    def __init__(self, echo: tuple[str, int], unroutable: str | None) -> None:
        self.echo = echo
        self.queue: list[Any] = [OpenChannel(1, ChannelSpec("udp", 4, connect=echo))]
        if unroutable:
            self.queue.append(OpenChannel(2, ChannelSpec("udp", 4, connect=(unroutable, 9))))
        self.expected = len(self.queue)
        self.opened: dict[int, tuple[int, Opened | int]] = {}
        self.answers: dict[int, bytes] = {}

    def poll(self, now: int) -> Step:
        actions, self.queue = self.queue, []
        done = len(self.opened) == self.expected and len(self.answers) == 1
        return Step(actions, now + 2000 * MS, (), done)

    def on_opened(self, token: int, channel: int, opened: Opened | int) -> None:
        self.opened[token] = (channel, opened)
        if isinstance(opened, Opened):
            assert opened.kind == "udp" and opened.local is not None
            self.queue.append(Send(channel, b"hello", self.echo, token))

    def on_packet(self, channel: int, packet: Received) -> None:
        if packet.error is None:
            self.answers[channel] = packet.data
            self.queue.append(CloseChannel(channel))

    def result(self) -> dict[int, Any]:
        return self.answers


def test_channels_open_and_close_while_a_session_runs(udp_echo: tuple[str, int]) -> None:
    # 198.51.100.0/24 has no route in the test namespace: connect() fails with ENETUNREACH.
    unroutable = None if source_for("198.51.100.1") else "198.51.100.1"
    session = PerPort(udp_echo, unroutable)
    blocking(run([session]))
    channel, opened = session.opened[1]
    assert channel == 0 and isinstance(opened, Opened)
    assert session.answers == {0: b"hello"}
    if unroutable:
        assert session.opened[2] == (-1, errno.ENETUNREACH)


@pytest.mark.parametrize("reactor", ["select", "asyncio"])
def test_a_send_the_kernel_refuses_ends_the_exchange_at_once(
    udp_echo: tuple[str, int], reactor: str
) -> None:
    # More than a datagram holds: sendmsg fails (EMSGSIZE) on a socket that opened fine.  The
    # session ends on that error; the driver must see it done then, not at its 5 s deadline.
    from netladder.l4.banner import UdpExchange

    session = UdpExchange(*udp_echo, b"x" * 70_000, 5.0)
    started = time.monotonic()
    if reactor == "select":
        blocking(run([session]))
    else:
        asyncio.run(run([session]))
    took = time.monotonic() - started
    answer = session.result()
    assert (answer.error, answer.sent, answer.opened, answer.timed_out) == (
        errno.EMSGSIZE,
        False,
        True,
        False,
    )
    assert took < 1.0, took


class Hold(Session[Opened]):
    channels = (ChannelSpec("hold", 4, source="127.0.0.1"),)

    def __init__(self) -> None:
        self.opened: list[Opened] = []
        self.clash: int | None = None

    def bind(self, opened: Any) -> None:
        self.opened = list(opened)

    def poll(self, now: int) -> Step:
        port = self.opened[0].local[1]  # type: ignore[index]
        with socket.socket() as other:
            self.clash = other.connect_ex(("127.0.0.1", port)) or None
            try:
                other.bind(("127.0.0.1", port))
            except OSError as exc:
                self.clash = exc.errno
        return Step((), None, (), True)

    def result(self) -> Opened:
        return self.opened[0]


def test_a_hold_channel_reserves_its_source_port_for_the_run() -> None:
    session = Hold()
    blocking(run([session]))
    held = session.result()
    assert held.kind == "hold" and held.local is not None and held.local[0] == "127.0.0.1"
    assert session.clash == errno.EADDRINUSE
    with socket.socket() as again:
        again.bind(("127.0.0.1", held.local[1]))  # free once the run ended


def test_connects_and_channels_from_another_namespace(netns: str, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    here = Fetch("127.0.0.1", port)
    there = Fetch("127.0.0.1", port, netns=netns)
    thread = _serve(listener, b"ok")
    blocking(run([here, there]))
    thread.join(5)
    assert here.outcome is not None and here.outcome.error == 0
    # The namespace's loopback is down: no route to 127.0.0.1 from there.
    assert there.outcome is not None and there.outcome.error == errno.ENETUNREACH
    assert source_for("127.0.0.1") == "127.0.0.1"
    assert source_for("127.0.0.1", netns=netns) is None

    elsewhere = PerPort(("127.0.0.1", 9), None)
    elsewhere.queue = [
        OpenChannel(1, ChannelSpec("udp", 4, connect=("127.0.0.1", 9))),
        OpenChannel(2, ChannelSpec("udp", 4, connect=("127.0.0.1", 9), netns=netns)),
    ]
    elsewhere.expected = 2
    elsewhere.answers = {0: b"(not waited for)"}
    blocking(run([elsewhere]))
    assert isinstance(elsewhere.opened[1][1], Opened)
    assert elsewhere.opened[2] == (-1, errno.ENETUNREACH)


# -- ScanConnects -----------------------------------------------------------------------------


class Plan:
    """A ConnectPlan in miniature: every port once, a fixed window and timeout."""

    def __init__(self, ports: list[int], window: int = 2, timeout: float = 0.3) -> None:
        self.address = "127.0.0.1"
        self.ports = ports
        self.cursor = 0
        self.window_size = window
        self.timeout = round(timeout * 1e9)
        self.states: dict[int, str] = {}
        self.inflight_max = 0
        self.outstanding = 0

    def next(self, now_ns: int) -> int | None:
        if self.cursor >= len(self.ports):
            return None
        self.cursor += 1
        self.outstanding += 1
        self.inflight_max = max(self.inflight_max, self.outstanding)
        return self.cursor - 1

    def port(self, i: int) -> int:
        return self.ports[i]

    def window(self) -> int:
        return self.window_size

    def timeout_ns(self) -> int:
        return self.timeout

    def answered(
        self, i: int, error: int, sent_ns: int, at_ns: int, icmp: SockError | None
    ) -> None:
        self.outstanding -= 1
        assert at_ns >= sent_ns
        self.states[self.ports[i]] = "open" if error == 0 else errno.errorcode[error]

    def silent(self, i: int, sent_ns: int, now_ns: int) -> None:
        self.outstanding -= 1
        assert now_ns - sent_ns >= self.timeout
        self.states[self.ports[i]] = "silent"

    def done(self) -> bool:
        return len(self.states) == len(self.ports)

    def share(self, k: int, n: int) -> Plan:
        raise NotImplementedError

    def export(self) -> bytes:
        return b""

    def absorb(self, k: int, n: int, data: bytes) -> None:
        pass


class Scan(Session[dict[int, str]]):
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.handed = False

    def poll(self, now: int) -> Step:
        actions: list[Any] = []
        if not self.handed:
            self.handed = True
            actions.append(ScanConnects(self.plan))
        return Step(actions, None, (), self.plan.done())

    def result(self) -> dict[int, str]:
        return self.plan.states


def test_a_connect_scan_reports_open_refused_and_silent_ports(netns: str) -> None:
    # Inside a private namespace: a listener, a closed port, and a port whose SYNs nft drops.
    from netladder.net.sockets import netns_entered

    name = Path(netns).name
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    drop = (
        "table inet t {\n"
        " chain in {\n"
        "  type filter hook input priority 0;\n"
        "  tcp dport 9 drop\n"
        " }\n"
        "}\n"
    )
    subprocess.run(["ip", "netns", "exec", name, "nft", "-f", "-"], input=drop.encode(), check=True)
    with netns_entered(netns):
        server = socket.socket()
    with server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        open_port = server.getsockname()[1]
        plan = Plan([open_port, 1, 9, 2], window=2, timeout=0.3)
        started = time.monotonic()
        with netns_entered(netns):
            blocking(run([Scan(plan)]))
        elapsed = time.monotonic() - started
    assert plan.states == {open_port: "open", 1: "ECONNREFUSED", 2: "ECONNREFUSED", 9: "silent"}
    assert plan.inflight_max <= 2
    assert 0.3 <= elapsed < 10
